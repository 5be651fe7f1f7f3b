"""Engines and sessions for both databases partymap runs on.

- Embedded default: SQLite + SpatiaLite in one file (created with its directory on first use,
  WAL journal, spatial metadata initialised once). CPython builds without loadable-extension
  support (pyenv's default) get the ``pysqlite3`` driver instead of the standard ``sqlite3``.
- Production: PostgreSQL + PostGIS through psycopg 3 (COPY is used for positions).

>>> engine = make_engine("sqlite://")          # in-memory SpatiaLite
>>> engine.dialect.name
'sqlite'
>>> engine.dispose()
"""

from __future__ import annotations

import importlib
import os
import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

from store.errors import SpatiaLiteMissingError, UnsupportedDatabaseError
from store.migrations import check_schema, upgrade

SPATIALITE_APT_PACKAGE = "libsqlite3-mod-spatialite"


def sqlite_driver() -> ModuleType:
    """The DB-API module to use for SQLite: the standard one if it can load extensions."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        return importlib.import_module("pysqlite3.dbapi2")
    except ImportError as exc:
        raise SpatiaLiteMissingError(
            "this Python's sqlite3 module cannot load extensions (SpatiaLite) and the "
            "pysqlite3 driver is not installed: `pip install pysqlite3-binary`"
        ) from exc


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine for a ``sqlite://`` (SpatiaLite) or ``postgresql://`` (PostGIS) URL."""
    url = make_url(url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _spatialite_engine(url, echo=echo)
    if backend == "postgresql":
        return _postgis_engine(url, echo=echo)
    raise UnsupportedDatabaseError(
        f"unsupported database {url.render_as_string(hide_password=True)!r}: partymap needs "
        "sqlite:///<file> (SpatiaLite) or postgresql+psycopg://… (PostGIS)"
    )


def make_sessionmaker(engine: Engine, *, immediate: bool = False) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (the API serialises them then).

    ``immediate``: on SQLite, each transaction takes the write lock when it begins. A WAL
    transaction that read first and then writes fails at once ("database is locked") if another
    connection committed in between, without waiting for the busy timeout; short transactions
    that may write after reading (an audited read, a login) must begin as writers to wait their
    turn instead. PostgreSQL ignores the option.
    """
    bind = engine.execution_options(sqlite_begin_immediate=True) if immediate else engine
    return sessionmaker(bind, expire_on_commit=False)


def end_read_snapshot(session: Session) -> None:
    """Before a reading session writes (an audit entry after a read): on SQLite, end its
    transaction so the write starts a fresh one that waits its turn for the lock instead of
    failing on a snapshot another writer has moved past. Sessions begun as writers
    (``immediate``) and PostgreSQL need nothing.
    """
    if not (is_sqlite(session) and session.in_transaction()):
        return
    if not session.connection().get_execution_options().get("sqlite_begin_immediate", False):
        session.commit()


def is_sqlite(bind: Engine | Connection | Session) -> bool:
    if isinstance(bind, Session):
        bind = bind.get_bind()
    return bind.dialect.name == "sqlite"


def open_engine(url: str) -> Engine:
    """The engine for the database at ``url`` (``Settings.sqlalchemy_url``), with its schema
    checked.

    SQLite (the embedded default) is migrated to the newest schema on first use; a PostgreSQL
    database must be migrated explicitly with ``partymap db upgrade`` and is refused until it is.
    """
    engine = make_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            upgrade(engine)
        else:
            check_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _postgis_engine(url: URL, *, echo: bool) -> Engine:
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_driver_name() != "psycopg":
        raise UnsupportedDatabaseError(
            f"driver {url.get_driver_name()!r}: partymap writes positions with psycopg 3's "
            "COPY; use a postgresql+psycopg:// URL"
        )
    # UTC sessions: timestamptz values come back already in UTC, so bulk reads need no
    # per-value conversion.
    return create_engine(
        url, echo=echo, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"}
    )


def _spatialite_engine(url: URL, *, echo: bool) -> Engine:
    driver = sqlite_driver()
    database = url.database or ""
    in_memory = database in ("", ":memory:") or url.query.get("mode") == "memory"
    if not in_memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, module=driver)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        _prepare_spatialite_connection(dbapi_conn, driver, in_memory=in_memory)

    # The sqlite3 driver's legacy transaction handling starts no transaction before a SELECT
    # and none around SAVEPOINT; SQLAlchemy emits BEGIN itself instead (its documented recipe).
    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_begin_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _prepare_spatialite_connection(dbapi_conn: Any, driver: ModuleType, *, in_memory: bool) -> None:
    dbapi_conn.isolation_level = None
    library = os.environ.get("SPATIALITE_LIBRARY_PATH", "mod_spatialite")
    dbapi_conn.enable_load_extension(True)
    try:
        dbapi_conn.load_extension(library)
    except driver.OperationalError as exc:
        raise SpatiaLiteMissingError(
            f"SQLite cannot load the SpatiaLite extension {library!r} ({exc}); install it with "
            f"`sudo apt-get install {SPATIALITE_APT_PACKAGE}` (or point SPATIALITE_LIBRARY_PATH "
            "at mod_spatialite), or configure a PostGIS database_url instead"
        ) from exc
    finally:
        dbapi_conn.enable_load_extension(False)
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        if not in_memory:
            # WAL lets the map and API read while the ingestion daemon writes.
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            # 32 MiB of page cache (default 2 MiB) keeps the positions indexes' hot pages in
            # memory while batches are written.
            cursor.execute("PRAGMA cache_size = -32768")
        if cursor.execute("SELECT CheckSpatialMetaData()").fetchone()[0] < 1:
            # 'WGS84' loads only the WGS 84 family of reference systems: everything is 4326.
            cursor.execute("SELECT InitSpatialMetaData(1, 'WGS84')")
    finally:
        cursor.close()
