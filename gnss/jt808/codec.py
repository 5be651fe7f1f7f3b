"""Whole JT/T 808 frames to typed messages and back, and a terminal's TCP stream to messages.

:func:`decode` reads one frame (with or without its flags); :func:`encode` writes one;
:class:`Reader` takes a connection's reads, cut anywhere, and returns every frame they complete
as a message or a counted :class:`~gnss.jt808.reasons.FrameRejection`. A refused frame keeps what
could be read of its header (even when its escapes or check code were wrong), so that the
platform can answer "message error" to the serial number the terminal used.

>>> from gnss.jt808.header import Header
>>> from gnss.jt808.messages import Heartbeat
>>> frame = encode(Heartbeat(Header(0x0002, "012345678900", 10)))
>>> frame.hex()
'7e00020000012345678900000a817e'
>>> decode(frame)
Heartbeat(header=Header(msg_id=2, phone='012345678900', serial=10, ...))
>>> reader = Reader()
>>> [type(m).__name__ for m in reader.feed(frame[:5]) + reader.feed(frame[5:] + frame)]
['Heartbeat', 'Heartbeat']
>>> bad = reader.feed(frame[:-2] + b"\\x80\\x7e")[0]
>>> bad.reason, bad.header.serial, reader.counts.frames, reader.counts.accepted
(<FrameReason.CHECKSUM: 'checksum'>, 10, 3, 2)
"""

from __future__ import annotations

from gnss.jt808 import header as headers
from gnss.jt808.framing import FLAG, Deframer, lenient_unescape, unwrap, wrap
from gnss.jt808.messages import Message, decode_body, encode_body
from gnss.jt808.reasons import KEPT_BYTES, FrameCounts, FrameReason, FrameRejection

__all__ = ["Reader", "decode", "decode_payload", "encode", "read_frame"]

# Refusals of a whole frame whose header may still be legible.
_HEADER_MAY_BE_READ = frozenset({FrameReason.ESCAPE, FrameReason.CHECKSUM})


def encode(message: Message) -> bytes:
    """One frame: header (body length filled in), body, check code, escaped, flagged."""
    return wrap(headers.encode(message.header, encode_body(message)))


def decode_payload(payload: bytes) -> Message | FrameRejection:
    """A frame's header and body (unescaped, check code verified and removed)."""
    parsed = headers.parse(payload)
    if isinstance(parsed, FrameRejection):
        return parsed
    return decode_body(*parsed)


def decode(frame: bytes) -> Message | FrameRejection:
    """One frame as received, flags optional."""
    inner = frame[1:] if frame[:1] == bytes((FLAG,)) else frame
    inner = inner[:-1] if inner[-1:] == bytes((FLAG,)) else inner
    return _decode(unwrap(inner), inner)


def _decode(unwrapped: bytes | FrameRejection, escaped: bytes) -> Message | FrameRejection:
    if isinstance(unwrapped, bytes):
        return decode_payload(unwrapped)
    if unwrapped.reason in _HEADER_MAY_BE_READ:
        # ``escaped`` may have been cut to the kept bytes: enough for any header.
        parsed = headers.parse(lenient_unescape(escaped)[:-1])
        header = parsed.header if isinstance(parsed, FrameRejection) else parsed[0]
        if header is not None:
            return FrameRejection(unwrapped.reason, unwrapped.data, unwrapped.detail, header)
    return unwrapped


def read_frame(item: bytes | FrameRejection) -> Message | FrameRejection:
    """A frame as a :class:`~gnss.jt808.framing.Deframer` gave it (its header and body, or a
    rejection) as a message, or a rejection that keeps what could be read of its header."""
    if isinstance(item, bytes):
        return decode_payload(item)
    if item.reason in _HEADER_MAY_BE_READ:
        return _decode(item, item.data)
    return item


class Reader:
    """One connection's frames: ``feed(data)`` returns the messages and rejections that the
    bytes complete, in order; ``flush()`` at the end of the stream. ``counts`` keeps
    ``accepted + rejected_total == frames``."""

    __slots__ = ("_deframer", "counts")

    def __init__(self) -> None:
        self._deframer = Deframer()
        self.counts = FrameCounts()

    def feed(self, data: bytes) -> list[Message | FrameRejection]:
        return self._count([read_frame(item) for item in self._deframer.feed(data)])

    def flush(self) -> list[Message | FrameRejection]:
        return self._count(list(self._deframer.flush()))

    @property
    def pending(self) -> int:
        return self._deframer.pending

    def _count(self, outcomes: list[Message | FrameRejection]) -> list[Message | FrameRejection]:
        for outcome in outcomes:
            self.counts.add(outcome)
        return outcomes


assert KEPT_BYTES >= 21  # a 2019 sub-packaged header, escaped: what _decode reads of a refusal
