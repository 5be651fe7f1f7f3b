"""API fixtures: an app on a fresh database per test (or per module), on SpatiaLite and PostGIS.

SpatiaLite databases are copies of a migrated template file; PostGIS ones are made with
``CREATE DATABASE … TEMPLATE`` from a migrated template, so every database starts migrated in
milliseconds and routes may commit freely: nothing is shared between tests.
"""

from __future__ import annotations

import shutil
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from starlette.exceptions import StarletteDeprecationWarning

from api.app import create_app
from api.ingest import MemorySink
from partymap.settings import Settings
from store.db import make_engine
from store.live import LiveFeed
from store.migrations import upgrade
from tests.api.world import World, build_world

with warnings.catch_warnings():
    # Starlette would rather use httpx2, which is not installed; httpx works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

BACKENDS = ["spatialite", pytest.param("postgis", marks=pytest.mark.postgis)]
SECRET = "api-tests-secret-7Hq2vX9mL4pR8kZ3wN6cT1yB5"


def api_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings(
        environment="test",
        secret_key=SECRET,  # type: ignore[arg-type]
        data_dir=data_dir,
        **overrides,  # type: ignore[arg-type]
    )


def make_app(engine: Engine, data_dir: Path, **overrides: object) -> FastAPI:
    """The app with an in-memory ingest sink and a live feed of its own."""
    return create_app(
        api_settings(data_dir, **overrides), engine=engine, live=LiveFeed(), ingest=MemorySink()
    )


def client_for(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


class Databases:
    """Makes migrated databases: copies of a SpatiaLite template file, or PostGIS databases
    from a template database on the session's throwaway cluster (dropped at the end)."""

    def __init__(self, root: Path, postgis_url: str | None = None) -> None:
        self.root = root
        self.template = root / "template.sqlite"
        self._url = make_url(postgis_url) if postgis_url else None
        self._server: Engine | None = None
        self._names: list[str] = []
        if self._url is None:
            engine = make_engine(f"sqlite:///{self.template}")
            upgrade(engine)
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()

    def new(self) -> Engine:
        if self._url is None:
            path = self.root / f"{uuid.uuid4().hex}.sqlite"
            shutil.copyfile(self.template, path)
            return make_engine(f"sqlite:///{path}")
        server = self._postgis(self._url)
        name = f"api_{uuid.uuid4().hex[:12]}"
        with server.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {self._names[0]}")
        self._names.append(name)
        return make_engine(self._url.set(database=name))

    def _postgis(self, url: URL) -> Engine:
        if self._server is None:
            self._server = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
            template = f"api_template_{uuid.uuid4().hex[:8]}"
            with self._server.connect() as connection:
                connection.exec_driver_sql(f"CREATE DATABASE {template}")
            self._names.append(template)
            engine = make_engine(url.set(database=template))
            with engine.begin() as connection:
                connection.exec_driver_sql("CREATE EXTENSION postgis")
            upgrade(engine)
            engine.dispose()
        return self._server

    def close(self) -> None:
        if self._server is None:
            return
        with self._server.connect() as connection:
            for name in reversed(self._names):
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self._server.dispose()


@pytest.fixture(scope="session")
def spatialite_databases(tmp_path_factory: pytest.TempPathFactory) -> Databases:
    return Databases(tmp_path_factory.mktemp("api-db"))


@pytest.fixture(scope="session")
def postgis_databases(
    tmp_path_factory: pytest.TempPathFactory, postgis_url: str
) -> Iterator[Databases]:
    # Depends on postgis_url, so its databases are dropped before the cluster stops.
    databases = Databases(tmp_path_factory.mktemp("api-pg"), postgis_url)
    yield databases
    databases.close()


def new_database(request: pytest.FixtureRequest, backend: str) -> Engine:
    """A fresh migrated database on ``backend`` (its template is made on first use)."""
    databases: Databases = request.getfixturevalue(f"{backend}_databases")
    return databases.new()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A fresh migrated database for this test."""
    engine = new_database(request, request.param)
    yield engine
    engine.dispose()


@pytest.fixture
def app(engine: Engine, tmp_path: Path) -> FastAPI:
    return make_app(engine, tmp_path)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with client_for(app) as test_client:
        yield test_client


@pytest.fixture(scope="module", params=BACKENDS)
def world_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FastAPI, World, Engine]]:
    """One app per module and backend over the world of :mod:`tests.api.world`; tests that
    change rows make their own."""
    engine = new_database(request, request.param)
    # Many deliberate wrong logins from one test client must not be throttled here.
    app = make_app(
        engine,
        tmp_path_factory.mktemp("world"),
        login_max_failures=1_000_000,
        login_max_attempts_per_address=1_000_000,
    )
    yield app, build_world(engine, app.state.settings), engine
    engine.dispose()
