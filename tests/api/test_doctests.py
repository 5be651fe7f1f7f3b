"""The examples in the API's docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "api.app",
    "api.auth",
    "api.encode",
    "api.exports",
    "api.formats",
    "api.geojson",
    "api.ingest",
    "api.principal",
    "api.schemas.common",
    "api.xlsx",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0
