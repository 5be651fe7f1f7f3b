"""What flows between the pipeline's stages: the intake a batch starts from, the fixes the
stages pass on, and the :class:`StoreBatch` the writer commits.

>>> from gnss.model import RawChunk
>>> intake = Intake([Arrival([RawChunk("a", b"$1\\n$2\\n", 0.0), RawChunk("b", b"$3\\n", 0.0)],
...                          "tcp")], now_s=0.0)
>>> {device: lines_in(part.arrivals[0].chunks) for device, part in by_device(intake).items()}
{'a': 2, 'b': 1}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from geo.model import CheckIn, VisitEnded
from geo.quality.batch import Mask
from gnss.fixtable import FixTable
from gnss.model import RawChunk
from partymap.ingest.handover import Handed, Receipt
from partymap.ingest.presence_state import PresenceChanges

Event = CheckIn | VisitEnded
# "wall": visits of silent members end by the clock; "stream": by the newest fix time seen
# (a log replayed faster than it was recorded).
Clock = Literal["wall", "stream"]


@dataclass(frozen=True, slots=True)
class Arrival:
    """Chunks as one source delivered them, in order. ``timed``: their ``received_at`` is when
    their lines arrived (false for a log replayed as fast as it can be read). (Chunks come in
    tens of thousands a second: one such record per source's delivery, not per chunk.)"""

    chunks: list[RawChunk]
    source: str  # stored with the positions: "tcp", "mqtt", "http", "serial", "gpsd", "replay"
    timed: bool = True


@dataclass(slots=True)
class Intake:
    """One micro-batch: chunks in arrival order (each device's), and the devices whose streams
    ended."""

    arrivals: list[Arrival]
    now_s: float  # wall clock, UTC seconds
    ended: list[str] = field(default_factory=list)
    # The daemon is stopping: close every open epoch, but those of logs being replayed (they
    # resume from the start of their open epoch).
    final: bool = False
    # Fixes decoded by their sources (JT/T 808 terminals, phones), in submission order.
    handed: list[Handed] = field(default_factory=list)
    # Receipts of uploads (HTTP bodies) this intake ends, by device: each device is in ``ended``
    # and the receipts resolve (with 0) once the batch is committed.
    posted: list[tuple[str, Receipt]] = field(default_factory=list)


@dataclass(slots=True)
class Fixes:
    """The batch's fixes (each device's in order) as the fast path made them, the table's
    ``device`` column holding their stored device ids, with each fix's member (−1: a device
    nobody carries) and source: the one form they take from decoding to the store."""

    table: FixTable
    members: npt.NDArray[np.int64]
    sources: npt.NDArray[np.object_]

    def __len__(self) -> int:
        return len(self.table)

    @staticmethod
    def concat(a: Fixes, b: Fixes) -> Fixes:
        """Two batches of fixes, one after the other."""
        return Fixes(
            FixTable.concat([a.table, b.table]),
            np.concatenate([a.members, b.members]),
            np.concatenate([a.sources, b.sources]),
        )


@dataclass(frozen=True, slots=True)
class Carried:
    """The fixes of devices somebody carries, their members and their quality verdicts."""

    fixes: FixTable
    members: npt.NDArray[np.int64]
    reasons: Mask

    @classmethod
    def of(cls, fixes: Fixes, reasons: Mask) -> Carried:
        carried = fixes.members >= 0
        if carried.all():  # the usual batch: the same arrays, nothing copied
            return cls(fixes.table, fixes.members, reasons)
        rows = np.flatnonzero(carried)
        return cls(fixes.table.take(rows), fixes.members[rows], reasons[rows])

    @property
    def where(self) -> tuple[npt.NDArray[np.float64], ...]:
        """(lat, lon, accuracy_m): what membership looks at (an epoch without a position may
        keep coordinates in the table; membership takes only accepted fixes, which have one)."""
        return self.fixes.lat, self.fixes.lon, self.fixes.accuracy_m


@dataclass(slots=True, eq=False)
class StoreBatch:
    """What one micro-batch leaves to the store, in one transaction, and then to the live feed."""

    positions: Fixes  # every fix of the batch, accepted or not, is stored as a position
    reasons: Mask  # the quality rules each failed (0: accepted)
    now_s: float  # the batch's clock: the receipt of fixes their source did not time
    events: list[Event]
    presence: PresenceChanges
    offsets: dict[str, int]
    live: list[dict[str, Any]]
    arrived_s: float  # arrival of the batch's oldest chunk (NaN: none)
    # Handed-over submissions and their fixes kept: resolved once the batch is committed.
    receipts: list[tuple[Receipt, int]] = field(default_factory=list)

    @property
    def fixes(self) -> int:
        return len(self.positions)


def lines_in(chunks: Iterable[RawChunk]) -> int:
    """Lines the chunks hold (a chunk holds complete lines)."""
    return sum(chunk.data.count(b"\n") for chunk in chunks)


def by_device(intake: Intake) -> dict[str, Intake]:
    """The intake cut into one intake per device (each keeps its chunks' order and sources)."""
    parts: dict[str, Intake] = {}
    for arrival in intake.arrivals:
        for chunk in arrival.chunks:
            part = parts.setdefault(chunk.device_id, Intake([], intake.now_s, final=intake.final))
            if not part.arrivals or part.arrivals[-1].source != arrival.source:
                part.arrivals.append(Arrival([], arrival.source, arrival.timed))
            part.arrivals[-1].chunks.append(chunk)
    for device_id in intake.ended:
        parts.setdefault(device_id, Intake([], intake.now_s, final=intake.final))
        parts[device_id].ended.append(device_id)
    for device_id, receipt in intake.posted:
        parts[device_id].posted.append((device_id, receipt))
    for submission in intake.handed:
        for device_id, own in submission.by_device().items():
            part = parts.setdefault(device_id, Intake([], intake.now_s, final=intake.final))
            part.handed.append(own)
    return parts
