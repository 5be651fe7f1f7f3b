"""Ingestion fixtures: a migrated database of its own for every test, on SpatiaLite or PostGIS.

The daemon commits from its own threads, so a test cannot run inside a transaction that is
rolled back afterwards (as the store tests do): each test gets a copy of a migrated SpatiaLite
file, or a PostGIS database cloned from a migrated template on the session's cluster.
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

from partymap.settings import Settings
from store.db import make_engine
from store.migrations import upgrade
from tests.store.conftest import spatialite_template  # noqa: F401 (a fixture, shared)

BACKENDS = ["spatialite", pytest.param("postgis", marks=pytest.mark.postgis)]
_TEMPLATE = f"ingest_template_{os.getpid()}"


@pytest.fixture(scope="session")
def postgis_databases(postgis_url: str) -> Iterator[PostgisDatabases]:
    databases = PostgisDatabases(postgis_url)
    yield databases
    databases.drop_all()


class PostgisDatabases:
    """Databases cloned from a migrated template on the test cluster, dropped at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.server = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
        self.names: list[str] = []
        with self.server.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {_TEMPLATE}")
        template = make_engine(self._url(_TEMPLATE))
        with template.begin() as connection:
            connection.exec_driver_sql("CREATE EXTENSION postgis")
        upgrade(template)
        template.dispose()

    def _url(self, name: str) -> str:
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def create(self) -> str:
        name = f"ingest_{uuid.uuid4().hex[:10]}"
        with self.server.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE}")
        self.names.append(name)
        return self._url(name)

    def drop_all(self) -> None:
        with self.server.connect() as connection:
            for name in [*self.names, _TEMPLATE]:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.server.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "spatialite":
        path = tmp_path / "partymap.sqlite"
        shutil.copyfile(request.getfixturevalue("spatialite_template"), path)
        return f"sqlite:///{path}"
    databases: PostgisDatabases = request.getfixturevalue("postgis_databases")
    return databases.create()


@pytest.fixture
def spatialite_url(spatialite_template: Path, tmp_path: Path) -> str:  # noqa: F811
    """A second database, beside the test's own: SpatiaLite whatever the backend."""
    path = tmp_path / "other.sqlite"
    shutil.copyfile(spatialite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a quick daemon: small batches, frequent refreshes, no TCP unless asked."""
    return Settings(
        data_dir=tmp_path,
        ingest_tcp_port=None,
        ingest_batch_seconds=0.01,
        ingest_directory_refresh_seconds=0.2,
        ingest_sites_refresh_seconds=0.1,
        ingest_expire_seconds=1.0,
        ingest_retry_max_seconds=0.5,
    )
