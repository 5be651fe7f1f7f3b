"""HTTP-posted NMEA: the API's ingest sink and the source its bodies enter the pipeline by."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING

from api.ingest import IngestUnavailableError
from gnss.model import RawChunk
from gnss.nmea.framing import LineBuffer
from gnss.sources import MemorySource
from gnss.sources.lines import drop_heartbeats
from partymap.ingest.handover import Receipt

if TYPE_CHECKING:
    from partymap.ingest.daemon import Daemon


class HttpBodies(MemorySource):
    """HTTP-posted NMEA: each body is a complete upload, framed on its own (its last line needs
    no line break; no line continues in the next post), counted as the source ``http``."""

    def body(self, device_id: str, data: bytes) -> RawChunk | None:
        """The body's lines as one chunk (None: it holds no line to decode)."""
        buffer = LineBuffer()
        block = self._frame(buffer, data)
        if buffer.pending:
            block += buffer.take_complete(b"\n")
        block, heartbeats = drop_heartbeats(block)
        self.stats.heartbeats += heartbeats
        offset = self._offsets[device_id] = self._offsets.get(device_id, 0) + len(data)
        return RawChunk(device_id, block, time.time(), offset) if block else None

    async def emit(self, chunk: RawChunk) -> None:
        """Hand ``chunk`` on, waiting while the pipeline is behind."""
        await self._emit(chunk)


class HttpIngest:
    """The API's ingest sink (``IngestSink``): posted NMEA enters the pipeline like any other
    source's, and :meth:`send` returns once the body's fixes are committed.

    A body is a complete upload: the batch that takes it closes the device's open epoch (as a
    stream's end does), so every fix of its lines is stored by the time :meth:`send` returns —
    about one batch age (``INGEST_BATCH_SECONDS``) plus a commit later, longer while the
    pipeline is behind (the post waits: backpressure)."""

    def __init__(self, daemon: Daemon, source: HttpBodies) -> None:
        self._daemon = daemon
        self.source = source
        self.accepting = True

    async def send(self, device_id: str, data: bytes) -> None:
        if not self.accepting:
            raise IngestUnavailableError("the ingestion daemon is stopping")
        if not self._daemon.running:
            raise IngestUnavailableError("the ingestion pipeline is not running")
        # The API checked the token in the store: a device registered since the last refresh
        # must not have its lines dropped as unknown.
        await self._daemon.devices.know(device_id)
        if device_id in self._daemon.stats.quarantined_devices:
            raise IngestUnavailableError("this device's lines are set aside (quarantined)")
        chunk = self.source.body(device_id, data)
        if chunk is None:
            return  # nothing in it to store
        receipt: Receipt = Future()
        self._daemon.collector.expect(chunk, receipt)
        await self.source.emit(chunk)
        stored = asyncio.wrap_future(receipt)
        failed = asyncio.ensure_future(self._failed())
        try:
            await asyncio.wait([stored, failed], return_when=asyncio.FIRST_COMPLETED)
        finally:
            failed.cancel()
        if not stored.done():
            stored.cancel()
            raise IngestUnavailableError("the ingestion pipeline failed before storing them")
        if stored.exception() is not None:  # refused by the store, or set aside
            raise IngestUnavailableError(f"they were not stored ({stored.exception()})")

    async def _failed(self) -> int:
        await self._daemon.failed.wait()
        return 0

    def status(self) -> dict[str, object]:
        return self._daemon.status()

    def device_lines(self, device_id: str) -> dict[str, int] | None:
        return dict(sorted(self._daemon.stats.device_lines.get(device_id, {}).items()))

    async def revoke(self, device_id: str) -> None:
        await self._daemon.sources.revoke(device_id)
