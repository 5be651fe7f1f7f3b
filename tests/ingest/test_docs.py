"""The examples in the ingestion modules' docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "partymap.ingest.batching",
    "partymap.ingest.metrics",
    "partymap.ingest.offsets",
    "partymap.ingest.sources",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert (result.attempted > 0, result.failed) == (True, 0)
