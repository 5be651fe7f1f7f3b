"""Map fixtures: the store tests' databases (every test on SpatiaLite and on PostGIS) and the
demo organisation seeded in them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from partymap.seed import SeededDemo, seed_demo

# The browser tests' demo server, Chromium and pages, shared by every browser test.
from tests.maps.browser import browser, open_map, server  # noqa: F401

# The store tests' fixtures, reused: a migrated database per test on each backend.
from tests.store.conftest import (  # noqa: F401
    backend,
    db,
    postgis_engine,
    postgis_server,
    scratch_postgis,
    spatialite_template,
)

NOW = datetime(2026, 5, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def demo(db: Session) -> SeededDemo:  # noqa: F811
    """The demo organisation, its live part starting at ``NOW``."""
    seeded = seed_demo(db, live_start=NOW)
    db.commit()
    return seeded
