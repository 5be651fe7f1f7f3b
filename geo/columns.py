"""A micro-batch of fixes as columns: what the batch stages of the pipeline pass along.

Devices and members are integer codes the caller assigns. Missing values are NaN (floats) or
−1 (counts), never empty strings. ``sats_by_system`` has one column per
:class:`~gnss.model.Constellation`, in :data:`CONSTELLATIONS` order.

The pipeline builds them from the fast path's :class:`~gnss.fixtable.FixTable` with array
operations only (:meth:`FixColumns.from_table`); :meth:`FixColumns.from_fixes` takes ``Fix``
objects (the reference path, tests) and gives the same columns.

>>> from datetime import datetime, UTC
>>> from gnss.model import Fix, FixMode, FixQuality, Constellation
>>> fix = Fix(time=datetime(2026, 5, 1, 8, 0, tzinfo=UTC), lat=30.5, lon=114.3,
...           mode=FixMode.THREE_D, quality=FixQuality.GPS, sats_used=9,
...           sats_used_by_system={Constellation.BEIDOU: 6, Constellation.GPS: 3})
>>> cols = FixColumns.from_fixes([fix], devices=[3], members=[42])
>>> cols.lat.tolist(), cols.sats_used.tolist(), cols.beidou_used.tolist()
([30.5], [9], [6])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gnss.fixtable import SYSTEMS, FixTable, raw_hash
from gnss.model import Constellation, Fix

CONSTELLATIONS = SYSTEMS
BEIDOU_COLUMN = CONSTELLATIONS.index(Constellation.BEIDOU)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _nan(value: float | None) -> float:
    return np.nan if value is None else float(value)


def position_hash(raw: str | None) -> int:
    """A 64-bit key of a raw position sentence for the replay rule; 0 when there is none
    (:func:`gnss.fixtable.raw_hash`: the fast path hashes the sentences' bytes alike)."""
    return raw_hash(raw)


@dataclass(frozen=True, slots=True, eq=False)
class FixColumns:
    device: IntArray
    member: IntArray
    time_s: FloatArray  # UTC seconds since the epoch
    received_s: FloatArray  # NaN: not known (the batch's ``now`` stands in)
    lat: FloatArray  # NaN: no position
    lon: FloatArray
    has_position: npt.NDArray[np.bool_]
    quality: npt.NDArray[np.int8]
    sats_used: npt.NDArray[np.int16]  # −1: unknown
    hdop: FloatArray
    accuracy_m: FloatArray
    sats_by_system: npt.NDArray[np.int16]  # (n, len(CONSTELLATIONS))
    raw_hash: IntArray  # position_hash of the raw position sentence

    def __len__(self) -> int:
        return len(self.time_s)

    @property
    def beidou_used(self) -> npt.NDArray[np.int16]:
        return self.sats_by_system[:, BEIDOU_COLUMN]

    @classmethod
    def from_table(cls, table: FixTable, *, devices: IntArray, members: IntArray) -> FixColumns:
        """The fast path's fixes (``devices`` and ``members``: a code per fix)."""
        has = table.has_position
        return cls(
            device=np.asarray(devices, dtype=np.int64),
            member=np.asarray(members, dtype=np.int64),
            time_s=table.time_us / 1e6,
            received_s=table.received_s,
            lat=np.where(has, table.lat, np.nan),
            lon=np.where(has, table.lon, np.nan),
            has_position=has,
            quality=table.quality.astype(np.int8),
            sats_used=table.sats_used.astype(np.int16),
            hdop=table.hdop,
            accuracy_m=table.accuracy_m,
            sats_by_system=table.used.astype(np.int16),
            raw_hash=np.where(has, table.raw_hash, 0),
        )

    @classmethod
    def from_fixes(
        cls, fixes: Sequence[Fix], *, devices: Sequence[int], members: Sequence[int]
    ) -> FixColumns:
        has = [f.has_position for f in fixes]
        return cls(
            device=np.array(devices, dtype=np.int64),
            member=np.array(members, dtype=np.int64),
            time_s=np.array([f.time.timestamp() for f in fixes], dtype=np.float64),
            received_s=np.array(
                [f.received_at.timestamp() if f.received_at else np.nan for f in fixes],
                dtype=np.float64,
            ),
            lat=np.array([_nan(f.lat) if h else np.nan for f, h in zip(fixes, has, strict=True)]),
            lon=np.array([_nan(f.lon) if h else np.nan for f, h in zip(fixes, has, strict=True)]),
            has_position=np.array(has, dtype=np.bool_),
            quality=np.array([int(f.quality) for f in fixes], dtype=np.int8),
            sats_used=np.array(
                [-1 if f.sats_used is None else f.sats_used for f in fixes], dtype=np.int16
            ),
            hdop=np.array([_nan(f.hdop) for f in fixes], dtype=np.float64),
            accuracy_m=np.array([_nan(f.accuracy_m) for f in fixes], dtype=np.float64),
            sats_by_system=np.array(
                [[f.sats_used_by_system.get(c, 0) for c in CONSTELLATIONS] for f in fixes],
                dtype=np.int16,
            ).reshape(len(fixes), len(CONSTELLATIONS)),
            raw_hash=np.array(
                [position_hash(f.raw_position) if f.has_position else 0 for f in fixes],
                dtype=np.int64,
            ),
        )
