"""Replay of recorded NMEA logs: as fast as possible, or paced by the log's own time tags.

Lines starting with ``#`` are comments and are not passed on. Every chunk carries the byte offset
just after its last line (``RawChunk.offset``); after a crash the daemon starts a new replay at
the last offset it committed and gets exactly the lines it had not stored yet. A last line
without a newline ends at the end of the file and is passed on with one added.

Paced replay groups the lines into epochs — the lines from one time tag (GGA, RMC, GNS or ZDA
``hhmmss.ss``) to the next — and releases each epoch when its tag, counted from the first one
and divided by ``speed``, is due. Midnight rollover is followed (tags are read as the nearest
time, forward or back); an epoch whose tag is behind the latest is released at once.

>>> time_tag(b"$GNRMC,235959.50,A,3030.0,N,11418.0,E,0.0,0.0,010526,,,A*00")
86399.5
>>> time_tag(b"$GPGSV,3,1,11,01,40,083,46*7F") is None
True
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from gnss.model import RawChunk
from gnss.nmea.framing import MAX_PENDING
from gnss.sources.base import ChannelSource
from gnss.sources.counters import SourceRejection
from gnss.sources.lines import drop_lines

CHUNK_BYTES = 64 * 1024
_TAGGED = frozenset({b"GGA", b"RMC", b"GNS", b"ZDA"})
_DAY_S = 86400.0


def time_tag(line: bytes) -> float | None:
    """Seconds of the UTC day in the time field of a GGA/RMC/GNS/ZDA line, else None."""
    if line[6:7] != b"," or line[3:6] not in _TAGGED or line[:1] not in (b"$", b"!"):
        return None
    end = line.find(b",", 7)
    field = line[7:end] if end > 0 else b""
    if len(field) < 6 or not field[:6].isdigit():
        return None
    hours, minutes = int(field[0:2]), int(field[2:4])
    try:
        seconds = float(field[4:])
    except ValueError:
        return None
    if hours > 23 or minutes > 59 or not 0 <= seconds < 61:
        return None
    return hours * 3600 + minutes * 60 + seconds


def _is_comment(line: bytes) -> bool:
    return line.startswith(b"#")


def _without_comments(block: bytes) -> bytes:
    if not block.startswith(b"#") and b"\n#" not in block:
        return block
    return drop_lines(block, _is_comment)[0]


class ReplaySource(ChannelSource):
    """The log at ``path`` as ``device_id``, from byte ``start_offset`` (a line start: the offset
    of a chunk already stored). ``speed=None`` replays as fast as the consumer reads; a number
    paces by the log's time tags, ``speed=10`` being ten times real time."""

    def __init__(
        self,
        path: str | Path,
        device_id: str,
        *,
        speed: float | None = None,
        start_offset: int = 0,
        chunk_bytes: int = CHUNK_BYTES,
        queue_size: int = 8,
    ) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be positive, not {speed}")
        if chunk_bytes < MAX_PENDING + 2:  # a longest line, its newline and one byte more
            raise ValueError(f"chunk_bytes must exceed the longest line ({MAX_PENDING}) + 1")
        super().__init__(f"replay:{path}", queue_size=queue_size)
        self.path = Path(path)
        self.device_id = device_id
        self.speed = speed
        self.start_offset = start_offset
        self.chunk_bytes = chunk_bytes

    async def _produce(self) -> None:
        with self.path.open("rb") as log:
            log.seek(self.start_offset)
            self.stats.connections += 1
            blocks = self._blocks(log) if self.speed is None else self._epochs(log)
            clock = asyncio.get_running_loop().time
            started = clock()
            for due_s, data, offset in blocks:
                if due_s > 0:
                    await asyncio.sleep(started + due_s - clock())
                await self._emit(RawChunk(self.device_id, data, time.time(), offset))
                # A fast replay of a large log would otherwise never let the loop run others.
                await asyncio.sleep(0)

    def _blocks(self, log: BinaryIO) -> Iterator[tuple[float, bytes, int]]:
        """``(0, lines, offset)`` blocks of at most ``chunk_bytes``, cut after a newline."""
        offset = self.start_offset
        carry = b""
        # One byte spare for the newline added to an overlong run or an unterminated last line.
        while block := log.read(self.chunk_bytes - 1 - len(carry)):
            self.stats.bytes += len(block)
            data = carry + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) < self.chunk_bytes - 1:  # a short read: the log's unterminated end
                    carry = data
                    continue
                # A run without a newline: out as one overlong line, for the parser to reject.
                self.stats.rejections[SourceRejection.LINE_TOO_LONG] += 1
                offset += len(data)
                carry = b""
                yield 0.0, _without_comments(data + b"\n"), offset
                continue
            offset += cut
            carry = data[cut:]
            yield 0.0, _without_comments(data[:cut]), offset
        if carry:
            yield 0.0, _without_comments(carry + b"\n"), offset + len(carry)

    def _epochs(self, log: BinaryIO) -> Iterator[tuple[float, bytes, int]]:
        """``(due_s, lines, offset)`` per epoch; an epoch larger than ``chunk_bytes`` is cut."""
        assert self.speed is not None
        offset = self.start_offset
        lines: list[bytes] = []
        size = 0
        tag: float | None = None  # the current epoch's
        latest: float | None = None  # the latest tag seen: late epochs do not move it back
        elapsed_s = 0.0
        # readline's limit keeps a newline-less binary run from being read whole.
        while line := log.readline(MAX_PENDING + 1):
            self.stats.bytes += len(line)
            offset += len(line)
            if line.startswith(b"#"):
                continue
            new_tag = time_tag(line)
            if new_tag is not None and new_tag != tag:
                if lines:
                    yield elapsed_s / self.speed, b"".join(lines), offset - len(line)
                    lines, size = [], 0
                if latest is None:
                    latest = new_tag
                else:
                    # The nearest reading across midnight: 23:59:59 → 00:00:00 is a second on.
                    step = (new_tag - latest + _DAY_S / 2) % _DAY_S - _DAY_S / 2
                    if step > 0:
                        latest = new_tag
                        elapsed_s += step
                tag = new_tag
            if not line.endswith(b"\n"):
                if len(line) > MAX_PENDING:
                    self.stats.rejections[SourceRejection.LINE_TOO_LONG] += 1
                line += b"\n"
            lines.append(line)
            size += len(line)
            if size > self.chunk_bytes - MAX_PENDING - 2:  # the next line might not fit
                yield elapsed_s / self.speed, b"".join(lines), offset
                lines, size = [], 0
        if lines:
            yield elapsed_s / self.speed, b"".join(lines), offset
