"""Presence events as columns: :class:`PresenceEvents`.

The compiled loop writes a batch's events as :data:`~geo.presence.kernel.EVENT` records
(:func:`events_from_rows`); visits ended outside a batch go through an :class:`EventLog`.
Either way the events are columns, turned into :class:`~geo.model.CheckIn` and
:class:`~geo.model.VisitEnded` values on demand (the evidence is built by
:meth:`geo.presence.state.PairState.evidence`, as on the reference path).

>>> log = EventLog()
>>> pairs = PairColumns.empty(1)
>>> pairs.key[:], pairs.since[:] = 3 << 32, 0.0  # member row 3, site 0
>>> log.ended(pairs, end=np.array([60.0]), checked_in=False)
>>> events = log.build(member_of_row=np.array([0, 0, 0, 42]), site_ids=np.array([9]))
>>> [(e.member_id, e.site_id, e.end.timestamp()) for e in events.to_events()]
[(42, 9, 60.0)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from geo.model import CheckIn, VisitEnded
from geo.presence.columns import SITE_BITS, SITE_MASK, PairColumns
from geo.presence.kernel import CHECKIN, ENDED
from geo.presence.state import PresenceEvent, utc

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Records = npt.NDArray[np.void]


@dataclass(frozen=True, slots=True, eq=False)
class PresenceEvents:
    """Events as columns. A batch's come in the reference path's order (by epoch in arrival
    order, then site); those of :meth:`~geo.presence.batch.PresenceTracker.expire` and
    ``use_index`` by member, then site."""

    kind: npt.NDArray[np.int8]  # ENDED or CHECKIN
    member_id: IntArray
    site_id: IntArray
    end: FloatArray  # visit end (NaN for a check-in)
    checked_in: BoolArray
    pairs: PairColumns  # the pair as it stood: since = visit start / check-in time, evidence

    def __len__(self) -> int:
        return len(self.kind)

    def to_events(self) -> list[PresenceEvent]:
        out: list[PresenceEvent] = []
        for i in range(len(self)):
            member, site = int(self.member_id[i]), int(self.site_id[i])
            since = float(self.pairs.since[i])
            if self.kind[i] == CHECKIN:
                out.append(CheckIn(member, site, utc(since), self.pairs.pair_state(i).evidence()))
            else:
                end = utc(float(self.end[i]))
                out.append(VisitEnded(member, site, utc(since), end, bool(self.checked_in[i])))
        return out


def _events(
    pairs: PairColumns,
    *,
    kind: npt.NDArray[np.int8],
    end: FloatArray,
    checked_in: BoolArray,
    member_of_row: IntArray,
    site_ids: IntArray,
) -> PresenceEvents:
    return PresenceEvents(
        kind,
        member_of_row[pairs.key >> SITE_BITS],
        site_ids[pairs.key & SITE_MASK],
        end,
        checked_in,
        pairs,
    )


def events_from_rows(
    events: Records, member_of_row: IntArray, site_ids: IntArray
) -> PresenceEvents:
    """The :data:`~geo.presence.kernel.EVENT` rows of a batch as :class:`PresenceEvents`."""
    return _events(
        PairColumns(events["pair"].copy()),
        kind=events["kind"].copy(),
        end=events["end"].copy(),
        checked_in=events["checked_in"].copy(),
        member_of_row=member_of_row,
        site_ids=site_ids,
    )


class EventLog:
    """Visits ended outside a batch (silence, a site removed): pair snapshots and their ends."""

    def __init__(self) -> None:
        self.parts: list[tuple[PairColumns, FloatArray, bool]] = []

    def ended(self, pairs: PairColumns, *, end: FloatArray, checked_in: bool) -> None:
        if len(pairs):
            self.parts.append((pairs, end, checked_in))

    def build(self, member_of_row: IntArray, site_ids: IntArray) -> PresenceEvents:
        """The events by pair (member row, then site)."""
        pairs = PairColumns.concat([p[0] for p in self.parts] or [PairColumns.empty()])
        end = np.concatenate([p[1] for p in self.parts] or [np.zeros(0)])
        checked_in = np.concatenate(
            [np.full(len(p[0]), p[2]) for p in self.parts] or [np.zeros(0, bool)]
        )
        order = np.argsort(pairs.key, kind="stable")
        return _events(
            pairs.take(order),
            kind=np.full(len(pairs), ENDED, np.int8),
            end=end[order],
            checked_in=checked_in[order],
            member_of_row=member_of_row,
            site_ids=site_ids,
        )
