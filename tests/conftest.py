"""Session-wide test resources: the throwaway PostGIS cluster and Mosquitto broker, and the
gpsd conformance corpus when it is present next to the checkout. On several workers
(``pytest -n 2``) each worker has its own servers, directories and ports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.services import share_ports, throwaway_mosquitto, throwaway_postgis

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
GPSD_ANCHORS = Path(
    os.environ.get("PARTYMAP_GPSD_ANCHORS", ROOT.parent / "shared" / "anchors" / "gpsd")
)


def pytest_configure(config: pytest.Config) -> None:
    # On several workers (pytest-xdist sets these), each starts its own servers: give each its
    # own ports, so that none takes a port another's server is about to bind or rebind.
    if worker := os.environ.get("PYTEST_XDIST_WORKER"):
        share_ports(int(worker.removeprefix("gw")), int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, which may not be installed
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadfile``, except that the map's tests all run on one worker: the browser
    tests share one demo server whose data they change, so they run in the order a single
    process runs them."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling  # noqa: PLC0415 - pytest-xdist is optional

    class MapsTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "tests/maps" if path.startswith("tests/maps/") else path

    return MapsTogether(config, log)


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
