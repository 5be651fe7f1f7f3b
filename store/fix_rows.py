"""The fast path's fixes written as positions: a :class:`~gnss.fixtable.FixTable` with each
fix's member, quality verdict and source, straight into the positions table.

The table's columns become the plain lists the driver sends (COPY on PostGIS, ``executemany``
on SpatiaLite) with array operations: absent values become None through object arrays, and the
few distinct times, reasons and sources of a batch are made once each, so no Python runs per
fix but the datetimes' making (the driver takes ``datetime`` objects for its timestamps). The
rows are those :class:`~store.positions.PositionBatch` gives for the same fixes as ``Fix``
objects (the reference path and the API's one-at-a-time writes).

>>> from datetime import datetime, UTC
>>> from gnss.model import Fix, FixMode, FixQuality
>>> fix = Fix(time=datetime(2026, 5, 1, 8, 0, tzinfo=UTC), lat=30.5, lon=114.3,
...           mode=FixMode.THREE_D, quality=FixQuality.GPS, hdop=9.0)
>>> fixes = FixTable.from_fixes([fix], np.array([7]))  # device 7
>>> columns = position_columns(fixes, member_ids=np.array([-1]), reasons=np.array([4]),
...                            sources=np.array(["tcp"], dtype=object), now_s=0.0)
>>> columns["device_id"], columns["member_id"], columns["rejections"], columns["sats_used"]
([7], [None], ['hdop_too_high'], [None])
>>> columns["received_at"] == [datetime(1970, 1, 1, tzinfo=UTC)]  # unknown: ``now_s``
True
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from geo.quality.batch import Mask, reason_names
from gnss.epoch.batch_assemble import split_timestamps
from gnss.fixtable import SYSTEMS, FixTable
from store.positions import POSITION_COLUMNS, SATS_COLUMNS, write_position_columns

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def write_fixes(
    session: Session,
    *,
    fixes: FixTable,
    member_ids: npt.NDArray[np.int64],
    reasons: Mask,
    sources: npt.NDArray[np.object_],
    now_s: float,
    refresh_latest: bool = True,
) -> int:
    """Store every fix, accepted or rejected, and refresh the members' latest positions (as
    :func:`~store.positions.write_positions`); returns the count.

    ``fixes.device`` holds the stored device ids; per fix, ``member_ids`` the member carrying
    the device (−1: nobody), ``reasons`` the quality rules it failed
    (:mod:`geo.quality.batch` bits, 0: accepted) and ``sources`` where it came from. A fix
    whose receipt is unknown (NaN) was received at ``now_s``.
    """
    columns = position_columns(
        fixes, member_ids=member_ids, reasons=reasons, sources=sources, now_s=now_s
    )
    return write_position_columns(session, columns=columns, refresh_latest=refresh_latest)


def position_columns(
    fixes: FixTable,
    *,
    member_ids: npt.NDArray[np.int64],
    reasons: Mask,
    sources: npt.NDArray[np.object_],
    now_s: float,
) -> dict[str, list[Any]]:
    """The positions table's columns (:data:`~store.positions.POSITION_COLUMNS`) for the fixes,
    as :func:`write_fixes` takes them."""
    if not len(fixes):
        return {name: [] for name in POSITION_COLUMNS}
    placed = fixes.has_position
    masks, which = np.unique(reasons, return_inverse=True)
    names = np.array(
        [",".join(reason_names(int(m))) if m else None for m in masks.tolist()], dtype=object
    )
    columns = {
        "device_id": fixes.device.tolist(),
        "member_id": _nullable(member_ids, member_ids < 0),
        "received_at": _datetimes(received_micros(fixes.received_s, now_s)),
        "fix_time": _datetimes(fixes.time_us),
        "lat": _nullable(fixes.lat, ~placed),
        "lon": _nullable(fixes.lon, ~placed),
        "alt_m": _nullable(fixes.alt_m),
        "mode": fixes.mode.tolist(),
        "quality": fixes.quality.tolist(),
        "hdop": _nullable(fixes.hdop),
        "pdop": _nullable(fixes.pdop),
        "sats_used": _nullable(fixes.sats_used, fixes.sats_used < 0),
        "accuracy_m": _nullable(fixes.accuracy_m),
        "speed_mps": _nullable(fixes.speed_mps),
        "course_deg": _nullable(fixes.course_deg),
        "source": sources.tolist(),
        "rejections": names[which.ravel()].tolist(),
    }
    for k, system in enumerate(SYSTEMS):
        used = fixes.used[:, k]
        columns[SATS_COLUMNS[system]] = _nullable(used, used == 0)  # zero: not listed
    return {name: columns[name] for name in POSITION_COLUMNS}


def received_micros(received_s: npt.NDArray[np.float64], now_s: float) -> npt.NDArray[np.int64]:
    """Each fix's receipt as UTC microseconds, ``now_s`` where unknown (NaN): to the
    microsecond, as ``datetime.fromtimestamp`` has it."""
    whole, micros = split_timestamps(np.where(np.isnan(received_s), now_s, received_s))
    stamped: npt.NDArray[np.int64] = whole * 1_000_000 + micros
    return stamped


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
