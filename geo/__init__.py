"""Geo engine: sites, quality rules, membership and presence — who was where, and when.

Pure code: no database, no HTTP, no clock (time is always passed in). Imports only :mod:`gnss`.

The batch path — what the ingestion pipeline runs, one micro-batch at a time::

    from geo.columns import FixColumns
    from geo.sites.membership import SiteIndex
    from geo.presence.batch import PresenceTracker
    from geo.quality.batch import DeviceTable, check_quality_batch, reason_names
    from geo.quality.replay_guard import ReplayGuard
    from geo.sites.load import load_sites

    index = SiteIndex.build(load_sites("sites.gpkg").sites)    # once per version of the site set
    tracker = PresenceTracker(index, members=member_ids)        # state of every visit under way
    devices, guard = DeviceTable.empty(), ReplayGuard()

    # per batch (fixes of many devices, each device's in order; now_s = receipt clock):
    cols = FixColumns.from_fixes(fixes, devices=device_codes, members=member_ids_of_fixes)
    received = np.where(np.isnan(cols.received_s), now_s, cols.received_s)
    replayed = guard.check(cols.raw_hash, cols.device, received)
    devices = devices.with_devices(cols.device, thresholds)     # new devices' thresholds
    reasons, devices = check_quality_batch(cols, devices, now_s, replayed)   # uint16 masks
    found = index.memberships(cols.lat, cols.lon, cols.accuracy_m, usable=reasons == 0)
    events = tracker.step(cols, reasons, found)                 # PresenceEvents (columns)
    store(cols, [reason_names(m) for m in reasons], events.to_events())

    # now and then: tracker.expire(now_s); on a new site set: tracker.use_index(new_index)

The per-fix reference path (:func:`geo.quality.rules.check_quality`,
:meth:`geo.sites.membership.SiteIndex.memberships_of`,
:class:`geo.presence.reference.ReferenceTracker`) defines the semantics; tests prove that both paths
give the same rejections, memberships and events. Meetings:
:func:`geo.meetings.roll_call.attendance` over :func:`geo.meetings.roll_call.visits_from_events`.
"""
