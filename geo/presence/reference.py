"""The per-fix reference for presence: quality verdict and membership per fix, step per pair.

This is how the system is meant to behave, written to be read; the pipeline runs
:class:`geo.presence.batch.PresenceTracker`, which tests prove gives the same events.

For each epoch of a member (in the member's arrival order):

1. an epoch whose time cannot be trusted (stale, duplicate, future) is ignored; one older than
   the member's previous epoch is *late* and ignored too — late fixes are stored by the caller
   but never move presence backwards;
2. an accepted fix gets evidence from :meth:`SiteIndex.memberships_of`: INSIDE or BETWEEN for
   the sites listed, OUTSIDE for every other site where the member's state is not OUTSIDE; an
   epoch without usable position is ALIVE evidence for those sites;
3. a fix below a site's own thresholds is only ALIVE evidence for that site;
4. :func:`geo.presence.state.step` runs for each of those pairs, in site order.

>>> from datetime import datetime, UTC
>>> from shapely import Point
>>> from geo.sites.membership import SiteIndex
>>> from geo.model import Site
>>> from gnss.model import Fix, FixMode, FixQuality
>>> tracker = ReferenceTracker(SiteIndex.build([Site(id=9, org_id=1, name="room",
...                                                  geometry=Point(114.3, 30.5), radius_m=30)]))
>>> def fix(minute):
...     return Fix(time=datetime(2026, 5, 1, 8, minute, tzinfo=UTC), lat=30.5, lon=114.3,
...                mode=FixMode.THREE_D, quality=FixQuality.GPS, sats_used=8, hdop=0.9,
...                accuracy_m=3.0)
>>> tracker.observe(1, fix(0), ())
[]
>>> [(type(e).__name__, e.time.minute) for e in tracker.observe(1, fix(2), ())]
[('CheckIn', 0)]
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from geo.presence.state import (
    OUTSIDE,
    Ev,
    FixSummary,
    Observation,
    PairState,
    PresenceEvent,
    expire,
    step,
)
from geo.quality.rules import counts_as_liveness, meets_site_thresholds
from geo.sites.membership import SiteIndex
from gnss.fixtable import SYSTEMS
from gnss.model import Fix


def summarise(fix: Fix) -> FixSummary:
    return FixSummary(
        quality=int(fix.quality),
        hdop=math.nan if fix.hdop is None else fix.hdop,
        accuracy_m=math.nan if fix.accuracy_m is None else fix.accuracy_m,
        sats=tuple(fix.sats_used_by_system.get(c, 0) for c in SYSTEMS),
    )


class ReferenceTracker:
    """Presence of every member at every site, one epoch at a time."""

    def __init__(self, index: SiteIndex) -> None:
        self.index = index
        self.pairs: dict[int, dict[int, PairState]] = {}  # member → site position → state
        self.last_seen: dict[int, float] = {}  # member → time of the last epoch taken

    def observe(self, member: int, fix: Fix, reasons: tuple[str, ...]) -> list[PresenceEvent]:
        """One epoch of ``member`` with its quality verdict; the events it causes."""
        if not counts_as_liveness(reasons):
            return []
        t = fix.time.timestamp()
        previous = self.last_seen.get(member, -math.inf)
        if t < previous:
            return []
        self.last_seen[member] = t
        usable = not reasons and fix.has_position
        evidence: dict[int, Ev] = {}
        if usable:
            assert fix.lat is not None and fix.lon is not None
            for m in self.index.memberships_of(fix.lat, fix.lon, fix.accuracy_m):
                evidence[m.site] = Ev.INSIDE if m.inside else Ev.BETWEEN
        states = self.pairs.setdefault(member, {})
        for site in states:
            evidence.setdefault(site, Ev.OUTSIDE if usable else Ev.ALIVE)
        summary = summarise(fix)
        events: list[PresenceEvent] = []
        for site in sorted(evidence):
            ev = evidence[site]
            target = self.index.sites[site]
            if ev is not Ev.ALIVE and not meets_site_thresholds(
                fix.sats_used, fix.hdop, target.quality, fix.accuracy_m
            ):
                ev = Ev.ALIVE
            obs = Observation(t, previous, ev, summary if ev is Ev.INSIDE else None)
            ids = {"member_id": member, "site_id": target.id}
            new, caused = step(states.get(site, PairState()), obs, target.params, **ids)
            self._put(states, site, new)
            events.extend(caused)
        return events

    def expire(
        self, now_s: float, quiet_s: Mapping[int, float] | None = None
    ) -> list[PresenceEvent]:
        """End the visits of members silent for longer than their sites' ``max_gap``
        (``quiet_s``: per member, how long its device has sent nothing, if known)."""
        events: list[PresenceEvent] = []
        for member in sorted(self.pairs):
            states = self.pairs[member]
            quiet = None if quiet_s is None else quiet_s.get(member, math.inf)
            for site in sorted(states):
                target, since = self.index.sites[site], self.last_seen[member]
                ids = {"member_id": member, "site_id": target.id}
                new, caused = expire(
                    states[site], since, now_s, target.params, **ids, quiet_s=quiet
                )
                self._put(states, site, new)
                events.extend(caused)
        return events

    @staticmethod
    def _put(states: dict[int, PairState], site: int, new: PairState) -> None:
        if new.state is OUTSIDE:
            states.pop(site, None)
        else:
            states[site] = new
