"""Geo engine: sites, quality rules, membership and presence — who was where, and when.

Pure code: no database, no HTTP, no clock (time is always passed in). Imports only :mod:`gnss`.

The batch path — what the ingestion pipeline runs, one micro-batch at a time::

    from gnss.fixtable import FixTable
    from geo.sites.membership import SiteIndex
    from geo.presence.batch import PresenceTracker
    from geo.quality.batch import DeviceTable, check_quality_batch, position_hashes
    from geo.quality.replay_guard import ReplayGuard
    from geo.sites.load import load_sites

    index = SiteIndex.build(load_sites("sites.gpkg").sites)    # once per version of the site set
    tracker = PresenceTracker(index, members=member_ids)        # state of every visit under way
    devices, guard = DeviceTable.empty(), ReplayGuard()

    # per batch: a FixTable of many devices' fixes (each device's in order) as the decoder makes
    # it, or made of Fix objects; a device code and a member id per fix; now_s = receipt clock
    fixes = FixTable.from_fixes(fix_objects, device_codes)
    received = np.where(np.isnan(fixes.received_s), now_s, fixes.received_s)
    replayed = guard.check(position_hashes(fixes), fixes.device, received)
    devices = devices.with_devices(fixes.device, thresholds)     # new devices' thresholds
    reasons, devices = check_quality_batch(fixes, devices, now_s, replayed)   # uint16 masks
    found = index.memberships(fixes.lat, fixes.lon, fixes.accuracy_m, usable=reasons == 0)
    events = tracker.step(fixes, member_ids_of_fixes, reasons, found)  # PresenceEvents (columns)
    store(fixes, member_ids_of_fixes, reasons, events.to_events())

    # now and then: tracker.expire(now_s); on a new site set: tracker.use_index(new_index)

The per-fix reference path (:func:`geo.quality.rules.check_quality`,
:meth:`geo.sites.membership.SiteIndex.memberships_of`,
:class:`geo.presence.reference.ReferenceTracker`) defines the semantics; tests prove that both paths
give the same rejections, memberships and events. Meetings:
:func:`geo.meetings.roll_call.attendance` over :func:`geo.meetings.roll_call.visits_from_events`.
"""
