"""Cluster drills: a throwaway 3-node NATS cluster per test, PostGIS databases cloned from the
ingestion tests' migrated template."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devkit.nats import NatsCluster
from tests.ingest.conftest import postgis_databases  # noqa: F401 (a fixture, shared)


@pytest.fixture
def nats_cluster() -> Iterator[NatsCluster]:
    with NatsCluster() as cluster:
        yield cluster
