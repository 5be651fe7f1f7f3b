"""Presence over a batch, as columns: the path the ingestion pipeline runs.

The same semantics as :class:`geo.presence.reference.ReferenceTracker` (tests prove the events
equal). Members are dense rows (:class:`~geo.presence.members.MemberRows`); the state of every
(member, site) pair that is not OUTSIDE is a record in a pool, linked from its member's row
(:class:`~geo.presence.pairs.PairTable`): about 30 bytes a member and 80 a pair under way. A batch
is one pass in arrival order of the compiled loop :func:`geo.presence.kernel.step_epochs`, which
steps only the pairs an epoch gives evidence about: the sites its memberships list and the member's
pairs already under way. Visits ending because a site left the set, or because the member fell
silent, are column operations here.

>>> from shapely import Point
>>> from geo.sites.membership import SiteIndex
>>> from geo.model import Site
>>> index = SiteIndex.build([Site(id=9, org_id=1, name="room", geometry=Point(114.3, 30.5),
...                               radius_m=30)])
>>> from dataclasses import replace
>>> from gnss.fixtable import FixTable
>>> tracker = PresenceTracker(index)
>>> n = 3
>>> fixes = replace(FixTable.blank(n), time_us=np.array([0, 60, 120]) * 10**6,
...     lat=np.full(n, 30.5), lon=np.full(n, 114.3), mode=np.full(n, 3, np.int8),
...     quality=np.ones(n, np.int8), sats_used=np.full(n, 8, np.int16), hdop=np.full(n, 0.9),
...     accuracy_m=np.full(n, 3.0))
>>> members, reasons = np.full(n, 1), np.zeros(n, np.uint16)
>>> found = index.memberships(fixes.lat, fixes.lon, fixes.accuracy_m)
>>> events = tracker.step(fixes, members, reasons, found)
>>> [(type(e).__name__, e.time.timestamp()) for e in events.to_events()]
[('CheckIn', 0.0)]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from geo.presence.columns import ARR, LEA, PRE, SITE_BITS, SITE_MASK, PairColumns, pair_key
from geo.presence.events import EventLog, PresenceEvents, events_from_rows
from geo.presence.kernel import (
    DONE,
    EVENT,
    MORE_EVENTS,
    MORE_PAIRS,
    SITE,
    Epochs,
    more_room,
    step_epochs,
)
from geo.presence.members import MemberRows
from geo.presence.pairs import PairTable
from geo.presence.state import PairState
from geo.quality.batch import Mask
from geo.sites.membership import Memberships, SiteIndex
from gnss.fixtable import FixTable

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def _column(values: npt.ArrayLike, dtype: type[np.generic]) -> npt.NDArray[Any]:
    """``values`` as a contiguous array of ``dtype`` (no copy when it already is one): the
    compiled loop is specialised on dtypes and layouts, so it always gets the same ones."""
    return np.ascontiguousarray(values, dtype=dtype)


class PresenceTracker:
    """The state of every (member, site) pair not OUTSIDE, stepped a batch at a time."""

    def __init__(self, index: SiteIndex, *, members: IntArray | None = None) -> None:
        """``members``: ids known in advance (the store's), registered at once; others are
        registered when they first appear."""
        self._set_index(index)
        self.members = MemberRows()
        self.pairs = PairTable()
        if members is not None:
            self._rows(np.asarray(members, dtype=np.int64))

    def _set_index(self, index: SiteIndex) -> None:
        self.index = index
        sites = np.empty(len(index.sites), SITE)  # column by column: 10,000 sites in ms
        sites["min_sats"] = [s.quality.min_sats for s in index.sites]
        sites["max_hdop"] = [s.quality.max_hdop for s in index.sites]
        sites["dwell_s"] = [s.params.dwell_s for s in index.sites]
        sites["exit_after_s"] = [s.params.exit_after_s for s in index.sites]
        sites["max_gap_s"] = [s.params.max_gap_s for s in index.sites]
        self._sites = sites

    def use_index(self, index: SiteIndex) -> PresenceEvents:
        """Move to a new version of the site set; pairs keep their state by site id.

        Visits under way at sites that are gone end: at the member's last epoch, or for a
        LEAVING pair at its first outside fix. New parameters apply from the next batch.
        """
        slots = self.pairs.active()
        table = self.pairs.cols.take(slots)
        row = table.key >> SITE_BITS
        last_seen = self.pairs.last_seen
        site_id = self.index.site_ids[table.key & SITE_MASK]
        order = np.argsort(index.site_ids)
        at = np.minimum(np.searchsorted(index.site_ids[order], site_id), len(order) - 1)
        kept = (index.site_ids[order][at] == site_id) if len(order) else np.zeros(len(row), bool)
        log = EventLog()
        for state, checked_in in ((ARR, False), (PRE, True)):
            end = ~kept & (table.state == state)
            log.ended(table.take(end), end=last_seen[row[end]], checked_in=checked_in)
        leaving = ~kept & (table.state == LEA)
        log.ended(table.take(leaving), end=table.leaving[leaving], checked_in=True)
        events = log.build(self.members.member_of_row, self.index.site_ids)
        self.pairs.release(slots[~kept])
        self.pairs.cols.key[slots[kept]] = pair_key(row[kept], order[at[kept]])
        self.pairs.relink()  # site positions changed: each member's pairs back in site order
        self._set_index(index)
        return events

    # -- members ------------------------------------------------------------------------------

    def _rows(self, members: IntArray) -> IntArray:
        rows = self.members.rows(members)
        self.pairs.ensure_rows(len(self.members))
        return rows

    def memory_bytes(self) -> int:
        """Bytes held by the state: member rows, the pair pool and the member registry."""
        return self.pairs.nbytes() + self.members.nbytes()

    def export_pairs(self) -> tuple[IntArray, IntArray, PairColumns]:
        """Every pair not OUTSIDE as (member ids, site ids, records), in no particular order:
        the state a caller saves (STYLE rule 8) and gives back to :meth:`restore_pairs`.

        The records' ``key`` field is the tracker's own (member row, site position), which a
        new site set renumbers: compare saved records by their other fields.
        """
        pairs = self.pairs.cols.take(self.pairs.active())
        members = self.members.member_of_row[pairs.key >> SITE_BITS]
        sites = self.index.site_ids[pairs.key & SITE_MASK]
        return members, sites, pairs

    def restore_pairs(
        self,
        member_ids: IntArray,
        site_ids: IntArray,
        pairs: PairColumns,
        last_seen: Mapping[int, float],
    ) -> None:
        """Put saved pairs back into a tracker that holds none of them (a new one).

        ``pairs`` carries each pair's state and evidence (its ``key`` is ignored and set here);
        every site must be in the index. ``last_seen``: each member's last epoch time (UTC
        seconds; a member without one is taken as never seen).
        """
        member_ids = np.asarray(member_ids, dtype=np.int64)
        positions = [self.index.position(int(site)) for site in np.asarray(site_ids).tolist()]
        rows = self._rows(member_ids)
        keyed = pairs.take(np.arange(len(pairs)))
        keyed.key[:] = pair_key(rows, np.array(positions, dtype=np.int64))
        seen = [last_seen.get(m, -np.inf) for m in member_ids.tolist()]
        self.pairs.last_seen[rows] = seen
        entries = self.pairs.insert(keyed.key.copy())  # may grow the pool: a new ``cols``
        self.pairs.cols.put(entries, keyed)

    def states(self) -> dict[tuple[int, int], PairState]:
        """(member id, site id) → state, for every pair not OUTSIDE (for inspection and tests)."""
        pairs = self.pairs.cols.take(self.pairs.active())
        members = self.members.member_of_row[pairs.key >> SITE_BITS]
        sites = self.index.site_ids[pairs.key & SITE_MASK]
        return {
            (int(m), int(s)): pairs.pair_state(i)
            for i, (m, s) in enumerate(zip(members, sites, strict=True))
        }

    # -- stepping -----------------------------------------------------------------------------

    def step(
        self, fixes: FixTable, members: IntArray, reasons: Mask, memberships: Memberships
    ) -> PresenceEvents:
        """Apply a batch (arrival order) with its quality verdicts and memberships;
        ``members``: whose each fix is (member ids).

        ``memberships`` may list any fixes (sorted by fix, as :meth:`SiteIndex.memberships`
        gives them); only those of accepted fixes count.
        """
        ep = Epochs(
            row=self._rows(np.asarray(members, dtype=np.int64)),
            reasons=_column(reasons, np.uint16),
            has_position=_column(fixes.has_position, np.bool_),
            # Presence keeps UTC seconds (its state, events and what is saved of it), each
            # the float ``datetime.timestamp()`` gives, as the reference's.
            time_s=_column(fixes.time_us / 1e6, np.float64),
            quality=_column(fixes.quality, np.int8),
            sats_used=_column(fixes.sats_used, np.int16),
            hdop=_column(fixes.hdop, np.float64),
            accuracy_m=_column(fixes.accuracy_m, np.float64),
            sats_by_system=_column(fixes.used, np.int16),
            m_fix=_column(memberships.fix, np.int64),
            m_site=_column(memberships.site, np.int64),
            m_inside=_column(memberships.inside, np.bool_),
        )
        events = np.empty(len(fixes) // 16 + 64, EVENT)
        status, at, m_at, used = MORE_EVENTS, 0, 0, 0
        while status != DONE:  # the loop stops early only when it needs more room
            status, at, m_at, used = step_epochs(
                ep, self._sites, self.pairs.pool(), events, (at, m_at, used)
            )
            if status == MORE_EVENTS:
                events = more_room(events, used)
            elif status == MORE_PAIRS:
                self.pairs.grow()
        return events_from_rows(events[:used], self.members.member_of_row, self.index.site_ids)

    def expire(self, now_s: float, quiet_s: FloatArray | None = None) -> PresenceEvents:
        """End the visits of members silent for longer than their sites' ``max_gap``.

        ``quiet_s``, per member row (:attr:`members`): how long its device has sent nothing,
        on the receipt timeline; when given, it is the silence (fix times may lag the clock by
        hours while a device drains a backlog), and ends are still dated in fix time."""
        slots = self.pairs.active()
        table = self.pairs.cols.take(slots)
        row = table.key >> SITE_BITS
        site = table.key & SITE_MASK
        silent_since = self.pairs.last_seen[row]
        quiet = now_s - silent_since if quiet_s is None else quiet_s[row]
        silent = quiet > self._sites["max_gap_s"][site]
        log = EventLog()
        arriving = silent & (table.state == ARR)
        leaving = silent & (table.state == LEA)
        log.ended(table.take(arriving), end=silent_since[arriving], checked_in=False)
        log.ended(table.take(leaving), end=table.leaving[leaving], checked_in=True)
        self.pairs.release(slots[arriving | leaving])
        return log.build(self.members.member_of_row, self.index.site_ids)
