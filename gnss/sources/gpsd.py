"""gpsd as a source, for sites that already run gpsd in front of their receivers.

The client speaks gpsd's JSON protocol on port 2947 only as far as it must: it sends
``?WATCH={"enable":true,"nmea":true}`` (with ``"device"`` to pick one receiver of several) and
gpsd then streams the receiver's NMEA sentences as they arrive, interleaved with its own JSON
reports (``VERSION``, ``DEVICES``, ``WATCH``…), which are dropped. NMEA is parsed by our own
pipeline, not gpsd's, so both agree on every line. gpsd stopping or restarting is survived with
backoff.

>>> watch_command("/dev/ttyUSB0")
b'?WATCH={"enable":true,"nmea":true,"device":"/dev/ttyUSB0"}\\n'
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from gnss.model import RawChunk
from gnss.sources.base import LOCAL_BACKOFF, Backoff, ChannelSource
from gnss.sources.lines import drop_lines

GPSD_PORT = 2947


def watch_command(device: str | None = None) -> bytes:
    watch: dict[str, object] = {"enable": True, "nmea": True}
    if device is not None:
        watch["device"] = device
    return b"?WATCH=" + json.dumps(watch, separators=(",", ":")).encode() + b"\n"


def _is_json(line: bytes) -> bool:
    return line.startswith(b"{")


class GpsdSource(ChannelSource):
    """NMEA relayed by the gpsd at ``host:port``, as ``device_id``."""

    def __init__(
        self,
        device_id: str,
        *,
        host: str = "127.0.0.1",
        port: int = GPSD_PORT,
        device: str | None = None,
        backoff: Backoff = LOCAL_BACKOFF,
        read_size: int = 65536,
        queue_size: int = 64,
    ) -> None:
        super().__init__(f"gpsd:{host}:{port}", queue_size=queue_size)
        self.device_id = device_id
        self.host = host
        self.port = port
        self.device = device
        self._backoff = backoff
        self._read_size = read_size
        self.json_lines = 0  # gpsd's own reports seen (and dropped)

    async def _produce(self) -> None:
        await self._keep_connected(self._connect_and_read, self._backoff)

    async def _connect_and_read(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            with self._connection() as buffer:
                writer.write(watch_command(self.device))
                await writer.drain()
                while data := await reader.read(self._read_size):
                    block = self._frame(buffer, data)
                    if b"{" in block:
                        block, reports = drop_lines(block, _is_json)
                        self.json_lines += reports
                    if block:
                        await self._emit(RawChunk(self.device_id, block, time.time()))
        finally:
            writer.close()
            # A connection that broke is closed all the same; its error was already handled.
            with contextlib.suppress(OSError):
                await writer.wait_closed()
