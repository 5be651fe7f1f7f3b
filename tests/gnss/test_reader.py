"""Log files: gpsd-format headers, delay cookies, both decode paths."""

from __future__ import annotations

import pytest

from gnss.logs.reader import clean, decode_log, header, read_log
from tests.conftest import FIXTURES

from .helpers import nmea


def test_header_fields() -> None:
    data = b"# Name: X\n# Chipset = CASIC\n#\n# Notes: one\n$GPZDA*00\n# Later: not header\n"
    assert header(data) == {"name": "X", "chipset": "CASIC", "notes": "one"}


def test_the_delay_cookie_is_taken_out_of_sentences_only() -> None:
    zda = nmea("GPZDA,120000,01,05,2026,,")
    data = b"# Delay-Cookie: | 0.01\n# a | comment\n" + zda[:8] + b"|" + zda[8:] + b"\n"
    assert clean(data).splitlines() == [b"# Delay-Cookie: | 0.01", b"# a | comment", zda]
    assert clean(b"# Name: X\n$A|B\n") == b"# Name: X\n$A|B\n"


def test_both_paths_decode_a_log_alike() -> None:
    data = read_log(FIXTURES / "nmea" / "broken.nmea")
    fast, reference = decode_log(data), decode_log(data, fast=True)
    assert fast == reference
    assert decode_log(data, fast=False) == fast


def test_an_empty_log() -> None:
    decoded = decode_log(b"")
    assert decoded.fixes == [] and decoded.counts.lines == 0


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_the_header_is_the_leading_comment_block_whatever_the_line_ending(ending: bytes) -> None:
    lines = [b"# Name: demo", b"# Notes: x", b"$GPZDA,120000,01,05,2026,,*49", b"# Later: no"]
    assert header(ending.join(lines) + ending) == {"name": "demo", "notes": "x"}
