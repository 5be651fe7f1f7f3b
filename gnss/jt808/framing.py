"""JT/T 808 framing: 0x7e flags, 0x7d escapes and the XOR check code, for one frame and for a
TCP stream cut anywhere.

On the wire a frame is ``7e <escaped: header, body, check code> 7e``. The sender computes the
check code (XOR of every header and body byte), appends it and escapes 0x7e as ``7d 02`` and 0x7d
as ``7d 01``; the receiver undoes the escapes, verifies the check code and only then parses. The
standard's own example (JT/T 808 §4.4.2: ``30 7e 08 7d 55`` is sent as
``7e 30 7d 02 08 7d 01 55 7e``):

>>> escape(bytes.fromhex("307e087d55")).hex(" ")
'30 7d 02 08 7d 01 55'
>>> wrap(bytes.fromhex("00020000012345678900000a")).hex()
'7e00020000012345678900000a817e'
>>> unwrap(bytes.fromhex("00020000012345678900000a81")).hex()
'00020000012345678900000a'

A stream is cut at every flag, so back-to-back frames (``…7e7e…``) need no care and a damaged
frame costs only itself; what lies between two flags is one frame, accepted or refused:

>>> deframer = Deframer()
>>> out = deframer.feed(bytes.fromhex("ffff7e00020000012345678900000a817e7e0002"))
>>> out[0].reason, out[1].hex(), deframer.pending
(<FrameReason.FRAMING: 'framing'>, '00020000012345678900000a', 2)
>>> deframer.feed(bytes.fromhex("0000012345678900000a807e"))[0].reason
<FrameReason.CHECKSUM: 'checksum'>
"""

from __future__ import annotations

from gnss.jt808.reasons import KEPT_BYTES, FrameReason, FrameRejection

__all__ = [
    "FLAG",
    "MAX_ESCAPED",
    "MAX_PAYLOAD",
    "MIN_PAYLOAD",
    "Deframer",
    "check_code",
    "escape",
    "lenient_unescape",
    "unescape",
    "unwrap",
    "wrap",
]

FLAG = 0x7E
_FLAG = b"\x7e"
_ESC = b"\x7d"
# The longest header (2019, sub-packaged: 17 bytes), the longest body the 10-bit length field
# allows (1023) and the check code; escaped, every byte may double.
MAX_PAYLOAD = 17 + 1023
MAX_ESCAPED = 2 * (MAX_PAYLOAD + 1)
# The shortest header (2011/2013: 12 bytes) and the check code.
MIN_PAYLOAD = 12


def check_code(data: bytes) -> int:
    """XOR of every byte: folds the bytes as one integer, halving its width each round.

    >>> check_code(b"\\x01\\x02\\x04"), check_code(b"")
    (7, 0)
    """
    value = int.from_bytes(data, "little")
    width = len(data)
    while width > 1:
        half = (width + 1) // 2
        value = (value >> (8 * half)) ^ (value & ((1 << (8 * half)) - 1))
        width = half
    return value


def escape(data: bytes) -> bytes:
    """0x7d → ``7d 01`` first, then 0x7e → ``7d 02`` (the other order would escape twice)."""
    return data.replace(_ESC, b"\x7d\x01").replace(_FLAG, b"\x7d\x02")


def unescape(data: bytes) -> bytes | None:
    """The escaped bytes restored, or None when a 0x7d is not followed by 0x01 or 0x02.

    Every valid escape starts at its own 0x7d, so the escapes are valid exactly when 0x7d
    occurs as often as ``7d 01`` and ``7d 02`` together.

    >>> unescape(b"\\x30\\x7d\\x02\\x08\\x7d\\x01\\x55").hex(" "), unescape(b"\\x7d\\x03")
    ('30 7e 08 7d 55', None)
    """
    if _ESC not in data:
        return data
    if data.count(_ESC) != data.count(b"\x7d\x01") + data.count(b"\x7d\x02"):
        return None
    return lenient_unescape(data)


def lenient_unescape(data: bytes) -> bytes:
    """The valid escapes restored and stray 0x7d bytes kept: enough to read the header of a
    frame refused for its escapes, so that the terminal can be told (never used to accept)."""
    return data.replace(b"\x7d\x02", _FLAG).replace(b"\x7d\x01", _ESC)


