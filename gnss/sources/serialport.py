"""Serial receivers through pyserial: read without blocking the event loop, survive unplugging.

The port is opened non-blocking and read when the event loop reports its descriptor readable, so
no thread is needed. When the port vanishes (USB receiver unplugged, pty closed) the read fails;
the source drops the half-read line, counts a disconnect and reopens the same path with
exponential backoff until the device is back.
"""

from __future__ import annotations

import asyncio
import time

import serial

from gnss.model import RawChunk
from gnss.sources.base import LOCAL_BACKOFF, Backoff, ChannelSource


class SerialSource(ChannelSource):
    """NMEA from the serial port ``port`` (a path such as ``/dev/ttyUSB0``) as ``device_id``."""

    def __init__(
        self,
        port: str,
        device_id: str,
        *,
        baudrate: int = 9600,
        backoff: Backoff = LOCAL_BACKOFF,
        read_size: int = 4096,
        queue_size: int = 64,
    ) -> None:
        super().__init__(f"serial:{port}", queue_size=queue_size)
        self.port = port
        self.device_id = device_id
        self.baudrate = baudrate
        self._backoff = backoff
        self._read_size = read_size

    async def _produce(self) -> None:
        await self._keep_connected(self._connect_and_read, self._backoff)

    async def _connect_and_read(self) -> None:
        # timeout=0: read() returns what is there; pyserial opens the tty O_NONBLOCK.
        port = serial.Serial(self.port, self.baudrate, timeout=0)
        try:
            with self._connection() as buffer:
                fd = port.fileno()
                while True:
                    await _readable(fd)
                    # An unplugged port reads as "ready but no data" or EIO: SerialException.
                    if block := self._frame(buffer, port.read(self._read_size)):
                        await self._emit(RawChunk(self.device_id, block, time.time()))
        finally:
            port.close()


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
