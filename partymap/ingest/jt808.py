"""The JT/T 808 server: BeiDou helmets, badges and vehicle terminals over TCP, on the daemon's
event loop, driving the sans-IO session of :mod:`gnss.jt808.session`.

Each connection reads frames (:class:`gnss.jt808.codec.Reader`: every frame read is a message
or a counted rejection with its reason) and steps the session with the device directory's
answer for registrations and authentications:

- every terminal message is answered with 0x8001 (a refused frame too, result 2 or 3, when its
  serial number could be read); a registration with 0x8100;
- registration over the air is granted once (the store issues the authentication code in one
  conditional update) and refused again until an admin rotates the device's token;
- unknown, inactive or wrongly authenticated terminals are refused, counted, and their
  connection closed; nothing they send is stored;
- locations (0x0200, 0x0704) become fixes (:mod:`partymap.ingest.terminal_fixes`) handed over
  to the pipeline (:mod:`partymap.ingest.handover`); their 0x8001 is sent only when their
  receipt says they are committed. Blind-area batches are checked against the store, so a
  report committed but not acknowledged before a crash is not stored twice when re-sent.

A connection that does not authenticate within ``registration_timeout_s`` of opening, or stays
silent for ``idle_timeout_s`` after, is closed and counted, as are connections beyond
``max_connections``. Nothing a terminal sends can raise out of its connection's task or touch
another terminal's session.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from gnss.jt808.codec import Reader
from gnss.jt808.location import GMT8_S, Location
from gnss.jt808.messages import Authentication, Message, Result
from gnss.jt808.reasons import FrameRejection
from gnss.jt808.session import (
    Ack,
    Outcome,
    Phase,
    SessionState,
    Terminal,
    lookup_phone,
    step,
)
from partymap.ingest.directory import DeviceEntry
from partymap.ingest.handover import Handover
from partymap.ingest.terminal_fixes import location_fixes
from store.devices import register_terminal

if TYPE_CHECKING:
    from partymap.ingest.daemon import Daemon

log = logging.getLogger(__name__)

JT808 = "jt808"
READ_SIZE = 65536

# The directory's answer for a phone number: the device, or None (unknown). ``fresh`` asks
# for the store's current word (after an authentication the cached directory refused).
Lookup = Callable[[str, bool], Awaitable[DeviceEntry | None]]
# Issue a registered terminal's authentication code (None: not granted after all).
GrantCode = Callable[[int], Awaitable[str | None]]
# An SOS alarm whose location is committed: (device, location).
Alarm = Callable[[DeviceEntry, Location], None]


@dataclass(slots=True)
class Jt808Stats:
    """The server's counters: ``frames == accepted + sum(rejected)`` always."""

    connections: int = 0
    active: int = 0
    frames: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # frames, by reason
    events: Counter[str] = field(default_factory=Counter)  # session events (refusals too)
    closed: Counter[str] = field(default_factory=Counter)  # connections closed by us, by reason
    locations: int = 0  # locations handed over
    acked: int = 0  # location messages acknowledged once stored
    ack_failures: int = 0  # answered "failure": the store refused them for good
    alarms: int = 0


def terminal_of(entry: DeviceEntry | None) -> Terminal | None:
    """The session's view of a directory entry (devices of another protocol are unknown)."""
    if entry is None or entry.protocol != JT808:
        return None
    offset = GMT8_S if entry.utc_offset_min is None else entry.utc_offset_min * 60
    return Terminal(
        entry.uid,
        code_sha256=entry.token_hash,
        registered=entry.token_hash is not None and not entry.registration_open,
        active=entry.active,
        utc_offset_s=offset,
    )


