"""Cluster drills: a throwaway 3-node NATS cluster per test, and migrated PostGIS databases of
their own on the session's test cluster (dropped at the end)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from devkit.nats import NatsCluster
from store.db import make_engine
from store.migrations import upgrade


@pytest.fixture
def nats_cluster() -> Iterator[NatsCluster]:
    with NatsCluster() as cluster:
        yield cluster


class ClusterDatabases:
    """Migrated PostGIS databases made on demand."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.server = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def create(self) -> str:
        name = f"cluster_{uuid.uuid4().hex[:10]}"
        with self.server.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        self.names.append(name)
        url = make_url(self.url).set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE EXTENSION postgis")
        upgrade(engine)
        engine.dispose()
        return url

    def drop_all(self) -> None:
        with self.server.connect() as connection:
            for name in self.names:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.server.dispose()


@pytest.fixture(scope="session")
def cluster_databases(postgis_url: str) -> Iterator[ClusterDatabases]:
    databases = ClusterDatabases(postgis_url)
    yield databases
    databases.drop_all()
