"""The examples in the map's and the demo's docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "maps.aggregate",
    "maps.cache",
    "maps.labels",
    "maps.overview",
    "maps.page",
    "maps.snapshot",
    "maps.vendoring",
    "partymap.chromium",
    "partymap.demo.logs",
    "partymap.seed",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0
