"""The partitioned raw stream: subjects, the partition of a device, and the message format.

One JetStream stream holds every device's raw chunks under ``<prefix>.raw.<partition>``. A
device's partition follows its member (``m:<member id>``), or its own id while nobody carries
it (``d:<uid>``), so that one member's data is in one partition, in order, whichever edge and
whichever device it came through.

A message is the chunks one edge received for one partition in one publishing round, each as
(source label, device uid, receipt time, bytes of complete lines):

>>> chunks = [("tcp", "dev-1", 1.5, b"$GPGGA,1*00\\r\\n"), ("http", "dev-2", 2.0, b"$X*00\\n")]
>>> decode_chunks(encode_chunks(chunks)) == chunks
True
>>> partition_of("m:17", 32), partition_of("d:dev-9", 32)
(25, 26)
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence

from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from partymap.settings import Settings

_HEAD = struct.Struct("<BHdI")  # label length, uid length, received at, data length

Chunk = tuple[str, str, float, bytes]


def partition_key(device_uid: str, member_id: int | None) -> str:
    return f"m:{member_id}" if member_id is not None else f"d:{device_uid}"


def partition_of(key: str, partitions: int) -> int:
    """A stable partition for ``key`` (the same on every node and every Python)."""
    return zlib.crc32(key.encode()) % partitions


def raw_subject(settings: Settings, partition: int) -> str:
    return f"{settings.cluster_subject}.raw.{partition}"


def live_subject(settings: Settings) -> str:
    return f"{settings.cluster_subject}.live"


def guard_subject(settings: Settings) -> str:
    return f"{settings.cluster_subject}.guard"


def workers_subject(settings: Settings) -> str:
    return f"{settings.cluster_subject}.workers"


def nats_servers(settings: Settings) -> list[str]:
    if not settings.nats_url:
        raise ValueError("this role needs PARTYMAP_NATS_URL (comma-separated nats:// servers)")
    return [url.strip() for url in settings.nats_url.split(",") if url.strip()]


def encode_chunks(chunks: Iterable[Chunk]) -> bytes:
    parts = []
    for label, uid, received_at, data in chunks:
        lb, ub = label.encode(), uid.encode()
        parts += [_HEAD.pack(len(lb), len(ub), received_at, len(data)), lb, ub, data]
    return b"".join(parts)


def decode_chunks(payload: bytes) -> list[Chunk]:
    """The chunks of a message; a malformed message (not partymap's) is an empty list."""
    chunks: list[Chunk] = []
    pos, size = 0, len(payload)
    while pos < size:
        if pos + _HEAD.size > size:
            return []
        nl, nu, received_at, nd = _HEAD.unpack_from(payload, pos)
        pos += _HEAD.size
        end = pos + nl + nu + nd
        if end > size:
            return []
        label = payload[pos : pos + nl].decode(errors="replace")
        uid = payload[pos + nl : pos + nl + nu].decode(errors="replace")
        chunks.append((label, uid, received_at, payload[pos + nl + nu : end]))
        pos = end
    return chunks


async def ensure_stream(js: object, settings: Settings) -> None:
    """Create the raw stream if it does not exist (its settings are kept if it does)."""
    name = settings.cluster_stream
    try:
        await js.stream_info(name)  # type: ignore[attr-defined]
    except NotFoundError:
        config = StreamConfig(
            name=name,
            subjects=[f"{settings.cluster_subject}.raw.*"],
            num_replicas=settings.cluster_replicas,
            max_age=settings.cluster_max_age_seconds,
            storage=StorageType.FILE,
            duplicate_window=120.0,
        )
        await js.add_stream(config)  # type: ignore[attr-defined]


def by_partition(
    chunks: Sequence[Chunk], member_of: dict[str, int | None], partitions: int
) -> dict[int, list[Chunk]]:
    grouped: dict[int, list[Chunk]] = {}
    for chunk in chunks:
        uid = chunk[1]
        p = partition_of(partition_key(uid, member_of.get(uid)), partitions)
        grouped.setdefault(p, []).append(chunk)
    return grouped
