"""Framing helpers shared by the sources: complete lines out of reads, lines dropped by kind.

>>> drop_heartbeats(b"HB\\r\\n$GPGGA,1*00\\r\\n")
(b'$GPGGA,1*00\\r\\n', 1)
"""

from __future__ import annotations

from collections.abc import Callable

from gnss.nmea.framing import LineBuffer
from gnss.sources.counters import SourceRejection, SourceStats


def complete_lines(buffer: LineBuffer, data: bytes, stats: SourceStats) -> bytes:
    """The complete lines of ``buffer``'s held-back bytes + ``data``, counting overlong lines.

    A run longer than :data:`gnss.nmea.framing.MAX_PENDING` without a newline comes out as one line
    (with a newline added) for the parser to reject; :class:`LineBuffer` marks it by that newline.
    """
    before = buffer.pending
    block = buffer.take_complete(data)
    if len(block) + buffer.pending != before + len(data):
        stats.rejections[SourceRejection.LINE_TOO_LONG] += 1
    return block


def drop_partial_line(buffer: LineBuffer, stats: SourceStats) -> None:
    """The stream ended: a held-back fragment can never be completed, so count and drop it."""
    if buffer.flush():
        stats.rejections[SourceRejection.PARTIAL_LINE] += 1


# A device-to-server heartbeat line of the TCP protocol: proves the link alive, carries nothing.
HEARTBEAT = b"HB"


def drop_lines(block: bytes, unwanted: Callable[[bytes], bool]) -> tuple[bytes, int]:
    """``block`` (complete lines) without the lines (newline excluded) that are ``unwanted``,
    and how many were dropped."""
    lines = block.split(b"\n")[:-1]
    kept = [line for line in lines if not unwanted(line)]
    if len(kept) == len(lines):
        return block, 0
    return b"".join(line + b"\n" for line in kept), len(lines) - len(kept)


def _is_heartbeat(line: bytes) -> bool:
    return line.rstrip(b"\r") == HEARTBEAT


def drop_heartbeats(block: bytes) -> tuple[bytes, int]:
    """``block`` (complete lines) without its ``HB`` lines, and how many there were."""
    if HEARTBEAT not in block:
        return block, 0
    return drop_lines(block, _is_heartbeat)
