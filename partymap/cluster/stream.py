"""The partitioned raw stream: subjects, the partition of a device, and the message format.

One JetStream stream holds every device's raw chunks under ``<prefix>.raw.<partition>``. A
device's partition follows its member (``m:<member id>``), or its own id while nobody carries
it (``d:<uid>``), so that one member's data is in one partition, in order, whichever edge and
whichever device it came through.

A message is the chunks one edge gathered for one partition (up to ``CLUSTER_PUBLISH_SECONDS``
or ``CLUSTER_PUBLISH_BYTES``), each as (source label, device uid, receipt time, bytes of complete
lines), in columns so that a worker reads a message of hundreds of chunks with a few array
views: a table of the names (labels and uids) used, then per chunk the uid's and the label's
index, the receipt time and the length, then the bytes one after the other. Messages of the
first format (a header per chunk) are still read.

>>> chunks = [("tcp", "dev-1", 1.5, b"$GPGGA,1*00\\r\\n"), ("http", "dev-2", 2.0, b"$X*00\\n")]
>>> decode_chunks(encode_chunks(chunks)) == chunks
True
>>> partition_of("m:17", 32), partition_of("d:dev-9", 32)
(25, 26)
"""

from __future__ import annotations

import asyncio
import struct
import time
import zlib
from collections.abc import Callable, Sequence

import numpy as np
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError, ServiceUnavailableError

from partymap.settings import Settings

_HEAD = struct.Struct("<BHdI")  # first format, per chunk: label, uid length, received at, length
# Columns: a version no message of the first format starts with (a label is never empty), the
# chunks, the names, then the names' lengths and the columns.
_COLUMNS = struct.Struct("<2sII")
_VERSION = b"\x00\x02"
_NAME_LEN = np.dtype("<u2")
_INDEX = np.dtype("<u4")
_TIME = np.dtype("<f8")
_NO_PEERS_FOR_PLACEMENT = 10005  # JetStream's error code: a replica cannot be placed yet

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


def watching_subject(settings: Settings) -> str:
    return f"{settings.cluster_subject}.watching"


def guard_subject(settings: Settings) -> str:
    return f"{settings.cluster_subject}.guard"


def workers_subject(settings: Settings) -> str:
    return f"{settings.cluster_subject}.workers"


def nats_servers(settings: Settings) -> list[str]:
    if not settings.nats_url:
        raise ValueError("this role needs PARTYMAP_NATS_URL (comma-separated nats:// servers)")
    return [url.strip() for url in settings.nats_url.split(",") if url.strip()]


def encode_chunks(chunks: Sequence[Chunk]) -> bytes:
    """One message of ``chunks`` (in columns)."""
    names: dict[str, int] = {}
    uid = np.fromiter((names.setdefault(c[1], len(names)) for c in chunks), _INDEX, len(chunks))
    label = np.fromiter((names.setdefault(c[0], len(names)) for c in chunks), _INDEX, len(chunks))
    received = np.fromiter((c[2] for c in chunks), _TIME, len(chunks))
    length = np.fromiter((len(c[3]) for c in chunks), _INDEX, len(chunks))
    encoded = [name.encode() for name in names]
    lengths = np.fromiter((len(b) for b in encoded), _NAME_LEN, len(encoded))
    head = _COLUMNS.pack(_VERSION, len(chunks), len(names))
    columns = [lengths.tobytes(), *encoded, uid.tobytes(), label.tobytes(), received.tobytes()]
    return b"".join([head, *columns, length.tobytes(), *(c[3] for c in chunks)])


def decode_chunks(payload: bytes) -> list[Chunk]:
    """The chunks of a message; a malformed message (not partymap's) is an empty list."""
    if payload[:2] != _VERSION:
        return _decode_rows(payload)
    if len(payload) < _COLUMNS.size:
        return []
    _, n, n_names = _COLUMNS.unpack_from(payload)
    pos = _COLUMNS.size
    if pos + n_names * _NAME_LEN.itemsize > len(payload):
        return []
    name_lengths = np.frombuffer(payload, _NAME_LEN, n_names, pos).tolist()
    pos += n_names * _NAME_LEN.itemsize
    names = []
    for size in name_lengths:
        names.append(payload[pos : pos + size].decode(errors="replace"))
        pos += size
    columns_end = pos + n * (3 * _INDEX.itemsize + _TIME.itemsize)
    if columns_end > len(payload):
        return []
    uid = np.frombuffer(payload, _INDEX, n, pos)
    label = np.frombuffer(payload, _INDEX, n, pos + n * _INDEX.itemsize)
    received = np.frombuffer(payload, _TIME, n, pos + 2 * n * _INDEX.itemsize)
    length = np.frombuffer(payload, _INDEX, n, pos + 2 * n * _INDEX.itemsize + n * _TIME.itemsize)
    ends = np.cumsum(length, dtype=np.int64) + columns_end
    if (n and int(ends[-1]) != len(payload)) or (not n and columns_end != len(payload)):
        return []
    if n and max(int(uid.max()), int(label.max())) >= n_names:
        return []
    starts = (ends - length).tolist()
    return [
        (names[lb], names[u], t, payload[a:b])
        for u, lb, t, a, b in zip(
            uid.tolist(), label.tolist(), received.tolist(), starts, ends.tolist(), strict=True
        )
    ]


def _decode_rows(payload: bytes) -> list[Chunk]:
    """A message of the first format: a header before each chunk."""
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


async def ensure_stream(js: object, settings: Settings, *, wait_s: float = 60.0) -> None:
    """Create the raw stream if it does not exist (its settings are kept if it does). A
    JetStream cluster that is starting answers nothing until it has elected its leader, and one
    whose server has just come back cannot place the stream's replicas until it has caught up
    ("no suitable peers for placement"): asked again for up to ``wait_s`` seconds."""
    name = settings.cluster_stream
    deadline = time.monotonic() + wait_s
    while True:
        try:
            await js.stream_info(name)  # type: ignore[attr-defined]
            return
        except NotFoundError:
            break
        except (NatsTimeoutError, ServiceUnavailableError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    config = StreamConfig(
        name=name,
        subjects=[f"{settings.cluster_subject}.raw.*"],
        num_replicas=settings.cluster_replicas,
        max_age=settings.cluster_max_age_seconds,
        storage=StorageType.FILE,
        duplicate_window=120.0,
    )
    while True:
        try:
            await js.add_stream(config)  # type: ignore[attr-defined]
            return
        except BadRequestError as error:
            if error.err_code != _NO_PEERS_FOR_PLACEMENT or time.monotonic() > deadline:
                raise
        except (NatsTimeoutError, ServiceUnavailableError):
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.5)


def by_partition(
    chunks: Sequence[Chunk], member_of: Callable[[str], int | None], partitions: int
) -> dict[int, list[Chunk]]:
    grouped: dict[int, list[Chunk]] = {}
    for chunk in chunks:
        uid = chunk[1]
        p = partition_of(partition_key(uid, member_of(uid)), partitions)
        grouped.setdefault(p, []).append(chunk)
    return grouped
