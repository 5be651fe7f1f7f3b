"""The gpsd conformance tests need the corpus next to the checkout; without it they are not
collected (the session header says so)."""

from __future__ import annotations

from tests.conftest import GPSD_ANCHORS

collect_ignore = [] if GPSD_ANCHORS.is_dir() else ["test_conformance.py"]
