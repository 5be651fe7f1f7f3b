"""Turning a byte stream into lines: a partial last line is held back until the next read.

>>> buf = LineBuffer()
>>> buf.feed(b"$GPGGA,1*00\\r\\n$GPR")
[b'$GPGGA,1*00']
>>> buf.feed(b"MC,2*00\\n")
[b'$GPRMC,2*00']
"""

from __future__ import annotations

# Longer than any NMEA sentence (82 bytes by the standard, ~120 in the wild) by far; a run of
# bytes this long without a newline is binary protocol or garbage and is passed on to be rejected
# rather than buffered without bound.
MAX_PENDING = 4096


class LineBuffer:
    """Splits reads on ``\\n`` (dropping a trailing ``\\r``), keeping a partial line for later."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[bytes]:
        data = self._pending + data
        head, sep, tail = data.rpartition(b"\n")
        if not sep:
            if len(data) > MAX_PENDING:
                self._pending = b""
                return [data]
            self._pending = data
            return []
        self._pending = tail if len(tail) <= MAX_PENDING else b""
        lines = [line[:-1] if line.endswith(b"\r") else line for line in head.split(b"\n")]
        if len(tail) > MAX_PENDING:
            lines.append(tail)
        return lines

    def take_complete(self, data: bytes) -> bytes:
        """Like :meth:`feed` but returns the complete lines as one block, newlines kept."""
        data = self._pending + data
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) > MAX_PENDING:
            self._pending = b""
            return data + b"\n"
        self._pending = data[cut:]
        if len(self._pending) > MAX_PENDING:
            self._pending = b""
            return data + b"\n"
        return data[:cut]

    def flush(self) -> list[bytes]:
        """The held-back partial line, if any (at end of stream)."""
        pending, self._pending = self._pending, b""
        return [pending] if pending else []

    @property
    def pending(self) -> int:
        return len(self._pending)
