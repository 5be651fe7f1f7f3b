"""The examples in the JT/T 808 modules' docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "devkit.jt808",
    "gnss.jt808.codec",
    "gnss.jt808.framing",
    "gnss.jt808.header",
    "gnss.jt808.layout",
    "gnss.jt808.location",
    "gnss.jt808.messages",
    "gnss.jt808.reasons",
    "gnss.jt808.session",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
