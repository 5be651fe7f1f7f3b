"""The in-memory double of a source (STYLE rule 12): the pipeline's tests push bytes as devices
would and read them back through the same protocol, framing and counters as the real sources.

>>> import asyncio
>>> async def demo() -> list[tuple[str, bytes]]:
...     feed = [("d1", b"$GPGGA,1*00\\r\\n$GP"), ("d2", b"HB\\n"), ("d1", b"RMC,2*00\\n")]
...     async with MemorySource(feed) as source:
...         return [(chunk.device_id, chunk.data) async for chunk in source]
>>> asyncio.run(demo())
[('d1', b'$GPGGA,1*00\\r\\n'), ('d1', b'$GPRMC,2*00\\n')]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from gnss.model import RawChunk
from gnss.nmea.framing import LineBuffer
from gnss.sources.base import ChannelSource
from gnss.sources.lines import drop_heartbeats, drop_partial_line


class MemorySource(ChannelSource):
    """Chunks from ``feed`` (``(device_id, bytes)`` pairs, then the end), or, without a feed, from
    :meth:`send` until :meth:`end`. Bytes are framed per device and ``HB`` lines dropped, as the
    TCP source does; offsets count the bytes sent per device."""

    def __init__(
        self,
        feed: Iterable[tuple[str, bytes]] | None = None,
        *,
        name: str = "memory",
        queue_size: int = 1024,
    ) -> None:
        super().__init__(name, queue_size=queue_size)
        self._feed = feed
        self._buffers: dict[str, LineBuffer] = {}
        self._offsets: dict[str, int] = {}
        self._ended = asyncio.Event()

    async def send(self, device_id: str, data: bytes) -> None:
        """Deliver ``data`` as if ``device_id`` had sent it; waits while the consumer is behind."""
        offset = self._offsets[device_id] = self._offsets.get(device_id, 0) + len(data)
        buffer = self._buffers.setdefault(device_id, LineBuffer())
        block, heartbeats = drop_heartbeats(self._frame(buffer, data))
        self.stats.heartbeats += heartbeats
        if block:
            await self._emit(RawChunk(device_id, block, time.time(), offset - buffer.pending))

    def end(self) -> None:
        """End of stream once what was sent has been read."""
        self._ended.set()

    async def _produce(self) -> None:
        if self._feed is not None:
            for device_id, data in self._feed:
                await self.send(device_id, data)
        else:
            await self._ended.wait()
        for buffer in self._buffers.values():
            drop_partial_line(buffer, self.stats)