def wrap(message: bytes) -> bytes:
    """A frame for ``message`` (header and body): check code appended, escaped, flagged."""
    return _FLAG + escape(message + bytes((check_code(message),))) + _FLAG


def unwrap(escaped: bytes) -> bytes | FrameRejection:
    """Header and body of what lay between two flags, check code verified and removed."""
    raw = unescape(escaped)
    if raw is None:
        return FrameRejection(FrameReason.ESCAPE, escaped[:KEPT_BYTES])
    if len(raw) < MIN_PAYLOAD + 1:
        return FrameRejection(FrameReason.TOO_SHORT, escaped[:KEPT_BYTES])
    if check_code(raw) != 0:  # the check code XORs the rest to zero
        return FrameRejection(FrameReason.CHECKSUM, escaped[:KEPT_BYTES])
    return raw[:-1]


class Deframer:
    """Cuts a byte stream into frames at 0x7e flags, holding back an unfinished frame.

    ``feed`` returns, in order, each frame completed by the bytes given: its header and body
    (escapes undone, check code verified and removed) or a :class:`FrameRejection`. Bytes before the
    stream's first flag are one ``framing`` rejection; a run longer than any frame before the
    next flag is one ``too_long`` rejection and is not buffered; ``flush`` at the end of the
    stream turns an unfinished frame into a ``truncated`` rejection. Empty runs between flags
    are not frames. However the stream is cut into reads, the outcomes are the same.
    """

    __slots__ = ("_overflow", "_pending", "_started")

    def __init__(self) -> None:
        self._pending = b""  # the open run since the last flag (or since the stream began)
        self._started = False  # a flag has been seen
        self._overflow = False  # the open run grew past MAX_ESCAPED and is being skipped

    def feed(self, data: bytes) -> list[bytes | FrameRejection]:
        return [run if isinstance(run, FrameRejection) else unwrap(run) for run in self.runs(data)]

    def runs(self, data: bytes) -> list[bytes | FrameRejection]:
        """As :meth:`feed`, but each frame as it lay between its flags (still escaped, its
        check code not yet verified: :func:`unwrap` does both)."""
        if _FLAG not in data:
            self._extend(data)
            return []
        runs = data.split(_FLAG)
        out: list[bytes | FrameRejection] = []
        first = self._close(runs[0])
        if first is not None:
            out.append(first)
        self._started = True
        for run in runs[1:-1]:
            if run:
                out.append(_run(run))
        self._pending, self._overflow = b"", False
        self._extend(runs[-1])
        return out

    def flush(self) -> list[FrameRejection]:
        """The end of the stream: an unfinished frame (or leading garbage) is refused."""
        pending, overflow, started = self._pending, self._overflow, self._started
        self._pending, self._overflow = b"", False
        if not pending:
            return []
        if not started:
            return [FrameRejection(FrameReason.FRAMING, pending[:KEPT_BYTES], "no flag at all")]
        if overflow:
            return [FrameRejection(FrameReason.TOO_LONG, pending)]
        detail = "stream ended before a closing flag"
        return [FrameRejection(FrameReason.TRUNCATED, pending[:KEPT_BYTES], detail)]

    @property
    def pending(self) -> int:
        """Bytes held back (at most :data:`MAX_ESCAPED`)."""
        return len(self._pending)

    def _extend(self, data: bytes) -> None:
        if self._overflow:
            return
        self._pending += data
        if len(self._pending) > MAX_ESCAPED:
            self._pending = self._pending[:KEPT_BYTES]
            self._overflow = True

    def _close(self, tail: bytes) -> FrameRejection | bytes | None:
        """The open run, completed by ``tail`` and closed by a flag. (An overflowed run kept
        only its first bytes, which is all a rejection keeps of any run.)"""
        if not self._started:
            run = (self._pending + tail)[:KEPT_BYTES]
            return (
                FrameRejection(FrameReason.FRAMING, run, "before the first flag") if run else None
            )
        if self._overflow:
            return FrameRejection(FrameReason.TOO_LONG, self._pending)
        run = self._pending + tail
        return _run(run) if run else None


def _run(run: bytes) -> bytes | FrameRejection:
    if len(run) > MAX_ESCAPED:
        return FrameRejection(FrameReason.TOO_LONG, run[:KEPT_BYTES])
    return run
