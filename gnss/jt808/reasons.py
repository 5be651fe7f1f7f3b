"""Why a JT/T 808 frame or message was refused, and the count of what became of a stream.

Bad input is a value, never an exception (the same discipline as NMEA lines): every frame read from
a terminal is either a decoded message or a :class:`FrameRejection` with a :class:`FrameReason`, and
:class:`FrameCounts` keeps ``accepted + rejected == frames``.

>>> counts = FrameCounts()
>>> counts.add(FrameRejection(FrameReason.CHECKSUM, b"\\x00\\x02"))
>>> counts.frames, counts.accepted, dict(counts.rejected)
(1, 0, {'checksum': 1})
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gnss.jt808.header import Header

__all__ = [
    "ANSWER_MESSAGE_ERROR",
    "ANSWER_NOT_SUPPORTED",
    "FrameCounts",
    "FrameReason",
    "FrameRejection",
]


class FrameReason(enum.Enum):
    """Why a frame was refused. The value is the name used in counters."""

    FRAMING = "framing"  # bytes before a stream's first 0x7e flag
    ESCAPE = "escape"  # 0x7d not followed by 0x01 or 0x02
    TOO_SHORT = "too_short"  # shorter than a header and check code, or than its message's layout
    CHECKSUM = "checksum"  # the XOR check code does not match
    TOO_LONG = "too_long"  # more bytes than the longest frame before a closing flag
    TRUNCATED = "truncated"  # a body shorter than its header says, or a stream ending mid-frame
    BAD_LENGTH = "bad_length"  # a body longer than its header says
    BAD_FIELD = "bad_field"  # a field partymap reads is malformed or out of range
    UNKNOWN_MESSAGE = "unknown_message"  # well-formed, but not a message partymap reads
    SUBPACKAGED = "subpackaged"  # one packet of a multi-packet message (not supported)
    ENCRYPTED = "encrypted"  # an RSA-encrypted body (not supported)


# The platform's general response to a refused frame whose header could be read: result 2
# ("message error") when the terminal sent something broken, result 3 ("not supported") when it
# sent something well-formed that partymap does not read.
ANSWER_MESSAGE_ERROR = frozenset(
    {
        FrameReason.ESCAPE,
        FrameReason.TOO_SHORT,
        FrameReason.CHECKSUM,
        FrameReason.TRUNCATED,
        FrameReason.BAD_LENGTH,
        FrameReason.BAD_FIELD,
    }
)
ANSWER_NOT_SUPPORTED = frozenset(
    {FrameReason.UNKNOWN_MESSAGE, FrameReason.SUBPACKAGED, FrameReason.ENCRYPTED}
)


@dataclass(frozen=True, slots=True)
class FrameRejection:
    """A refused frame: ``data`` is what was received between the flags (at most
    :data:`KEPT_BYTES` of it), ``header`` what could be read of its header, if anything."""

    reason: FrameReason
    data: bytes
    detail: str = ""
    header: Header | None = None


# Enough of a refused frame to see what it was; a run of garbage is not kept whole.
KEPT_BYTES = 256


@dataclass(slots=True)
class FrameCounts:
    """What became of a stream's frames: ``accepted + rejected_total == frames`` always."""

    frames: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def add(self, outcome: object) -> None:
        """FrameCounts one frame's outcome: a :class:`FrameRejection` or a decoded message."""
        self.frames += 1
        if isinstance(outcome, FrameRejection):
            self.rejected[outcome.reason.value] += 1
        else:
            self.accepted += 1
