"""Recorded NMEA logs: gpsd-format test logs and plain captures.

A gpsd-format log starts with ``#`` comment lines (``# Name:``, ``# Chipset:``, ``# Notes:``…) and
may have more between sentences. ``# Delay-Cookie: C N`` says the character C was inserted inside
sentences to mark write boundaries: it is removed before decoding. Comment lines stay in the
stream, where the decoder counts them as ``comment``; a plain capture is the same minus the
header. Lines may end in CRLF or LF.

A large log need not be held whole: :func:`read_pieces` reads it in pieces of whole lines and
:class:`LogTables` decodes them one after the other, each piece's fixes as columns.

>>> data = b"# Name: demo\\n# Delay-Cookie: | 0.01\\n$GPZDA,|120000,01,05,2026,,*49\\n"
>>> header(data)["name"], clean(data).splitlines()[-1]
('demo', b'$GPZDA,120000,01,05,2026,,*49')
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gnss.epoch.batch import BatchDecoder
from gnss.epoch.decoder import Counts, Decoder
from gnss.fixtable import FixTable
from gnss.model import Fix, RawChunk
from gnss.nmea.parser import split_lines

__all__ = [
    "LogFixes",
    "LogTable",
    "LogTables",
    "clean",
    "decode_log",
    "decode_log_table",
    "header",
    "read_log",
    "read_pieces",
]

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
    return _without(_cookie(data), data)


def _cookie(data: bytes) -> bytes | None:
    """The delay cookie the log's header declares, if any."""
    cookie = header(data).get("delay-cookie", "").split()
    return cookie[0].encode() if cookie else None


def _without(mark: bytes | None, data: bytes) -> bytes:
    """``data`` (whole lines) with ``mark`` taken out of every line but comments."""
    if mark is None:
        return data
    lines = data.splitlines(keepends=True)
    return b"".join(line if line.startswith(b"#") else line.replace(mark, b"") for line in lines)


def read_log(path: str | Path) -> bytes:
    """A log file's bytes, ready to decode."""
    return clean(Path(path).read_bytes())


# A character that starts a line after the leading comment block (a line break in CRLF is one).
_PAST_HEADER = re.compile(rb"(?:\A|\n|\r(?!\n))[^#]")


def read_pieces(path: str | Path, size: int = BATCH_BYTES) -> Iterator[bytes]:
    """The bytes :func:`read_log` gives, in pieces of whole lines of about ``size`` bytes (a
    longer line makes a longer piece), so that no more than that is held at once. Cut after a
    line feed: a piece's lines split as they do in the whole log.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(suffix=".nmea") as log:
    ...     _ = log.write(b"# Delay-Cookie: | 0.01\\n" + b"$GPZDA,|120000,01,05,2026,,*49\\n" * 4)
    ...     _ = log.flush()
    ...     pieces = list(read_pieces(log.name, size=40))
    ...     len(pieces), b"".join(pieces) == read_log(log.name)
    (4, True)
    """
    with Path(path).open("rb") as file:
        carry = file.read(size)
        # The delay cookie is declared in the header: read the whole header before the first cut.
        while carry and not _PAST_HEADER.search(carry):
            more = file.read(size)
            if not more:
                break
            carry += more
        mark = _cookie(carry)
        while more := file.read(size):
            cut = carry.rfind(b"\n") + 1
            if cut:  # else a line longer than the piece so far: read on
                yield _without(mark, carry[:cut])
                carry = carry[cut:]
            carry += more
        if carry:
            yield _without(mark, carry)


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
    tables = LogTables(data[start:cut] for start, cut in _batches(data))
    return LogTable(FixTable.concat(list(tables)), tables.counts)


class LogTables:
    """A log's fixes as columns, decoded on the batch path one piece of whole lines at a time
    (:func:`read_pieces`): an iterable of tables, then the log's :attr:`counts`.

    >>> pieces = [b"$GPZDA,120000,01,05,2026,,*49\\n", b"$GPZDA,120001,01,05,2026,,*48\\n"]
    >>> tables = LogTables(pieces)
    >>> sum(len(t) for t in tables), tables.counts.fixes
    (2, 2)
    """

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = pieces
        self._decoder = BatchDecoder(arrival_times=False)

    def __iter__(self) -> Iterator[FixTable]:
        for piece in self._pieces:
            table = self._decoder.decode_table([RawChunk("log", piece, 0.0)]).table
            if len(table):
                yield table
        last = self._decoder.flush().get("log", [])  # a log's end closes its last epoch
        if last:
            yield FixTable.from_fixes(last, np.zeros(len(last), np.int64))

    @property
    def counts(self) -> Counts:
        """What became of the lines read so far (all of them once the tables are read)."""
        return self._decoder.totals.get("log", Counts())


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
