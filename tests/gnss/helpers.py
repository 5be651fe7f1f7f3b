"""Small builders shared by the GNSS tests."""

from __future__ import annotations

from functools import reduce
from operator import xor

from gnss.epoch.decoder import Decoder
from gnss.model import Fix


def nmea(body: str) -> bytes:
    """``$body*hh`` with the right checksum."""
    return f"${body}*{reduce(xor, body.encode(), 0):02X}".encode()


def decode(*lines: bytes, received_at: float | None = None) -> tuple[list[Fix], Decoder]:
    """Every fix of the lines on the reference path, the last epoch flushed."""
    decoder = Decoder()
    fixes = decoder.feed_lines(lines, received_at)
    return fixes + decoder.flush(), decoder
