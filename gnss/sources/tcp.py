"""TCP server for field devices (4G DTUs): one connection per device, registration first.

The device protocol: the first line of a connection is ``REG,<device_id>,<token>``; then NMEA
lines, in segments cut anywhere; a line ``HB`` is a heartbeat and is dropped. The server never
writes to the device. A connection is closed, and the reason counted, when the registration is
malformed, half-sent for longer than ``registration_timeout_s``, refused by the authenticator, or
when a registered device stays silent for ``idle_timeout_s``.

Each connection is a plain :class:`asyncio.Protocol` (no task per connection, so 10,000 devices
cost 10,000 small objects); one sweeper task enforces both timeouts. When the channel to the
consumer is full, a connection keeps its chunk and stops reading its socket until there is room:
the kernel's receive window then slows the device down, and memory stays bounded.

>>> parse_registration(b"REG,dtu-0042,s3cret")
('dtu-0042', 's3cret')
>>> parse_registration(b"REG,dtu-0042") is None
True
"""

from __future__ import annotations

import asyncio
import logging
import re
import resource
import time
from typing import cast

from gnss.model import RawChunk
from gnss.nmea.framing import LineBuffer
from gnss.sources.base import Authenticate, ChannelSource, Verdict, valid_device_id
from gnss.sources.counters import SourceRejection
from gnss.sources.lines import complete_lines, drop_heartbeats, drop_partial_line

log = logging.getLogger(__name__)

# A registration line is short; a longer run before the first newline is not one.
MAX_REGISTRATION = 256
_TOKEN = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII (commas were split off)


