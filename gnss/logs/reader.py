"""Recorded NMEA logs: gpsd-format test logs and plain captures.

A gpsd-format log starts with ``#`` comment lines (``# Name:``, ``# Chipset:``, ``# Notes:``…) and
may have more between sentences. ``# Delay-Cookie: C N`` says the character C was inserted inside
sentences to mark write boundaries: it is removed before decoding. Comment lines stay in the
stream, where the decoder counts them as ``comment``; a plain capture is the same minus the
header. Lines may end in CRLF or LF.

>>> data = b"# Name: demo\\n# Delay-Cookie: | 0.01\\n$GPZDA,|120000,01,05,2026,,*49\\n"
>>> header(data)["name"], clean(data).splitlines()[-1]
('demo', b'$GPZDA,120000,01,05,2026,,*49')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gnss.epoch.batch import BatchDecoder
from gnss.epoch.decoder import Counts, Decoder
from gnss.fixtable import FixTable
from gnss.model import Fix, RawChunk
from gnss.nmea.parser import split_lines

__all__ = ["LogFixes", "LogTable", "clean", "decode_log", "decode_log_table", "header", "read_log"]

# Fast-path batches for a log: about 20,000 lines (DESIGN §1 micro-batches).
BATCH_BYTES = 1 << 20

_HEADER = re.compile(rb"#\s*([A-Za-z][\w -]*?)\s*[:=]\s*(.*?)\s*\Z")


def header(data: bytes) -> dict[str, str]:
    """The ``Key: value`` (or ``Key = value``) lines of the leading comment block, keys lowered."""
    found: dict[str, str] = {}
    for line in _leading_comments(data):
        match = _HEADER.match(line)
        if match:
            key = match[1].decode("ascii", "replace").strip().lower()
            found.setdefault(key, match[2].decode("utf-8", "replace"))
    return found


def _leading_comments(data: bytes) -> list[bytes]:
    """The ``#`` lines a log starts with (without splitting the rest of a large log)."""
    lines: list[bytes] = []
    start = 0
    while data.startswith(b"#", start):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        for line in data[start:end].splitlines():  # a lone CR ends a line too
            if not line.startswith(b"#"):
                return lines
            lines.append(line)
        start = end
    return lines


def clean(data: bytes) -> bytes:
    """The log with its delay cookie (if it declares one) taken out of every sentence."""
    cookie = header(data).get("delay-cookie", "").split()
    if not cookie:
        return data
    mark = cookie[0].encode()
    lines = data.splitlines(keepends=True)
    return b"".join(line if line.startswith(b"#") else line.replace(mark, b"") for line in lines)


def read_log(path: str | Path) -> bytes:
    """A log file's bytes, ready to decode."""
    return clean(Path(path).read_bytes())


@dataclass(frozen=True, slots=True)
class LogFixes:
    """Every fix of a log, and what became of its lines."""

    fixes: list[Fix]
    counts: Counts


@dataclass(frozen=True, slots=True)
class LogTable:
    """Every fix of a log as columns, and what became of its lines."""

    table: FixTable
    counts: Counts


def decode_log(data: bytes, *, fast: bool = True) -> LogFixes:
    """Decodes a whole log (already :func:`clean`), its last epoch included. A log's lines carry
    no arrival time, so fixes have no ``received_at`` and a receiver that never sends a date
    (GGA only) yields no fixes, only ``undated`` epochs.

    >>> decode_log(b"$GPZDA,120000,01,05,2026,,*49\\n").counts.fixes
    1
    """
    if not fast:
        decoder = Decoder()
        fixes = decoder.feed_lines(split_lines(data))
        return LogFixes(fixes + decoder.flush(), decoder.counts)
    batches = BatchDecoder(arrival_times=False)
    fixes = []
    for start, cut in _batches(data):
        fixes += batches.decode([RawChunk("log", data[start:cut], 0.0)]).fixes["log"]
    fixes += batches.flush().get("log", [])
    return LogFixes(fixes, batches.totals.get("log", Counts()))


def decode_log_table(data: bytes) -> LogTable:
    """:func:`decode_log` on the batch path, its fixes kept as columns from end to end.

    >>> decoded = decode_log_table(b"$GPZDA,120000,01,05,2026,,*49\\n")
    >>> decoded.table.time_us.tolist(), decoded.counts.fixes
    ([1777636800000000], 1)
    """
    batches = BatchDecoder(arrival_times=False)
    tables = []
    for start, cut in _batches(data):
        tables.append(batches.decode_table([RawChunk("log", data[start:cut], 0.0)]).table)
    last = batches.flush().get("log", [])
    tables.append(FixTable.from_fixes(last, np.zeros(len(last), np.int64)))
    return LogTable(FixTable.concat(tables), batches.totals.get("log", Counts()))


def _batches(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each batch of a log: whole lines, about :data:`BATCH_BYTES` each."""
    spans = []
    start = 0
    while start < len(data):
        cut = data.rfind(b"\n", start, start + BATCH_BYTES) + 1
        if cut <= start or start + BATCH_BYTES >= len(data):
            cut = len(data)
        spans.append((start, cut))
        start = cut
    return spans
