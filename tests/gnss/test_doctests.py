"""The examples in the GNSS layer's docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "gnss.accuracy",
    "gnss.assemble",
    "gnss.decoder",
    "gnss.epoch",
    "gnss.export",
    "gnss.fast",
    "gnss.fastdecode",
    "gnss.fastfields",
    "gnss.families",
    "gnss.fastlines",
    "gnss.fields",
    "gnss.handlers",
    "gnss.jit",
    "gnss.nmea",
    "gnss.reader",
    "gnss.receivers",
    "gnss.sentences",
    "gnss.simulate",
    "gnss.sky",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0
