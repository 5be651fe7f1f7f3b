"""Engines: the SpatiaLite driver and extension, the data directory, PostGIS sessions in UTC."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, exc, text

from partymap.settings import Settings
from store import migrations
from store.db import is_sqlite, make_engine, make_sessionmaker, open_engine, sqlite_driver
from store.errors import SchemaOutOfDateError, SpatiaLiteMissingError, UnsupportedDatabaseError
from tests.store.conftest import ScratchDatabases

# Outside development a secret must be long and random-looking.
DB_SECRET = "db-tests-secret-0123456789abcdefghijk"


def test_the_driver_can_load_extensions() -> None:
    driver = sqlite_driver()
    assert hasattr(driver.Connection, "enable_load_extension")
    if not hasattr(sqlite3.Connection, "enable_load_extension"):
        assert driver.__name__ == "pysqlite3.dbapi2"


def test_spatialite_file_and_directory_are_created_on_first_use(tmp_path: Path) -> None:
    path = tmp_path / "deeper" / "still" / "partymap.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT CheckSpatialMetaData()")) > 0
            assert connection.scalar(text("PRAGMA journal_mode")) == "wal"
            assert connection.scalar(text("PRAGMA foreign_keys")) == 1
            assert connection.scalar(text("SELECT ST_SRID(MakePoint(114.3, 30.5, 4326))")) == 4326
    finally:
        engine.dispose()
    assert path.exists()


def test_a_missing_spatialite_names_the_package_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPATIALITE_LIBRARY_PATH", str(tmp_path / "no_such_mod_spatialite"))
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    try:
        with pytest.raises(
            SpatiaLiteMissingError, match="apt-get install libsqlite3-mod-spatialite"
        ):
            engine.connect()
    finally:
        engine.dispose()


def test_unsupported_urls_are_refused() -> None:
    with pytest.raises(UnsupportedDatabaseError):
        make_engine("mysql://localhost/partymap")
    with pytest.raises(UnsupportedDatabaseError, match="psycopg"):
        make_engine("postgresql+psycopg2://localhost/partymap")


def test_sqlite_transactions_roll_back_reads_and_writes_together(tmp_path: Path) -> None:
    # SQLAlchemy, not the driver, opens the transaction: a rollback undoes everything since.
    engine = make_engine(f"sqlite:///{tmp_path / 't.sqlite'}")
    try:
        with engine.connect() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.commit()
            connection.execute(text("INSERT INTO t VALUES (1)"))
            nested = connection.begin_nested()
            connection.execute(text("INSERT INTO t VALUES (2)"))
            nested.rollback()
            assert connection.scalar(text("SELECT count(*) FROM t")) == 1
            connection.rollback()
            assert connection.scalar(text("SELECT count(*) FROM t")) == 0
    finally:
        engine.dispose()


def _read_then_write_while_another_commits(engine: Engine, *, immediate: bool) -> None:
    """Session A reads, B commits a write meanwhile (from another thread), then A writes."""
    sessions = make_sessionmaker(engine, immediate=immediate)
    other = threading.Thread(target=_insert_and_commit, args=(engine, 2))
    with sessions() as session:
        session.execute(text("SELECT count(*) FROM t")).scalar()
        other.start()
        # Without the write lock, B commits here; with it, B waits for A's commit.
        other.join(timeout=0.5)
        session.execute(text("INSERT INTO t VALUES (1)"))
        session.commit()
    other.join()


def _insert_and_commit(engine: Engine, value: int) -> None:
    with engine.connect() as connection:
        connection.execute(text("INSERT INTO t VALUES (:v)"), {"v": value})
        connection.commit()


@pytest.mark.parametrize("immediate", [False, True])
def test_sqlite_writers_that_read_first_wait_their_turn_when_immediate(
    tmp_path: Path, immediate: bool
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 't.sqlite'}")
    try:
        with engine.connect() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.commit()
        if immediate:
            _read_then_write_while_another_commits(engine, immediate=True)
            with engine.connect() as connection:
                assert connection.scalar(text("SELECT count(*) FROM t")) == 2
        else:
            # The failure ``immediate`` exists for: a stale read snapshot cannot become a writer.
            with pytest.raises(exc.OperationalError, match="locked"):
                _read_then_write_while_another_commits(engine, immediate=False)
    finally:
        engine.dispose()


@pytest.mark.postgis
def test_postgis_sessions_run_in_utc(postgis_engine: Engine) -> None:
    with postgis_engine.connect() as connection:
        assert connection.scalar(text("SHOW TimeZone")) == "UTC"
        assert not is_sqlite(connection)


@pytest.mark.postgis
def test_a_plain_postgresql_url_gets_psycopg(postgis_url: str) -> None:
    engine = make_engine(postgis_url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        assert engine.url.drivername == "postgresql+psycopg"
    finally:
        engine.dispose()


def test_the_embedded_default_is_migrated_on_first_use(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", environment="test", secret_key=DB_SECRET)
    engine = open_engine(settings.sqlalchemy_url)
    try:
        assert is_sqlite(engine)
        assert migrations.current_revision(engine) == migrations.head_revision()
    finally:
        engine.dispose()
    assert (tmp_path / "data" / "partymap.sqlite").exists()


@pytest.mark.postgis
def test_a_server_database_must_be_migrated_explicitly(scratch_postgis: ScratchDatabases) -> None:
    url = scratch_postgis.create()
    settings = Settings(database_url=url, environment="test", secret_key=DB_SECRET)
    with pytest.raises(SchemaOutOfDateError, match="partymap db upgrade"):
        open_engine(settings.sqlalchemy_url)
    engine = make_engine(url)
    migrations.upgrade(engine)
    engine.dispose()
    open_engine(settings.sqlalchemy_url).dispose()
