"""The examples in the store's docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "store.db",
    "store.live",
    "store.meetings",
    "store.orgs",
    "store.positions",
    "store.query",
    "store.types",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0
