"""Shared test material for the sources: a fixed set of valid sentences, a runner for coroutines,
a file-descriptor count and a TCP relay that can cut its connections like a failing network."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from devkit.devicesim import sentence
from gnss.model import RawChunk
from gnss.sources.base import Source
from gnss.sources.loop import run as run_loop

T = TypeVar("T")

# One GPS + BeiDou epoch with correct checksums; tests send these, and garbage, over every source.
EPOCH = b"".join(
    sentence(body)
    for body in (
        "GNRMC,120000.00,A,3030.00000,N,11418.00000,E,0.00,0.0,010526,,,A",
        "GNGGA,120000.00,3030.00000,N,11418.00000,E,1,12,0.8,35.0,M,-12.0,M,,",
        "GNGSA,A,3,01,03,06,11,,,,,,,,,1.6,0.9,1.3,1",
        "GNGSA,A,3,01,02,03,04,,,,,,,,,1.6,0.9,1.3,4",
        "GPGSV,1,1,04,01,40,083,46,03,62,201,44,06,18,311,40,11,55,045,47",
        "GBGSV,1,1,04,01,37,145,42,02,46,235,40,03,50,199,44,04,33,124,41",
    )
)
GARBAGE = bytes(range(256)) + b"\xb5\x62\x01\x07" * 64  # every byte value, then UBX-like binary


def epoch_at(second: int) -> bytes:
    """A GGA + RMC epoch whose time tag is 12:00:00 + ``second``."""
    hhmmss = f"{12 + second // 3600:02d}{second // 60 % 60:02d}{second % 60:02d}.00"
    return sentence(
        f"GNGGA,{hhmmss},3030.00000,N,11418.00000,E,1,12,0.8,35.0,M,-12.0,M,,"
    ) + sentence(f"GNRMC,{hhmmss},A,3030.00000,N,11418.00000,E,0.00,0.0,010526,,,A")


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run ``coro`` in a fresh event loop (the one the daemon runs on), failing it after
    ``timeout`` seconds."""
    return run_loop(asyncio.wait_for(coro, timeout))


def open_fds() -> int:
    """Open descriptors, not counting ``/dev/null``: uvloop opens it once, when a connection
    first fails, and keeps it for the loop's life (a reserve, not a leak)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # the listing's own descriptor
            count += os.readlink(f"/proc/self/fd/{fd}") != os.devnull
    return count


async def wait_until(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate()`` until true; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pause = 0.0
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(pause)
        pause = min(0.01, pause * 2 or 0.0002)  # quick for the byte-by-byte drills


async def collect(source: Source, *, total: int, timeout: float = 10.0) -> list[RawChunk]:
    """Chunks from ``source`` until their data add up to ``total`` bytes."""
    chunks: list[RawChunk] = []
    size = 0

    async def drain() -> None:
        nonlocal size
        async for chunk in source:
            chunks.append(chunk)
            size += len(chunk.data)
            if size >= total:
                return

    await asyncio.wait_for(drain(), timeout)
    return chunks


def joined(chunks: list[RawChunk], device_id: str | None = None) -> bytes:
    return b"".join(c.data for c in chunks if device_id is None or c.device_id == device_id)


class Relay:
    """Forwards TCP connections to ``target``; :meth:`cut` breaks every one of them at once."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.accepted = 0
        self._port = 0

    @property
    def port(self) -> int:
        return self._port

    async def __aenter__(self) -> Relay:
        await self.up()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.down()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def up(self) -> None:
        """Listen (again, on the same port): the service is reachable."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self._port)
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def down(self) -> None:
        """Stop listening and cut every connection: the service is gone."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.cut()

    def cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        try:
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()
            self._tasks.discard(task)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()
