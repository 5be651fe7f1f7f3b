"""Resume points of replayed logs: the byte offset from which nothing is stored yet.

A replayed chunk ends at a known byte offset of its log, but the decoder keeps the log's last
epoch open until it sees the next one begin, so the chunk's end is not yet safe to commit: its
open epoch is not stored. The safe offset is the start of the first line of that open epoch.
:class:`ResumePoints` keeps, per replayed stream, the bytes received since the last safe offset
and finds where the open epoch begins in them, walking back over the lines for the epoch's own
lines (a line that glues several sentences holds several of them; rejected lines in between
are skipped, and read again after a restart — counted twice, stored never).

>>> points = ResumePoints()
>>> points.start("log:dev-1", "dev-1", offset=100)
>>> lines = b"$GPGGA,1*00\\r\\n$GPRMC,1*00\\r\\n$GPGGA,2*00\\r\\n"
>>> points.received(RawChunk("dev-1", lines, 0.0, 139))
>>> points.settle("dev-1", [b"$GPGGA,2*00"])
('log:dev-1', 126)
>>> points.settle("dev-1", [])
('log:dev-1', 139)

Offsets are exact unless ``#`` comment lines (which replays drop) sit after the open epoch's
first line within one chunk; recorded logs keep their comments in the header.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gnss.model import RawChunk


@dataclass(slots=True)
class _Stream:
    key: str  # what the offset is committed under
    safe: int  # the last safe offset
    chunks: list[tuple[bytes, int]] = field(default_factory=list)  # (data, end offset) since


class ResumePoints:
    """Safe resume offsets of the replayed streams, by device id."""

    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}

    def __contains__(self, device_id: str) -> bool:
        return device_id in self._streams

    def start(self, key: str, device_id: str, *, offset: int) -> None:
        self._streams[device_id] = _Stream(key, offset)

    def received(self, chunk: RawChunk) -> None:
        stream = self._streams.get(chunk.device_id)
        if stream is not None and chunk.offset is not None:
            stream.chunks.append((chunk.data, chunk.offset))

    def settle(self, device_id: str, open_lines: list[bytes]) -> tuple[str, int]:
        """(key, safe offset) once the decoder left ``open_lines`` (without line endings) open."""
        stream = self._streams[device_id]
        if not stream.chunks:
            return stream.key, stream.safe
        if not open_lines:
            stream.safe = stream.chunks[-1][1]
            stream.chunks.clear()
            return stream.key, stream.safe
        found = _find_open_epoch(stream.chunks, open_lines)
        if found is None:
            # Cannot happen while the decoder's open epoch came from these bytes; keeping the
            # last safe offset then stores nothing twice that was not stored once.
            return stream.key, stream.safe
        k, pos = found
        data, end = stream.chunks[k]
        stream.safe = end - (len(data) - pos)
        stream.chunks[k : k + 1] = [(data[pos:], end)]
        del stream.chunks[:k]
        return stream.key, stream.safe


def _find_open_epoch(
    chunks: list[tuple[bytes, int]], open_lines: list[bytes]
) -> tuple[int, int] | None:
    """(chunk index, byte position) of the first open line, matched backwards from the end."""
    j = len(open_lines) - 1
    for k in range(len(chunks) - 1, -1, -1):
        data = chunks[k][0]
        end = len(data)
        while end > 0:
            start = data.rfind(b"\n", 0, end - 1) + 1
            line = data[start:end]
            while j >= 0 and open_lines[j] and open_lines[j] in line:
                j -= 1
            if j < 0:
                return k, start
            end = start
    return None
