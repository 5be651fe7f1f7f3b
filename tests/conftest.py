"""Session-wide test resources: the throwaway PostGIS cluster and Mosquitto broker, and the
gpsd conformance corpus when it is present next to the checkout."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.services import throwaway_mosquitto, throwaway_postgis

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
GPSD_ANCHORS = Path(
    os.environ.get("PARTYMAP_GPSD_ANCHORS", ROOT.parent / "shared" / "anchors" / "gpsd")
)


@pytest.fixture(scope="session")
def postgis_url() -> Iterator[str]:
    """URL of a PostGIS database private to this test session (PARTYMAP_TEST_POSTGIS_URL
    points the tests at an existing one instead)."""
    if url := os.environ.get("PARTYMAP_TEST_POSTGIS_URL"):
        yield url
        return
    with throwaway_postgis() as url:
        yield url


@pytest.fixture(scope="session")
def mqtt_broker() -> Iterator[tuple[str, int]]:
    """(host, port) of a Mosquitto broker private to this test session."""
    with throwaway_mosquitto() as address:
        yield address


def pytest_report_header() -> list[str]:
    if GPSD_ANCHORS.is_dir():
        return [f"gpsd conformance corpus: {GPSD_ANCHORS}"]
    return [f"gpsd conformance corpus: absent ({GPSD_ANCHORS}); conformance tests not collected"]