class Jt808Server:
    """``async with Jt808Server(...)`` listens on ``host:port`` (0: a free port, see
    :attr:`port`)."""

    def __init__(
        self,
        handover: Handover,
        lookup: Lookup,
        grant: GrantCode,
        *,
        host: str = "0.0.0.0",
        port: int = 0,
        idle_timeout_s: float = 120.0,
        registration_timeout_s: float = 10.0,
        max_connections: int = 20_000,
        alarm: Alarm | None = None,
    ) -> None:
        self.handover = handover
        self.lookup = lookup
        self.grant = grant
        self.alarm = alarm
        self.host = host
        self._port = port
        self.idle_timeout_s = idle_timeout_s
        self.registration_timeout_s = registration_timeout_s
        self.max_connections = max_connections
        self.stats = Jt808Stats()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._by_device: dict[str, _TerminalConnection] = {}  # authenticated, by uid

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> Jt808Server:
        self._server = await asyncio.start_server(
            self._accepted, self.host, self._port, backlog=4096, limit=READ_SIZE
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def disconnect(self, device_id: str) -> bool:
        """Close the terminal's connection (its code was rotated, or it was deactivated): it
        must authenticate again. True if it had one."""
        connection = self._by_device.pop(device_id, None)
        if connection is None:
            return False
        self.stats.closed["revoked"] += 1
        connection.writer.transport.abort()
        return True

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self.stats.active >= self.max_connections:
                self.stats.closed["too_many_connections"] += 1
                return
            self.stats.connections += 1
            self.stats.active += 1
            connection = _TerminalConnection(self, writer)
            try:
                await connection.run(reader)
            finally:
                self.stats.active -= 1
                entry = connection.entry
                if entry is not None and self._by_device.get(entry.uid) is connection:
                    del self._by_device[entry.uid]
        except Exception:  # a bug: log it, keep serving every other terminal
            log.exception("jt808 connection failed")
            self.stats.closed["error"] += 1
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class _TerminalConnection:
    """One terminal's connection: its frames, its session, its device."""

    def __init__(self, server: Jt808Server, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.stats = server.stats
        self.writer = writer
        self.loop = asyncio.get_running_loop()
        self.codec = Reader()
        self.state = SessionState()
        self.entry: DeviceEntry | None = None  # the authenticated device

    async def run(self, reader: asyncio.StreamReader) -> None:
        server = self.server
        deadline = time.monotonic() + server.registration_timeout_s
        while True:
            if self.state.phase is Phase.AUTHENTICATED:
                timeout, reason = server.idle_timeout_s, "idle_timeout"
            else:
                timeout, reason = deadline - time.monotonic(), "registration_timeout"
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), max(timeout, 0.0))
            except TimeoutError:
                self.stats.closed[reason] += 1
                return
            except ConnectionError:
                return
            if not data:
                self._count(self.codec.flush())
                return
            items = self._count(self.codec.feed(data))
            for item in items:
                if await self._handle(item):
                    return
            if self.writer.transport.get_write_buffer_size() > 1 << 20:
                await self.writer.drain()  # a terminal not reading its answers: wait for it

    def _count(self, items: list[Message | FrameRejection]) -> list[Message | FrameRejection]:
        stats = self.stats
        stats.frames += len(items)
        for item in items:
            if isinstance(item, FrameRejection):
                stats.rejected[item.reason.value] += 1
            else:
                stats.accepted += 1
        return items

    async def _handle(self, item: Message | FrameRejection) -> bool:
        """Step the session with ``item`` and do what it says; True: close the connection."""
        phone = lookup_phone(item)
        entry = None
        if phone is not None:
            entry = await self.server.lookup(phone, False)
            if _stale(entry, item):
                entry = await self.server.lookup(phone, True)
        before = self.state
        self.state, outcome = step(self.state, item, terminal_of(entry))
        if outcome.event is not None:
            self.stats.events[outcome.event.value] += 1
        if self.state.phase is Phase.AUTHENTICATED and before.device_id != self.state.device_id:
            self.entry = entry
            if entry is not None:
                self.server._by_device[entry.uid] = self
        elif self.state.phase is not Phase.AUTHENTICATED:
            self.entry = None
        self.writer.write(b"".join(outcome.replies))
        granted = outcome.grant is None or entry is None or await self._grant(outcome, entry)
        if not granted:
            return True
        if outcome.locations and outcome.ack is not None:
            await self._locations(outcome)
        if outcome.close:
            self.stats.closed[outcome.event.value if outcome.event else "refused"] += 1
        return outcome.close

    async def _grant(self, outcome: Outcome, entry: DeviceEntry) -> bool:
        assert outcome.grant is not None
        try:
            code = await self.server.grant(entry.id)
        except Exception as exc:  # the store away: the terminal registers on its next connection
            log.warning("jt808 registration of %s not stored (%s)", entry.uid, exc)
            code = None
        if code is None:
            self.stats.closed["registration_not_stored"] += 1
            return False
        self.writer.write(outcome.grant.reply(code.encode()))
        return True

    async def _locations(self, outcome: Outcome) -> None:
        entry, ack = self.entry, outcome.ack
        assert entry is not None and ack is not None
        received = datetime.now(UTC)
        fixes = location_fixes(outcome.locations, accuracy_m=entry.accuracy_m, received_at=received)
        self.stats.locations += len(outcome.locations)
        receipt = await self.server.handover.submit(
            entry.uid,
            fixes,
            source=JT808,
            received_s=received.timestamp(),
            resent=outcome.blind_area,
        )
        alarms = [loc for loc in outcome.locations if loc.sos and loc.time is not None]
        receipt.add_done_callback(
            lambda done: self.loop.call_soon_threadsafe(self._stored, done, ack, entry, alarms)
        )

    def _stored(
        self, receipt: Future[int], ack: Ack, entry: DeviceEntry, alarms: list[Location]
    ) -> None:
        """On the loop, once the receipt resolved: acknowledge (and raise the alarms)."""
        failed = receipt.exception() is not None
        if failed:
            self.stats.ack_failures += 1
        else:
            self.stats.acked += 1
            if self.server.alarm is not None:
                for location in alarms:
                    self.stats.alarms += 1
                    self.server.alarm(entry, location)
        if not self.writer.is_closing():
            self.writer.write(ack.frame(Result.FAILURE if failed else Result.OK))


def _stale(entry: DeviceEntry | None, item: Message | FrameRejection) -> bool:
    """Whether the cached directory may be behind the store for this registration or
    authentication: the device unknown, or its code not the one just sent (issued since)."""
    if entry is None:
        return True
    if isinstance(item, Authentication):
        sent = hashlib.sha256(item.code).digest()
        return entry.token_hash is None or not hmac.compare_digest(sent, entry.token_hash)
    return True  # a registration: whether it may register is the store's current word


def daemon_server(daemon: Daemon, host: str, port: int) -> Jt808Server:
    """The server of a daemon: its hand-over, directory, store and live feed."""
    settings = daemon.settings

    async def lookup(phone: str, fresh: bool) -> DeviceEntry | None:
        if fresh:
            await daemon.refresh_directory()
        return daemon.directory.by_uid.get(phone)

    async def grant(device_id: int) -> str | None:
        def issue() -> str | None:
            with daemon.sessions() as session:
                code = register_terminal(session, device_id=device_id)
                session.commit()
                return code

        return await asyncio.to_thread(issue)

    def alarm(entry: DeviceEntry, location: Location) -> None:
        daemon.alarms.raise_sos(entry, location)

    return Jt808Server(
        daemon.handover,
        lookup,
        grant,
        host=host,
        port=port,
        idle_timeout_s=settings.ingest_tcp_idle_timeout_seconds,
        registration_timeout_s=settings.ingest_tcp_registration_timeout_seconds,
        max_connections=settings.ingest_tcp_max_connections,
        alarm=alarm,
    )
