"""The reference path for one device: lines in, fixes out, every line counted.

:class:`Decoder` strings together :func:`gnss.nmea.parser.parse_line`, :func:`gnss.epoch.rules.push`
and :func:`gnss.epoch.rules.summarize`. It is small and sequential on purpose: it defines what the
fast path (:mod:`gnss.epoch.batch`) must reproduce.

>>> decoder = Decoder()
>>> fixes = decoder.feed_chunk(RawChunk("dev-1", b"\\n".join([
...     b"$GPGGA,120000,3030.0000,N,11415.0000,E,1,08,0.9,21.0,M,,M,,*6D",
...     b"$GPRMC,120000,A,3030.0000,N,11415.0000,E,0.0,,010526,,,A*5D",
...     b"$GPTXT,01,01,02,ANTSTATUS=OK*3B", b"garbage"]), received_at=0.0))
>>> fixes + decoder.flush()  # doctest: +ELLIPSIS
[Fix(time=datetime.datetime(2026, 5, 1, 12, 0, tzinfo=datetime.timezone.utc), lat=30.5, ...)]
>>> decoder.counts.accepted, dict(decoder.counts.rejected)
(3, {'framing': 1})
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from gnss.epoch.assemble import EpochLoss
from gnss.epoch.rules import DeviceState, Item, flush, push, summarize
from gnss.model import Fix, RawChunk
from gnss.nmea.parser import parse, pieces, split_lines
from gnss.nmea.sentences import Rejection

__all__ = ["Counts", "Decoder", "decode_lines"]

_WHITESPACE = b" \t\r\n\x0b\x0c"


@dataclass(slots=True)
class Counts:
    """What became of a device's lines and epochs.

    ``lines`` counts framed sentences: a line, or each piece of a line in which a receiver glued
    sentences together. Every one is either accepted or rejected with a reason, so
    ``accepted + rejected_total == lines`` always holds.
    """

    lines: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    fixes: int = 0
    untimed_epochs: int = 0  # epochs no sentence gave a time of day (cold start)
    undated_epochs: int = 0  # epochs with a time but no date and no arrival time

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def add(self, other: Counts) -> None:
        self.lines += other.lines
        self.accepted += other.accepted
        self.rejected.update(other.rejected)
        self.fixes += other.fixes
        self.untimed_epochs += other.untimed_epochs
        self.undated_epochs += other.undated_epochs

    def summary(self) -> str:
        """Two lines for people: lines by outcome and reason, then epochs by outcome."""
        reasons = ", ".join(f"{name} {n}" for name, n in sorted(self.rejected.items()))
        rejected = f"{self.rejected_total} rejected" + (f" ({reasons})" if reasons else "")
        return (
            f"lines: {self.lines} read, {self.accepted} accepted, {rejected}\n"
            f"epochs: {self.fixes} fixes, {self.untimed_epochs} without a time, "
            f"{self.undated_epochs} without a date"
        )


class Decoder:
    """Decodes one device's stream on the reference path."""

    __slots__ = ("counts", "state")

    def __init__(self, state: DeviceState | None = None, counts: Counts | None = None) -> None:
        self.state = state if state is not None else DeviceState()
        self.counts = counts if counts is not None else Counts()

    def feed(
        self, line: bytes, received_at: float | None = None, *, counted: bool = True
    ) -> list[Fix]:
        """One received line (without its line ending). ``counted=False``: the line was already
        counted (an open epoch handed over by the fast path)."""
        fixes: list[Fix] = []
        if self.state.pending_raw:
            self._resume(fixes)
        self._line(line, received_at, fixes, count=counted)
        return fixes

    def feed_chunk(self, chunk: RawChunk) -> list[Fix]:
        """A chunk of complete lines, stamped with its arrival time."""
        return self.feed_lines(split_lines(chunk.data), chunk.received_at)

    def feed_lines(self, lines: Iterable[bytes], received_at: float | None = None) -> list[Fix]:
        fixes: list[Fix] = []
        if self.state.pending_raw:
            self._resume(fixes)
        for line in lines:
            self._line(line, received_at, fixes, count=True)
        return fixes

    def flush(self) -> list[Fix]:
        """Closes the open epoch (end of a log, or the device went away)."""
        fixes: list[Fix] = []
        if self.state.pending_raw:
            self._resume(fixes)
        for items in flush(self.state):
            self._epoch(items, fixes)
        return fixes

    def _resume(self, fixes: list[Fix]) -> None:
        # The fast path left an open epoch as raw lines, already counted: parse them again.
        raw, received_at = self.state.pending_raw, self.state.pending_raw_received_at
        self.state.pending_raw, self.state.pending_raw_received_at = b"", None
        for line in split_lines(raw):
            self._line(line, received_at, fixes, count=False)

    def _line(self, line: bytes, received_at: float | None, fixes: list[Fix], count: bool) -> None:
        counts = self.counts
        for piece in pieces(line):
            outcome = parse(piece)
            if count:
                counts.lines += 1
                if isinstance(outcome, Rejection):
                    counts.rejected[outcome.reason.value] += 1
                else:
                    counts.accepted += 1
            for items in push(self.state, outcome, piece.strip(_WHITESPACE), received_at):
                self._epoch(items, fixes)

    def _epoch(self, items: list[Item], fixes: list[Fix]) -> None:
        result = summarize(self.state.memory, items)
        if result is EpochLoss.UNTIMED:
            self.counts.untimed_epochs += 1
        elif result is EpochLoss.UNDATED:
            self.counts.undated_epochs += 1
        elif isinstance(result, Fix):
            self.counts.fixes += 1
            fixes.append(result)


def decode_lines(lines: Iterable[bytes], decoder: Decoder | None = None) -> Iterator[Fix]:
    """Every fix of a finite stream of lines, the last epoch included."""
    decoder = decoder if decoder is not None else Decoder()
    for line in lines:
        yield from decoder.feed(line)
    yield from decoder.flush()
