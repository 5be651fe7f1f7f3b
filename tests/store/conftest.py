"""Store fixtures: every repository test runs once on SpatiaLite and once on PostGIS.

Isolation: a SpatiaLite test gets its own copy of a migrated database file; a PostGIS test runs
inside a transaction on a database of the store tests' own, rolled back afterwards (commits in
the test release savepoints). No test sees another's rows, in any order.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from store.db import make_engine
from store.migrations import upgrade

BACKENDS = ["spatialite", pytest.param("postgis", marks=pytest.mark.postgis)]


@pytest.fixture(scope="session")
def spatialite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spatialite") / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as connection:
        # Fold the write-ahead log into the file so that copying the file copies everything.
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgis_server(postgis_url: str) -> Iterator[Engine]:
    """An engine on the cluster's maintenance connection, for creating scratch databases."""
    engine = make_engine(postgis_url).execution_options(isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def scratch_postgis(postgis_server: Engine, postgis_url: str) -> Iterator[ScratchDatabases]:
    databases = ScratchDatabases(postgis_server, postgis_url)
    yield databases
    databases.drop_all()


class ScratchDatabases:
    """Empty PostGIS databases on the test cluster, dropped when the session ends."""

    def __init__(self, server: Engine, url: str) -> None:
        self.server, self.url, self.names = server, url, []

    def create(self) -> str:
        name = f"store_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with self.server.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        self.names.append(name)
        url = make_url(self.url).set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE EXTENSION postgis")
        engine.dispose()
        return url

    def drop_all(self) -> None:
        with self.server.connect() as connection:
            for name in self.names:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def postgis_engine(scratch_postgis: ScratchDatabases) -> Iterator[Engine]:
    """The store tests' own PostGIS database, migrated to the newest schema."""
    engine = make_engine(scratch_postgis.create())
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    """A session on a migrated database that only this test sees."""
    if backend == "spatialite":
        path = tmp_path / "store.sqlite"
        shutil.copyfile(request.getfixturevalue("spatialite_template"), path)
        engine = make_engine(f"sqlite:///{path}")
        session = Session(engine, expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
            engine.dispose()
        return
    engine = request.getfixturevalue("postgis_engine")
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()
