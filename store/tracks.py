"""A member's track and the stored history of positions, rejected fixes included."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from gnss.model import Fix, FixMode, FixQuality
from store.models import Position
from store.positions import SATS_COLUMNS
from store.query import in_window, matching, page
from store.rawsql import raw_rows


class TrackFix(NamedTuple):
    """One fix of a member's track (the fields a GPX or GeoJSON track needs)."""

    fix_time: datetime
    lat: float
    lon: float
    alt_m: float | None
    accuracy_m: float | None
    speed_mps: float | None
    course_deg: float | None
    hdop: float | None
    quality: int
    sats_used: int | None
    sats_beidou: int | None
    device_id: int
    rejections: tuple[str, ...]  # empty for an accepted fix


class StoredPosition(NamedTuple):
    """A positions row as stored, for review of rejected fixes and for audits."""

    id: int
    device_id: int
    member_id: int | None
    received_at: datetime
    source: str
    rejections: tuple[str, ...]
    fix: Fix


def track(
    session: Session,
    *,
    member_id: int,
    start: datetime,
    end: datetime,
    include_rejected: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> list[TrackFix]:
    """A member's fixes with a position in [start, end), oldest first (paged by ``limit`` and
    ``offset``)."""
    p = Position
    stmt = (
        select(*(getattr(p, name) for name in TrackFix._fields))
        .where(
            p.member_id == member_id,
            p.fix_time >= start,
            p.fix_time < end,
            p.lat.is_not(None),
        )
        .order_by(p.fix_time, p.id)
    )
    if not include_rejected:
        stmt = stmt.where(p.rejections.is_(None))
    rows = raw_rows(session, page(stmt, limit=limit, offset=offset), sqlite_time_columns=(0,))
    return [TrackFix._make((*row[:-1], _split(row[-1]))) for row in rows]


def list_positions(
    session: Session,
    *,
    member_id: int | None = None,
    device_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    rejected: bool | None = None,
    carriers: Sequence[int | None] | None = None,
    after_id: int | None = None,
    limit: int | None = 1000,
) -> list[StoredPosition]:
    """Stored positions in id (arrival) order; ``rejected`` True keeps only rejected ones;
    ``carriers``: only those stored for one of these members (None: for nobody).

    Page on with ``after_id`` = the last id of the previous page.
    """
    p = Position
    conditions = [
        *matching((p.member_id, member_id), (p.device_id, device_id)),
        *in_window(p.fix_time, start, end),
    ]
    if carriers is not None:
        conditions.append(_carried_by(carriers))
    if rejected is not None:
        conditions.append(p.rejections.is_not(None) if rejected else p.rejections.is_(None))
    if after_id is not None:
        conditions.append(p.id > after_id)
    stmt = select(p).where(*conditions).order_by(p.id)
    return [_stored(row) for row in session.scalars(page(stmt, limit=limit, offset=0))]


def device_carriers(
    session: Session, *, device_id: int, start: datetime, end: datetime
) -> list[int | None]:
    """The members (None: nobody) a device's fixes in [start, end) were stored for."""
    p = Position
    stmt = select(p.member_id).where(p.device_id == device_id, *in_window(p.fix_time, start, end))
    return list(session.scalars(stmt.distinct()))


def device_fix_counts(
    session: Session,
    *,
    device_id: int,
    start: datetime,
    end: datetime,
    member_ids: Sequence[int | None],
) -> tuple[int, dict[str, int]]:
    """A device's stored fixes in [start, end) that reached one of ``member_ids`` (None: no
    member): how many were accepted, and how many were rejected for each reason (a fix
    rejected for two reasons counts under both)."""
    p = Position
    stmt = (
        select(p.rejections, func.count())
        .where(
            p.device_id == device_id, *in_window(p.fix_time, start, end), _carried_by(member_ids)
        )
        .group_by(p.rejections)
    )
    accepted, rejected = 0, dict[str, int]()
    for rejections, n in session.execute(stmt):
        if rejections is None:
            accepted += n
        for reason in _split(rejections):
            rejected[reason] = rejected.get(reason, 0) + n
    return accepted, dict(sorted(rejected.items()))


def _carried_by(member_ids: Sequence[int | None]) -> ColumnElement[bool]:
    carried = [Position.member_id.in_([m for m in member_ids if m is not None])]
    if None in member_ids:
        carried.append(Position.member_id.is_(None))
    return or_(*carried)


def _split(rejections: str | None) -> tuple[str, ...]:
    return tuple(rejections.split(",")) if rejections else ()


def _stored(row: Position) -> StoredPosition:
    sats = {
        system: getattr(row, name)
        for system, name in SATS_COLUMNS.items()
        if getattr(row, name) is not None
    }
    fix = Fix(
        time=row.fix_time,
        lat=row.lat,
        lon=row.lon,
        alt_m=row.alt_m,
        mode=FixMode(row.mode),
        quality=FixQuality(row.quality),
        hdop=row.hdop,
        pdop=row.pdop,
        sats_used=row.sats_used,
        sats_used_by_system=sats,
        speed_mps=row.speed_mps,
        course_deg=row.course_deg,
        accuracy_m=row.accuracy_m,
        received_at=row.received_at,
    )
    return StoredPosition(
        id=row.id,
        device_id=row.device_id,
        member_id=row.member_id,
        received_at=row.received_at,
        source=row.source,
        rejections=_split(row.rejections),
        fix=fix,
    )
