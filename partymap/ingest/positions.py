"""A batch's fixes as the store's :class:`~store.positions.PositionBatch` columns.

Built from the fast path's columns (:class:`~gnss.fixtable.FixTable`) with array operations:
absent values become None through object arrays, and the few distinct times, reasons and
sources of a batch are made once each, so no Python runs per fix but the datetimes' making
(the store's driver takes ``datetime`` objects for its timestamps).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from geo.columns import FixColumns
from geo.quality.batch import Mask, reason_names
from gnss.epoch.batch_assemble import split_timestamps
from gnss.fixtable import SYSTEMS, FixTable
from store.positions import SATS_COLUMNS, PositionBatch

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def position_batch(
    table: FixTable,
    cols: FixColumns,
    reasons: Mask,
    sources: npt.NDArray[np.object_],
    now_s: float,
) -> PositionBatch:
    """Every fix, accepted or rejected (with the names of the rules it failed); ``cols`` are
    the same fixes' columns, with stored device and member ids."""
    if not len(table):
        return PositionBatch()
    placed = cols.has_position
    # Arrival, else the batch's receipt: to the microsecond, as datetime.fromtimestamp has it.
    whole, micros = split_timestamps(np.where(np.isnan(table.received_s), now_s, table.received_s))
    masks, which = np.unique(reasons, return_inverse=True)
    names = np.array(
        [",".join(reason_names(int(m))) if m else None for m in masks.tolist()], dtype=object
    )
    batch = PositionBatch(
        device_id=cols.device.tolist(),
        member_id=_nullable(cols.member, cols.member < 0),
        received_at=_datetimes(whole * 1_000_000 + micros),
        fix_time=_datetimes(table.time_us),
        lat=_nullable(table.lat, ~placed),
        lon=_nullable(table.lon, ~placed),
        alt_m=_nullable(table.alt_m),
        mode=table.mode.tolist(),
        quality=table.quality.tolist(),
        hdop=_nullable(table.hdop),
        pdop=_nullable(table.pdop),
        sats_used=_nullable(table.sats_used, table.sats_used < 0),
        accuracy_m=_nullable(table.accuracy_m),
        speed_mps=_nullable(table.speed_mps),
        course_deg=_nullable(table.course_deg),
        source=sources.tolist(),
        rejections=names[which.ravel()].tolist(),
    )
    for k, system in enumerate(SYSTEMS):
        used = table.used[:, k]
        setattr(batch, SATS_COLUMNS[system], _nullable(used, used == 0))  # zero: not listed
    return batch


def _nullable(values: npt.NDArray[Any], absent: npt.NDArray[np.bool_] | None = None) -> list[Any]:
    """``values`` as a list, None where ``absent`` (default: where NaN)."""
    if absent is None:
        absent = np.isnan(values)
    if not absent.any():
        listed: list[Any] = values.tolist()
        return listed
    out = values.astype(object)
    out[absent] = None
    with_none: list[Any] = out.tolist()
    return with_none


def _datetimes(micros: npt.NDArray[np.int64]) -> list[datetime]:
    """UTC datetimes of microsecond timestamps, each distinct one made once."""
    distinct, which = np.unique(micros, return_inverse=True)
    made = [_EPOCH + timedelta(microseconds=us) for us in distinct.tolist()]
    return [made[k] for k in which.ravel().tolist()]