def raise_open_file_limit() -> int:
    """Raise this process's soft limit on open files to the hard limit; return it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def parse_registration(line: bytes) -> tuple[str, str] | None:
    """``(device_id, token)`` from a ``REG`` line without its line ending, or None."""
    parts = line.split(b",")
    if len(parts) != 3 or parts[0] != b"REG":
        return None
    try:
        device_id, token = parts[1].decode("ascii"), parts[2].decode("ascii")
    except UnicodeDecodeError:
        return None
    if not valid_device_id(device_id) or _TOKEN.fullmatch(token) is None:
        return None
    return device_id, token


def _refusal(verdict: bool | Verdict) -> SourceRejection | None:
    if verdict is True or verdict is Verdict.ACCEPTED:
        return None
    if verdict is Verdict.UNKNOWN_DEVICE:
        return SourceRejection.UNKNOWN_DEVICE
    if verdict is Verdict.BAD_TOKEN:
        return SourceRejection.BAD_TOKEN
    return SourceRejection.DENIED


class TcpSource(ChannelSource):
    """Accepts device connections on ``host:port`` (0 picks a free port: see :attr:`port`)."""

    def __init__(
        self,
        authenticate: Authenticate,
        *,
        host: str = "0.0.0.0",
        port: int = 5055,
        idle_timeout_s: float = 120.0,
        registration_timeout_s: float = 10.0,
        max_connections: int = 20_000,
        auth_concurrency: int = 256,
        queue_size: int = 8192,
        backlog: int = 4096,
        name: str = "tcp",
    ) -> None:
        super().__init__(name, queue_size=queue_size)
        self._authenticate = authenticate
        self._host = host
        self._port = port
        self.idle_timeout_s = idle_timeout_s
        self.registration_timeout_s = registration_timeout_s
        self._max_connections = max_connections
        self._auth_slots = asyncio.Semaphore(auth_concurrency)
        self._backlog = backlog
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._by_device: dict[str, _Connection] = {}
        self._auth_tasks: set[asyncio.Task[None]] = set()
        self._all_closed: asyncio.Future[None] | None = None

    @property
    def port(self) -> int:
        """The port actually bound (useful with ``port=0``)."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def registered_devices(self) -> int:
        return len(self._by_device)

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=True,
        )

    async def _produce(self) -> None:
        """Sweep timeouts a few times per shortest timeout; the server itself runs on its own."""
        clock = asyncio.get_running_loop().time
        tick = min(max(min(self.idle_timeout_s, self.registration_timeout_s) / 4, 0.02), 1.0)
        while True:
            await asyncio.sleep(tick)
            now = clock()
            registration_deadline = now - self.registration_timeout_s
            idle_deadline = now - self.idle_timeout_s
            for conn in list(self._connections):
                if conn.closing:
                    continue
                if conn.device_id is None:
                    if conn.opened_at < registration_deadline:
                        conn.refuse(SourceRejection.REGISTRATION_TIMEOUT)
                # A connection paused by backpressure is silent because we stopped reading it.
                elif not conn.paused and conn.last_seen < idle_deadline:
                    conn.refuse(SourceRejection.IDLE_TIMEOUT)

    async def _close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for conn in list(self._connections):
            conn.shut()
        tasks = list(self._auth_tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()
        if self._connections:
            self._all_closed = asyncio.get_running_loop().create_future()
            await asyncio.wait_for(self._all_closed, timeout=10)

    # Called by connections.

    def _accepted(self, conn: _Connection) -> bool:
        self.stats.connections += 1
        self.stats.active += 1
        self._connections.add(conn)
        return len(self._connections) <= self._max_connections

    def disconnect(self, device_id: str) -> bool:
        """Close the device's connection (its token was rotated, or it was deactivated): it
        must register again. True if it had one."""
        conn = self._by_device.get(device_id)
        if conn is None:
            return False
        conn.refuse(SourceRejection.REVOKED)
        return True

    def _lost(self, conn: _Connection) -> None:
        self._connections.discard(conn)
        self.stats.active -= 1
        if conn.device_id is not None and self._by_device.get(conn.device_id) is conn:
            del self._by_device[conn.device_id]
        if self._all_closed is not None and not self._connections:
            self._all_closed.set_result(None)

    def _registered(self, conn: _Connection, device_id: str) -> None:
        previous = self._by_device.get(device_id)
        if previous is not None:
            # A DTU that reconnects often leaves a half-dead connection behind; one connection
            # per device keeps the device's lines in order.
            previous.refuse(SourceRejection.SUPERSEDED)
        self._by_device[device_id] = conn

    def _start_auth(self, conn: _Connection, device_id: str, token: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._register(conn, device_id, token))
        self._auth_tasks.add(task)
        task.add_done_callback(self._auth_tasks.discard)
        return task

    async def _register(self, conn: _Connection, device_id: str, token: str) -> None:
        try:
            async with self._auth_slots:
                verdict = await self._authenticate(device_id, token)
        except Exception:
            log.exception("%s: authenticating %s failed", self.name, device_id)
            conn.refuse(SourceRejection.AUTH_ERROR)
            return
        reason = _refusal(verdict)
        if reason is not None:
            log.warning("%s: %s from %s refused: %s", self.name, device_id, conn.peer, reason)
            conn.refuse(reason)
        elif not conn.closing:
            self._registered(conn, device_id)
            conn.start(device_id)


class _Connection(asyncio.Protocol):
    """One device connection: registration, then framing and delivery of its lines."""

    __slots__ = (
        "_auth",
        "_blocked",
        "_buffer",
        "_head",
        "_rest",
        "_source",
        "closing",
        "device_id",
        "last_seen",
        "opened_at",
        "paused",
        "transport",
    )

    def __init__(self, source: TcpSource) -> None:
        self._source = source
        self._buffer = LineBuffer()
        self._head = bytearray()
        self._rest = b""
        self._auth: asyncio.Task[None] | None = None
        self._blocked: RawChunk | None = None
        self.transport: asyncio.Transport | None = None
        self.device_id: str | None = None
        self.closing = False
        self.paused = False
        self.opened_at = self.last_seen = 0.0

    @property
    def peer(self) -> object:
        return self.transport.get_extra_info("peername") if self.transport else None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, but uvloop's does not derive from asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)
        self.opened_at = self.last_seen = asyncio.get_running_loop().time()
        if not self._source._accepted(self):
            self.refuse(SourceRejection.TOO_MANY_CONNECTIONS)

    def data_received(self, data: bytes) -> None:
        source = self._source
        source.stats.bytes += len(data)
        self.last_seen = asyncio.get_running_loop().time()
        if self.device_id is not None:
            self._deliver(data)
        elif self._auth is not None:
            self._rest += data
        else:
            self._read_registration(data)

    def connection_lost(self, exc: Exception | None) -> None:
        source = self._source
        if self.closing:
            pass  # refused by us, and counted then
        elif self.device_id is None and self._head:
            source.stats.rejections[SourceRejection.BAD_REGISTRATION] += 1  # left mid-registration
        else:
            source.stats.disconnects += 1
        if self._auth is not None:
            self._auth.cancel()
        drop_partial_line(self._buffer, source.stats)
        source._lost(self)

    def refuse(self, reason: SourceRejection) -> None:
        """Close the connection and count why."""
        if self.closing:
            return
        self._source.stats.rejections[reason] += 1
        if reason is not SourceRejection.SUPERSEDED:
            name = self._source.name
            log.info("%s: closing %s (%s): %s", name, self.device_id, self.peer, reason)
        self.shut()

    def shut(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def start(self, device_id: str) -> None:
        """Registration accepted: read on, beginning with what came behind the ``REG`` line."""
        assert self.transport is not None
        self.device_id = device_id
        self._auth = None
        self.last_seen = asyncio.get_running_loop().time()
        self.transport.resume_reading()
        rest, self._rest = self._rest, b""
        if rest:
            self._deliver(rest)

    def _read_registration(self, data: bytes) -> None:
        assert self.transport is not None
        head = self._head
        head += data
        end = head.find(b"\n", 0, MAX_REGISTRATION + 1)
        if end < 0:
            if len(head) > MAX_REGISTRATION:
                self.refuse(SourceRejection.BAD_REGISTRATION)
            return
        registration = parse_registration(bytes(head[:end]).rstrip(b"\r"))
        if registration is None:
            self.refuse(SourceRejection.BAD_REGISTRATION)
            return
        self._rest = bytes(head[end + 1 :])
        head.clear()
        self.transport.pause_reading()
        self._auth = self._source._start_auth(self, *registration)

    def _deliver(self, data: bytes) -> None:
        assert self.device_id is not None
        stats = self._source.stats
        block = complete_lines(self._buffer, data, stats)
        block, heartbeats = drop_heartbeats(block)
        stats.heartbeats += heartbeats
        if not block:
            return
        chunk = RawChunk(self.device_id, block, time.time())
        stats.count_chunk(chunk)
        if not self._source._channel.offer(chunk):
            assert self.transport is not None
            self._blocked = chunk
            self.paused = True
            self.transport.pause_reading()
            self._source._channel.wait_for_room().add_done_callback(self._on_room)

    def _on_room(self, waiter: asyncio.Future[None]) -> None:
        channel = self._source._channel
        chunk = self._blocked
        if waiter.cancelled() or chunk is None or channel.closed:
            return
        if not channel.offer(chunk):
            channel.wait_for_room().add_done_callback(self._on_room)
            return
        # Lines received before the device went away are still delivered.
        self._blocked = None
        self.paused = False
        self.last_seen = asyncio.get_running_loop().time()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
