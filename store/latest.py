"""Where everyone is now: each member's newest accepted fix, for the map and the API.

Two shapes of the same rows: :func:`latest_positions` gives :class:`LatestFix` tuples for
pages and small subtrees; :func:`latest_position_columns` gives numpy columns for the whole
tree (140,000 members), packed by PostgreSQL into one binary value so that no Python object is
made per member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, LargeBinary, func, literal_column, select
from sqlalchemy.orm import Session

from store.models import LatestPosition
from store.orgs import org_scope
from store.query import BBox, page, point_in_bbox
from store.rawsql import raw_rows


class LatestFix(NamedTuple):
    """A member's newest accepted fix with a position."""

    member_id: int
    org_id: int
    device_id: int
    fix_time: datetime
    received_at: datetime
    lat: float
    lon: float
    alt_m: float | None
    mode: int
    quality: int
    hdop: float | None
    sats_used: int | None
    sats_beidou: int | None
    accuracy_m: float | None
    speed_mps: float | None
    course_deg: float | None


@dataclass(frozen=True, slots=True)
class LatestColumns:
    """Latest positions as columns ordered by member id. Unknown accuracy is NaN, unknown
    BeiDou satellite count -1; ``fix_time`` is UTC ``datetime64[us]``."""

    member_id: npt.NDArray[np.int64]
    org_id: npt.NDArray[np.int64]
    fix_time: npt.NDArray[np.datetime64]
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    accuracy_m: npt.NDArray[np.float64]
    quality: npt.NDArray[np.int16]
    sats_beidou: npt.NDArray[np.int16]

    def __len__(self) -> int:
        return len(self.member_id)


def latest_positions(
    session: Session,
    *,
    within_org_id: int | None = None,
    member_ids: Sequence[int] | None = None,
    bbox: BBox | None = None,
    since: datetime | None = None,
    after_member_id: int | None = None,
    limit: int | None = None,
) -> list[LatestFix]:
    """Latest positions ordered by member id, filtered by subtree, members, box and age.

    Page through them with ``after_member_id`` = the last member id of the previous page.
    """
    lp = LatestPosition
    conditions = _conditions(session, within_org_id, member_ids, bbox, since)
    if after_member_id is not None:
        conditions.append(lp.member_id > after_member_id)
    columns = [getattr(lp, name) for name in LatestFix._fields]
    stmt = select(*columns).where(*conditions).order_by(lp.member_id)
    rows = raw_rows(session, page(stmt, limit=limit, offset=0), sqlite_time_columns=(3, 4))
    return [LatestFix._make(row) for row in rows]


def latest_position_columns(
    session: Session,
    *,
    within_org_id: int | None = None,
    member_ids: Sequence[int] | None = None,
    bbox: BBox | None = None,
    since: datetime | None = None,
) -> LatestColumns:
    """The same rows as :func:`latest_positions`, all at once, as numpy columns."""
    conditions = _conditions(session, within_org_id, member_ids, bbox, since)
    if session.get_bind().dialect.name == "postgresql":
        return _columns_postgres(session, conditions)
    return _columns_sqlite(session, conditions)


def _conditions(
    session: Session,
    within_org_id: int | None,
    member_ids: Sequence[int] | None,
    bbox: BBox | None,
    since: datetime | None,
) -> list[ColumnElement[bool]]:
    lp = LatestPosition
    conditions: list[ColumnElement[bool]] = []
    if within_org_id is not None:
        conditions.append(org_scope(session, lp.org_id, within_org_id=within_org_id))
    if member_ids is not None:
        conditions.append(lp.member_id.in_(list(member_ids)))
    if bbox is not None:
        conditions.append(point_in_bbox(lp.lon, lp.lat, bbox))
    if since is not None:
        conditions.append(lp.fix_time >= since)
    return conditions


# One fixed-width big-endian record per member, in this order (PostgreSQL's binary send
# functions); NULLs become NaN / -1 so every record has the same length.
_RECORD = np.dtype(
    [
        ("member_id", ">i4"),
        ("org_id", ">i4"),
        ("fix_time", ">i8"),  # microseconds since 2000-01-01 UTC
        ("lat", ">f8"),
        ("lon", ">f8"),
        ("accuracy_m", ">f8"),
        ("quality", ">i2"),
        ("sats_beidou", ">i2"),
    ]
)
_PACKED = literal_column(
    "int4send(latest_positions.member_id) || int4send(latest_positions.org_id)"
    " || timestamptz_send(latest_positions.fix_time)"
    " || float8send(latest_positions.lat) || float8send(latest_positions.lon)"
    " || float8send(coalesce(latest_positions.accuracy_m, 'NaN'))"
    " || int2send(latest_positions.quality)"
    " || int2send(coalesce(latest_positions.sats_beidou, (-1)::int2))",
    LargeBinary,
)
_PG_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")


def _columns_postgres(session: Session, conditions: list[ColumnElement[bool]]) -> LatestColumns:
    stmt = (
        select(func.string_agg(_PACKED, literal_column("''::bytea")))
        .select_from(LatestPosition)
        .where(*conditions)
    )
    packed = raw_rows(session, stmt)[0][0] or b""
    records = np.frombuffer(packed, dtype=_RECORD)
    records = records[np.argsort(records["member_id"], kind="stable")]

    def native(name: str, dtype: Any) -> Any:
        return records[name].astype(dtype)

    return LatestColumns(
        member_id=native("member_id", np.int64),
        org_id=native("org_id", np.int64),
        fix_time=_PG_EPOCH + native("fix_time", np.int64).astype("timedelta64[us]"),
        lat=native("lat", np.float64),
        lon=native("lon", np.float64),
        accuracy_m=native("accuracy_m", np.float64),
        quality=native("quality", np.int16),
        sats_beidou=native("sats_beidou", np.int16),
    )


def _columns_sqlite(session: Session, conditions: list[ColumnElement[bool]]) -> LatestColumns:
    lp = LatestPosition
    stmt = (
        select(
            lp.member_id,
            lp.org_id,
            lp.fix_time,
            lp.lat,
            lp.lon,
            lp.accuracy_m,
            lp.quality,
            func.coalesce(lp.sats_beidou, -1),
        )
        .where(*conditions)
        .order_by(lp.member_id)
    )
    rows = raw_rows(session, stmt)
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * 8
    return LatestColumns(
        member_id=np.array(columns[0], dtype=np.int64),
        org_id=np.array(columns[1], dtype=np.int64),
        # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" UTC text, which numpy parses directly.
        fix_time=np.array(columns[2], dtype="datetime64[us]"),
        lat=np.array(columns[3], dtype=np.float64),
        lon=np.array(columns[4], dtype=np.float64),
        accuracy_m=np.array(columns[5], dtype=np.float64),  # None becomes NaN
        quality=np.array(columns[6], dtype=np.int16),
        sats_beidou=np.array(columns[7], dtype=np.int16),
    )
