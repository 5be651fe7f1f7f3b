"""What a source counts, for ``/metrics``: connections, bytes, lines, and refusals by reason.

>>> stats = SourceStats("tcp")
>>> stats.rejections[SourceRejection.BAD_TOKEN] += 1
>>> stats.as_dict()["rejected_bad_token"]
1
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field

from gnss.model import RawChunk


class SourceRejection(enum.StrEnum):
    """Why a source refused a connection, closed it, or refused data; counted per source."""

    BAD_REGISTRATION = "bad_registration"  # first TCP line is not ``REG,<id>,<token>``
    UNKNOWN_DEVICE = "unknown_device"
    BAD_TOKEN = "bad_token"
    DENIED = "denied"  # the authenticator said no without saying why
    AUTH_ERROR = "auth_error"  # the authenticator raised (a database outage, say)
    REGISTRATION_TIMEOUT = "registration_timeout"
    IDLE_TIMEOUT = "idle_timeout"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    SUPERSEDED = "superseded"  # the same device registered again on a newer connection
    REVOKED = "revoked"  # the device's token was rotated or the device deactivated
    LINE_TOO_LONG = "line_too_long"  # passed on (the parser rejects it), counted here
    PARTIAL_LINE = "partial_line"  # stream ended mid-line; the fragment is dropped
    BAD_TOPIC = "bad_topic"
    BAD_PAYLOAD = "bad_payload"


@dataclass(slots=True)
class SourceStats:
    """Plain counters of one source, read by the daemon for ``/metrics``.

    ``bytes`` counts everything received (registration, heartbeats and gpsd's JSON included);
    ``lines`` and ``chunks`` what was handed on. ``connections`` counts successful opens, accepts
    and connects; ``active`` those open now.
    """

    source: str
    connections: int = 0
    active: int = 0
    disconnects: int = 0  # a connection we wanted to keep was lost (port unplugged, broker gone)
    connect_failures: int = 0
    bytes: int = 0
    lines: int = 0
    chunks: int = 0
    heartbeats: int = 0
    rejections: Counter[SourceRejection] = field(default_factory=Counter)

    def count_chunk(self, chunk: RawChunk) -> None:
        self.chunks += 1
        self.lines += chunk.data.count(b"\n")

    def as_dict(self) -> dict[str, int]:
        """Flat ``name → value``; rejections appear as ``rejected_<reason>`` for every reason."""
        values = {
            "connections": self.connections,
            "active": self.active,
            "disconnects": self.disconnects,
            "connect_failures": self.connect_failures,
            "bytes": self.bytes,
            "lines": self.lines,
            "chunks": self.chunks,
            "heartbeats": self.heartbeats,
        }
        values.update({f"rejected_{r.value}": self.rejections[r] for r in SourceRejection})
        return values
