"""Column types shared by the models, so both databases store and return the same values.

Times are timezone-aware UTC in Python on both databases. PostgreSQL keeps ``timestamptz``;
SQLite has no time type, so times are stored as text in SQLAlchemy's fixed-width format
(``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), which sorts and compares correctly as text.

>>> from datetime import datetime, timedelta, timezone
>>> sqlite_timestamp(datetime(2026, 5, 1, 16, 0, tzinfo=timezone(timedelta(hours=8))))
'2026-05-01 08:00:00.000000'
>>> parse_sqlite_timestamp('2026-05-01 08:00:00.000000')
datetime.datetime(2026, 5, 1, 8, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from geoalchemy2 import Geometry
from sqlalchemy import JSON, DateTime, Enum, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

SRID = 4326  # WGS 84; CGCS2000 is treated as the same (DESIGN §4)


def utcnow() -> datetime:
    return datetime.now(UTC)


def sqlite_timestamp(value: datetime) -> str:
    """The text SQLite stores for an aware time: UTC, always with microseconds."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: partymap keeps times timezone-aware UTC")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def sqlite_timestamps(values: Sequence[datetime]) -> list[str]:
    """:func:`sqlite_timestamp` for a whole column of aware times at once (three times faster).

    >>> sqlite_timestamps([datetime(2026, 5, 1, 8, 0, 0, 250, tzinfo=UTC)])
    ['2026-05-01 08:00:00.000250']
    """
    # Whole microseconds survive the float: its error is far below half a microsecond for
    # times within centuries of now.
    micros = np.rint(np.array([t.timestamp() for t in values]) * 1e6).astype("datetime64[us]")
    text: list[str] = np.char.replace(np.datetime_as_string(micros, unit="us"), "T", " ").tolist()
    return text


def parse_sqlite_timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``timestamptz`` on PostgreSQL, UTC text on SQLite; aware UTC datetimes in and out.

    Naive datetimes are refused rather than guessed at: a naive time in this code base is a bug.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: partymap keeps times timezone-aware UTC")
        value = value.astimezone(UTC)
        # SQLite's DATETIME would silently drop the offset; hand it UTC wall-clock time.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_type() -> TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL (smaller, indexable)."""
    return JSON().with_variant(JSONB(), "postgresql")


def path_type(length: int) -> TypeEngine[str]:
    """Text compared byte by byte on both databases: materialised paths rely on it.

    SQLite compares text with BINARY by default; PostgreSQL uses the database's locale, which
    may ignore punctuation such as ``/``, so the column is pinned to the "C" collation there.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def enum_type(cls: type[enum.Enum], length: int = 32) -> Enum:
    """An enum kept as its ``.value`` text (portable, readable, no native PostgreSQL type)."""
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def geometry(geometry_type: str, *, spatial_index: bool) -> Geometry:
    """A WGS 84 geometry column (GeoAlchemy2's default SRID is -1, which is never wanted)."""
    return Geometry(geometry_type=geometry_type, srid=SRID, spatial_index=spatial_index)
