"""Run a SQLAlchemy statement straight on the driver, for reads of many thousands of rows.

SQLAlchemy's per-value result processing costs more than the query itself when 140,000 latest
positions come back. PostgreSQL sessions run in UTC (see :mod:`store.db`), so its times arrive
aware and ready; SQLite's arrive as text and the caller names the columns to parse.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from store.types import parse_sqlite_timestamp, sqlite_timestamp


def raw_rows(
    session: Session,
    stmt: Select[*tuple[Any, ...]],
    *,
    sqlite_time_columns: tuple[int, ...] = (),
) -> list[tuple[Any, ...]]:
    connection = session.connection()
    dialect = connection.dialect
    # render_postcompile turns "IN (expanding list)" parameters into plain ones.
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    dbapi = connection.connection.driver_connection
    assert dbapi is not None  # the session's connection is open: it was just asked for
    if dialect.name == "postgresql":
        with dbapi.cursor(binary=True) as cursor:
            cursor.execute(compiled.string, params)
            return list(cursor.fetchall())
    positional = [_sqlite_param(params[name]) for name in compiled.positiontup or ()]
    rows: list[tuple[Any, ...]] = dbapi.execute(compiled.string, positional).fetchall()
    if not sqlite_time_columns:
        return rows
    out = []
    for row in rows:
        values = list(row)
        for i in sqlite_time_columns:
            if values[i] is not None:
                values[i] = parse_sqlite_timestamp(values[i])
        out.append(tuple(values))
    return out


def _sqlite_param(value: Any) -> Any:
    # Parameters bypass the column types here: store times as store.types stores them.
    return sqlite_timestamp(value) if isinstance(value, datetime) else value
