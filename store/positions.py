"""Positions: written in batches, read as latest-per-member, tracks and review lists.

The write path takes columns and never builds ORM objects: binary COPY on PostGIS, one
``executemany`` on SpatiaLite. The ingestion fast path hands over its
:class:`~gnss.fixtable.FixTable` as it is (:func:`store.fix_rows.write_fixes`); a
:class:`PositionBatch` of :class:`NewPosition` values serves the writes of one fix at a time
(the API) and tests. In the same transaction one statement folds each member's newest accepted
fix of the batch into ``latest_positions``, reading the rows just written on the server instead
of sending them twice, so "where is everyone now" is a read of one small table rather than a
scan of the history. The caller commits — together with its replay offset
(:mod:`store.offsets`), so a crash never stores a fix twice.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.string import BytesBinaryDumper
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from gnss.model import Constellation, Fix
from store.db import is_sqlite
from store.errors import InvalidValueError
from store.latest import LatestFix
from store.models import Position
from store.types import SRID, sqlite_timestamps

SATS_COLUMNS = {
    Constellation.GPS: "sats_gps",
    Constellation.GLONASS: "sats_glonass",
    Constellation.GALILEO: "sats_galileo",
    Constellation.BEIDOU: "sats_beidou",
    Constellation.QZSS: "sats_qzss",
    Constellation.NAVIC: "sats_navic",
    Constellation.SBAS: "sats_sbas",
}


@dataclass(frozen=True, slots=True)
class NewPosition:
    """One epoch to store: the fix, where it came from, and every rule it failed (if any)."""

    device_id: int
    member_id: int | None
    fix: Fix
    received_at: datetime
    source: str
    rejections: tuple[str, ...] = ()


@dataclass(slots=True)
class PositionBatch:
    """Positions as parallel columns (lists or anything with ``tolist()``), all one length.

    ``rejections`` holds the comma-joined rule names, None for an accepted fix.

    >>> batch = PositionBatch()
    >>> len(batch)
    0
    """

    device_id: list[int] = field(default_factory=list)
    member_id: list[int | None] = field(default_factory=list)
    received_at: list[datetime] = field(default_factory=list)
    fix_time: list[datetime] = field(default_factory=list)
    lat: list[float | None] = field(default_factory=list)
    lon: list[float | None] = field(default_factory=list)
    alt_m: list[float | None] = field(default_factory=list)
    mode: list[int] = field(default_factory=list)
    quality: list[int] = field(default_factory=list)
    hdop: list[float | None] = field(default_factory=list)
    pdop: list[float | None] = field(default_factory=list)
    sats_used: list[int | None] = field(default_factory=list)
    sats_gps: list[int | None] = field(default_factory=list)
    sats_glonass: list[int | None] = field(default_factory=list)
    sats_galileo: list[int | None] = field(default_factory=list)
    sats_beidou: list[int | None] = field(default_factory=list)
    sats_qzss: list[int | None] = field(default_factory=list)
    sats_navic: list[int | None] = field(default_factory=list)
    sats_sbas: list[int | None] = field(default_factory=list)
    accuracy_m: list[float | None] = field(default_factory=list)
    speed_mps: list[float | None] = field(default_factory=list)
    course_deg: list[float | None] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    rejections: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.device_id)

    def append(self, position: NewPosition) -> None:
        fix = position.fix
        sats = fix.sats_used_by_system
        self.device_id.append(position.device_id)
        self.member_id.append(position.member_id)
        self.received_at.append(position.received_at)
        self.fix_time.append(fix.time)
        has_position = fix.lat is not None and fix.lon is not None
        self.lat.append(fix.lat if has_position else None)
        self.lon.append(fix.lon if has_position else None)
        self.alt_m.append(fix.alt_m)
        self.mode.append(int(fix.mode))
        self.quality.append(int(fix.quality))
        self.hdop.append(fix.hdop)
        self.pdop.append(fix.pdop)
        self.sats_used.append(fix.sats_used)
        for system, name in SATS_COLUMNS.items():
            getattr(self, name).append(sats.get(system))
        self.accuracy_m.append(fix.accuracy_m)
        self.speed_mps.append(fix.speed_mps)
        self.course_deg.append(fix.course_deg)
        self.source.append(position.source)
        self.rejections.append(",".join(position.rejections) if position.rejections else None)

    @classmethod
    def from_positions(cls, positions: Iterable[NewPosition]) -> PositionBatch:
        batch = cls()
        for position in positions:
            batch.append(position)
        return batch

    def columns(self) -> dict[str, list[Any]]:
        """Every column as a plain list, checked to be of one length."""
        out = {f.name: _as_list(getattr(self, f.name)) for f in fields(self)}
        lengths = {name: len(values) for name, values in out.items()}
        if len(set(lengths.values())) > 1:
            raise InvalidValueError(f"PositionBatch columns differ in length: {lengths}")
        return out


POSITION_COLUMNS = tuple(f.name for f in fields(PositionBatch))
_TZINFO = operator.attrgetter("tzinfo")


# Copied from a member's newest fix into latest_positions (which adds the member's org_id).
LATEST_COLUMNS = tuple(f for f in LatestFix._fields if f != "org_id")


def write_positions(session: Session, *, batch: PositionBatch, refresh_latest: bool = True) -> int:
    """Store a batch of positions and refresh the members' latest positions; returns the count.

    Times must be timezone-aware. Rejected fixes are stored with their reasons but never become
    a member's latest position, and neither does a fix older than the one already there. A
    writer that would rather refresh latest positions once every few batches passes
    ``refresh_latest=False`` and calls :func:`refresh_latest_positions` itself.
    """
    columns = batch.columns()
    for name in ("received_at", "fix_time"):
        if None in map(_TZINFO, columns[name]):
            raise InvalidValueError(f"naive datetime in {name}: times must be timezone-aware")
    return write_position_columns(session, columns=columns, refresh_latest=refresh_latest)


def write_position_columns(
    session: Session, *, columns: dict[str, list[Any]], refresh_latest: bool = True
) -> int:
    """:func:`write_positions` of every column of :data:`POSITION_COLUMNS` as a plain list of
    one length, times timezone-aware (checked by the callers that take them from others)."""
    n = len(columns["device_id"])
    if n == 0:
        return 0
    connection = session.connection()
    dbapi = connection.connection.driver_connection
    before = newest_position_id(session)
    if connection.dialect.name == "postgresql":
        _copy_positions(dbapi, columns)
    else:
        _insert_positions_sqlite(dbapi, columns)
    if refresh_latest:
        refresh_latest_positions(session, after_id=before, up_to_id=newest_position_id(session))
    return n


def newest_position_id(session: Session) -> int:
    """The largest position id stored so far (0 for none): ids only grow."""
    return int(session.scalar(select(func.coalesce(func.max(Position.id), 0))) or 0)


def refresh_latest_positions(session: Session, *, after_id: int, up_to_id: int) -> None:
    """Fold positions with ``after_id < id <= up_to_id`` into the members' latest positions.

    Rows a concurrent writer committed in that range are folded in too, harmlessly: a latest
    position only moves forward. The closed range also keeps PostgreSQL on the primary key
    while its statistics still describe a younger, smaller table.
    """
    sql = _REFRESH_LATEST_SQLITE if is_sqlite(session) else _REFRESH_LATEST_POSTGRES
    session.execute(text(sql), {"after": after_id, "last": up_to_id})


def purge_positions(session: Session, *, received_before: datetime) -> int:
    """Delete positions received before the cutoff; returns how many went.

    Latest positions, visits and check-ins stay: they are what the history was kept for.
    """
    result = session.execute(
        delete(Position)
        .where(Position.received_at < received_before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def retention_cutoff(*, now: datetime, retention_days: int) -> datetime | None:
    """When positions older than ``retention_days`` start; None keeps them forever (0 days).

    >>> from datetime import UTC
    >>> retention_cutoff(now=datetime(2026, 5, 1, tzinfo=UTC), retention_days=30)
    datetime.datetime(2026, 4, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    return now - timedelta(days=retention_days) if retention_days > 0 else None


_PG_TYPES = {
    "device_id": "int4",
    "member_id": "int4",
    "received_at": "timestamptz",
    "fix_time": "timestamptz",
    "mode": "int2",
    "quality": "int2",
    "source": "text",
    "rejections": "text",
}


# Point EWKB: little-endian, type 1 with the SRID flag, SRID, x, y.
_EWKB_POINT = struct.Struct("<BIIdd")
_EWKB_POINT_TYPE = 0x20000001


def _pg_type(column: str) -> str:
    if column in _PG_TYPES:
        return _PG_TYPES[column]
    return "int2" if column.startswith("sats_") else "float8"


def copy_rows(columns: dict[str, list[Any]]) -> Iterator[tuple[Any, ...]]:
    """The rows binary COPY sends: every column of :data:`POSITION_COLUMNS`, then the point
    as EWKB (None without a position)."""
    pack = _EWKB_POINT.pack
    geoms = [
        pack(1, _EWKB_POINT_TYPE, SRID, lon, lat) if lat is not None and lon is not None else None
        for lon, lat in zip(columns["lon"], columns["lat"], strict=True)
    ]
    return zip(*(columns[c] for c in POSITION_COLUMNS), geoms, strict=True)


def _copy_positions(dbapi: Any, columns: dict[str, list[Any]]) -> None:
    names = ", ".join((*POSITION_COLUMNS, "geom"))
    with dbapi.cursor() as cursor:
        # By oid, bytea would take DB-API's Binary-aware dumper, written in Python; the plain
        # bytes dumper (compiled) is enough here. The cursor's adapters are its own copy.
        cursor.adapters.register_dumper(None, BytesBinaryDumper)
        with cursor.copy(f"COPY positions ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            # geom travels as bytea: in binary COPY the server reads it with geometry's
            # receive function, which accepts EWKB, so no SQL function runs per row.
            copy.set_types([*(_pg_type(c) for c in POSITION_COLUMNS), "bytea"])
            write = copy.write_row
            for row in copy_rows(columns):
                write(row)


_LATEST_NAMES = ", ".join(("org_id", *LATEST_COLUMNS))
_B_LATEST = ", ".join(f"b.{c}" for c in LATEST_COLUMNS)
_ACCEPTED_IN_BATCH = (
    "FROM positions WHERE id > :after AND id <= :last "
    "AND rejections IS NULL AND lat IS NOT NULL AND lon IS NOT NULL AND member_id IS NOT NULL"
)
# An older fix never replaces a newer one. A member's organisation is copied in when the
# member first appears (one primary-key lookup per new row, cheaper than joining all members);
# transfers keep it current afterwards.
_INTO_LATEST = (
    f"INSERT INTO latest_positions ({_LATEST_NAMES}) "
    f"SELECT (SELECT org_id FROM members WHERE members.id = b.member_id), {_B_LATEST} "
    "FROM ({}) b WHERE true "
    "ON CONFLICT (member_id) DO UPDATE SET "
    f"{', '.join(f'{c} = excluded.{c}' for c in LATEST_COLUMNS[1:])} "
    "WHERE latest_positions.fix_time <= excluded.fix_time"
)
# Each member's newest accepted fix in the id range.
_REFRESH_LATEST_POSTGRES = _INTO_LATEST.format(
    f"SELECT DISTINCT ON (member_id) {', '.join(LATEST_COLUMNS)} "
    + _ACCEPTED_IN_BATCH
    + " ORDER BY member_id, fix_time DESC, id DESC"
)
# SQLite: with max() in the select list, the bare columns come from the row holding the max.
# ("WHERE true" above tells SQLite's parser that ON CONFLICT belongs to the INSERT.)
_REFRESH_LATEST_SQLITE = _INTO_LATEST.format(
    f"SELECT {', '.join(LATEST_COLUMNS)}, max(fix_time) AS newest "
    + _ACCEPTED_IN_BATCH
    + " GROUP BY member_id"
)


def _insert_positions_sqlite(dbapi: Any, columns: dict[str, list[Any]]) -> None:
    values = dict(columns)
    for name in ("received_at", "fix_time"):
        values[name] = sqlite_timestamps(values[name])
    names = ", ".join((*POSITION_COLUMNS, "geom"))
    marks = ", ".join("?" for _ in POSITION_COLUMNS)
    rows = zip(*(values[c] for c in POSITION_COLUMNS), values["lon"], values["lat"], strict=True)
    # MakePoint(NULL, NULL) is NULL: epochs without a position store no point.
    dbapi.executemany(
        f"INSERT INTO positions ({names}) VALUES ({marks}, MakePoint(?, ?, {SRID}))", rows
    )


def _as_list(values: Any) -> list[Any]:
    # numpy arrays from the vectorised path: tolist() gives Python scalars the drivers know.
    return values.tolist() if hasattr(values, "tolist") else list(values)
