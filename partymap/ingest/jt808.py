"""The JT/T 808 server: BeiDou helmets, badges and vehicle terminals over TCP, on the daemon's
event loop, driving the sans-IO session of :mod:`gnss.jt808.session`.

Each connection (an :class:`asyncio.Protocol`) cuts its bytes into frames
(:class:`gnss.jt808.framing.Deframer`): every frame read is a message or a counted rejection
with its reason. Once a terminal is authenticated, its plain location reports (0x0200 under
its own phone number) take a fast lane: the reports of all terminals that arrive within
:data:`GATHER_S` are read together (:func:`gnss.jt808.batch.read_locations`: check code, body
and verdict in one compiled pass, each as the reference decoder would read it), handed over as
one table under one receipt, and each answered once that receipt resolves. Every other frame —
and every frame of a connection while one is being handled — is decoded and stepped through
the session in order by the connection's task, with the device directory's answer for
registrations and authentications:

- every terminal message is answered with 0x8001 (a refused frame too, result 2 or 3, when its
  serial number could be read); a registration with 0x8100;
- registration over the air is granted once (the store issues the authentication code in one
  conditional update) and refused again until an admin rotates the device's token;
- unknown, inactive or wrongly authenticated terminals are refused, counted, and their
  connection closed; nothing they send is stored;
- locations (0x0200, 0x0704) become fixes (:mod:`gnss.jt808.batch`,
  :mod:`partymap.ingest.terminal_fixes`) handed over to the pipeline
  (:mod:`partymap.ingest.handover`) in the order they were read; their 0x8001 is sent only when
  their receipt says they are committed. Blind-area batches are checked against the store, so
  a report committed but not acknowledged before a crash is not stored twice when re-sent.

A connection that does not authenticate within ``registration_timeout_s`` of opening, or stays
silent for ``idle_timeout_s`` after, is closed and counted, as are connections beyond
``max_connections``. Nothing a terminal sends can raise out of its connection's task or touch
another terminal's session.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import hmac
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from gnss.fixtable import FixTable
from gnss.jt808.batch import NO_TIME, VERDICTS, location_table, read_locations
from gnss.jt808.codec import read_frame
from gnss.jt808.framing import Deframer, unescape, unwrap
from gnss.jt808.header import body_at
from gnss.jt808.header import parse as parse_header
from gnss.jt808.location import GMT8_S, LOCATION, Location
from gnss.jt808.location import Alarm as AlarmFlag
from gnss.jt808.messages import Authentication, Message, MessageId, Result
from gnss.jt808.reasons import KEPT_BYTES, FrameReason, FrameRejection
from gnss.jt808.session import (
    Ack,
    Outcome,
    Phase,
    Responder,
    SessionState,
    Terminal,
    lookup_phone,
    step,
)
from partymap.ingest.directory import DeviceEntry
from partymap.ingest.handover import (
    Handover,
    PartlyStoredError,
    Receipt,
    SetAsideError,
)
from partymap.ingest.terminal_fixes import DEFAULT_ACCURACY_M, location_fixes
from store.devices import register_terminal

if TYPE_CHECKING:
    from partymap.ingest.daemon import Daemon

log = logging.getLogger(__name__)

JT808 = "jt808"
# How long a location report waits for others to be read with: a few milliseconds of its
# acknowledgement buy a read and a hand-over shared by all the terminals reporting meanwhile.
GATHER_S = 0.005
_BODY_2013 = 12  # where the body of a message with a 2013 header begins

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
        self.reports = _Reports(self)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: set[_TerminalConnection] = set()
        self._by_device: dict[str, _TerminalConnection] = {}  # authenticated, by uid

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> Jt808Server:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _TerminalConnection(self), self.host, self._port, backlog=4096
        )
        self.spawn(self._sweep())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.transport.abort()
        self.reports.cancel()
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
        connection.transport.abort()
        return True

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A task of the server's, cancelled when it closes; a bug in it is logged."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("jt808 task failed", exc_info=task.exception())

    async def _sweep(self) -> None:
        """Close connections silent too long, or not authenticated in time."""
        period = min(1.0, self.idle_timeout_s / 4, self.registration_timeout_s / 4)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for connection in list(self._connections):
                reason = connection.overdue(now)
                if reason is not None:
                    self.stats.closed[reason] += 1
                    connection.transport.close()


class _Reports:
    """Location reports of authenticated terminals, read together: each waits at most
    :data:`GATHER_S`, then the reports gathered are read at once
    (:func:`gnss.jt808.batch.read_locations`) and handed over as one table under one receipt;
    when it resolves, each report's 0x8001 is written. While hand-overs wait for the pipeline,
    terminals that send more are not read (backpressure, nothing dropped)."""

    def __init__(self, server: Jt808Server) -> None:
        self.server = server
        self.stats = server.stats
        self._rows: list[tuple[_TerminalConnection, DeviceEntry, bytes, int]] = []
        self._handle: asyncio.TimerHandle | None = None
        self._waiting = 0  # gathered batches waiting to be handed over
        self._tail: asyncio.Future[None] | None = None  # the last batch is handed over
        self._held: set[_TerminalConnection] = set()

    def add(
        self, connection: _TerminalConnection, entry: DeviceEntry, frame: bytes, at: int
    ) -> None:
        """A report to read soon (``frame``: unescaped, check code still on; its body from
        ``at``)."""
        self._rows.append((connection, entry, frame, at))
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(GATHER_S, self.flush)

    @property
    def behind(self) -> bool:
        return self._waiting > 1

    def hold(self, connection: _TerminalConnection) -> None:
        """Stop reading ``connection`` until the hand-overs catch up."""
        connection.hold("behind")
        self._held.add(connection)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def flush(self) -> None:
        """Read the reports gathered; answer the refused at once, hand the rest over."""
        self._handle = None
        rows, self._rows = self._rows, []
        if not rows:
            return
        frames = [frame for _, _, frame, _ in rows]
        lengths = np.fromiter(map(len, frames), np.int64, len(rows))
        frame_at = np.cumsum(lengths) - lengths
        body_at = frame_at + np.fromiter((at for *_, at in rows), np.int64, len(rows))
        cols = read_locations(b"".join(frames), body_at, frame_at + lengths - 1, frame_at)
        stats = self.stats
        stats.frames += len(rows)
        now = time.time()
        verdicts = cols.verdict.tolist()
        timed = (cols.device_s != NO_TIME).tolist()
        sos = ((cols.alarm & AlarmFlag.SOS) != 0).tolist()
        acks: list[_Answer] = []
        fixes: list[int] = []
        devices: list[str] = []
        offsets: list[int] = []
        accuracy: list[float] = []
        alarms: list[_Sos] = []
        serials: dict[_TerminalConnection, int] = {}  # each connection's next serial
        for i, (connection, entry, frame, at) in enumerate(rows):
            verdict = verdicts[i]
            if verdict:
                reason = VERDICTS[verdict]
                assert reason is not None
                stats.rejected[reason.value] += 1
                if connection in serials:
                    connection.take_serials(serials.pop(connection))
                connection.refuse(frame, reason)
                continue
            serial = serials.get(connection)
            if serial is None:
                serial = connection.state.serial
            serials[connection] = (serial + 1) & 0xFFFF
            acks.append((connection, entry.uid, serial, int.from_bytes(frame[at - 2 : at], "big")))
            if timed[i]:
                fixes.append(i)
                devices.append(entry.uid)
                offset = connection.state.utc_offset_s
                offsets.append(offset)
                accuracy.append(
                    DEFAULT_ACCURACY_M if entry.accuracy_m is None else entry.accuracy_m
                )
                if sos[i]:
                    alarms.append((entry, frame[:-1], at, offset))
        for connection, serial in serials.items():
            connection.take_serials(serial)
        stats.accepted += len(acks)
        stats.locations += len(acks)
        if not acks:
            return
        table = location_table(
            cols,
            np.array(fixes, dtype=np.int64),
            utc_offset_s=np.array(offsets, dtype=np.int64),
            accuracy_m=np.array(accuracy, dtype=np.float64),
            received_s=np.full(len(fixes), now),
        )
        self._waiting += 1
        before, self._tail = self._tail, asyncio.get_running_loop().create_future()
        batch = _Gathered(tuple(devices), table, now, acks, alarms)
        self.server.spawn(self._hand_over(before, self._tail, batch))

    async def caught_up(self) -> None:
        """Return once every report gathered so far has been handed over (so that what a
        terminal sends next off the fast lane is handed over after them)."""
        self.flush()
        if self._tail is not None and not self._tail.done():
            await asyncio.shield(self._tail)

    async def _hand_over(
        self, before: asyncio.Future[None] | None, mine: asyncio.Future[None], batch: _Gathered
    ) -> None:
        try:
            if before is not None and not before.done():
                await asyncio.shield(before)  # batches are handed over in the order read
            receipt = await self.server.handover.submit_table(
                batch.devices, batch.table, source=JT808, received_s=batch.received_s
            )
        finally:
            if not mine.done():
                mine.set_result(None)
            self._waiting -= 1
            if not self.behind:
                held, self._held = self._held, set()
                for connection in held:
                    connection.release("behind")
        loop = asyncio.get_running_loop()
        receipt.add_done_callback(
            lambda done: loop.call_soon_threadsafe(self._stored, done, batch.acks, batch.alarms)
        )

    def _stored(
        self,
        receipt: Receipt,
        acks: list[_Answer],
        alarms: list[_Sos],
    ) -> None:
        """On the loop, once the receipt resolved: each report's answer, and the alarms."""
        error = receipt.exception()
        if isinstance(error, SetAsideError):
            return
        partly = error if isinstance(error, PartlyStoredError) else None
        unsaid = partly.set_aside if partly is not None else frozenset()
        refused = partly.refused if partly is not None else frozenset()
        out: dict[_TerminalConnection, list[bytes]] = {}
        stats = self.stats
        for connection, uid, serial, reply_serial in acks:
            if uid in unsaid:
                continue
            failed = error is not None and (partly is None or uid in refused)
            if failed:
                stats.ack_failures += 1
            else:
                stats.acked += 1
            result = Result.FAILURE if failed else Result.OK
            frame = connection.responder.frame(serial, reply_serial, MessageId.LOCATION, result)
            out.setdefault(connection, []).append(frame)
        for connection, frames in out.items():
            connection.send(b"".join(frames))
        if self.server.alarm is None or (error is not None and partly is None):
            return
        for entry, frame, at, offset in alarms:
            if entry.uid in unsaid or entry.uid in refused:
                continue
            location = dataclasses.replace(LOCATION.read(frame[at:], 0)[0], utc_offset_s=offset)
            stats.alarms += 1
            self.server.alarm(entry, location)


# A report's answer to write once it is stored: connection, device, the 0x8001's serial and
# the report's serial.
_Answer = tuple["_TerminalConnection", str, int, int]
# An SOS report to raise once stored: device, frame, where its body begins, its clock's zone.
_Sos = tuple[DeviceEntry, bytes, int, int]


@dataclass(frozen=True, slots=True)
class _Gathered:
    """Reports read together: their fixes and whose they are, and what to do once stored."""

    devices: tuple[str, ...]
    table: FixTable
    received_s: float
    acks: list[_Answer]
    alarms: list[_Sos]


class _TerminalConnection(asyncio.Protocol):
    """One terminal's connection: its frames, its session, its device.

    Once the terminal is authenticated, its plain location reports take the fast lane
    (:class:`_Reports`); every other frame — and every frame while one is being handled — is
    decoded and stepped through the session in order by one task of the connection's.
    """

    def __init__(self, server: Jt808Server) -> None:
        self.server = server
        self.stats = server.stats
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set when made
        self.deframer = Deframer()
        self.state = SessionState()
        self.entry: DeviceEntry | None = None  # the authenticated device
        self.phone = b""  # its BCD phone number: set, its reports take the fast lane
        self.version: int | None = None  # the protocol version it authenticated with
        self.responder = Responder(b"")
        self.opened = self.seen = time.monotonic()
        # Frames (as they lay between flags) waiting for the connection's task, in order.
        self._slow: collections.deque[bytes | FrameRejection] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self._holds: set[str] = set()
        self._counted = False
        self._fd = -1  # the socket's, for answers written straight to it

    # -- transport callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        socket = transport.get_extra_info("socket")
        self._fd = socket.fileno() if socket is not None else -1
        if self.stats.active >= self.server.max_connections:
            self.stats.closed["too_many_connections"] += 1
            self.transport.close()
            return
        self._counted = True
        self.stats.connections += 1
        self.stats.active += 1
        self.server._connections.add(self)

    def data_received(self, data: bytes) -> None:
        if not self._counted:
            return
        self.seen = time.monotonic()
        reports = self.server.reports
        for run in self.deframer.runs(data):
            if self._task is None and self.phone and isinstance(run, bytes):
                raw = unescape(run)  # check code still on: the fast lane verifies it
                if raw is not None:
                    at = body_at(raw, MessageId.LOCATION, self.phone, trailer=1)
                    if at >= 0 and (at == _BODY_2013 or raw[4] == self.version):
                        assert self.entry is not None
                        reports.add(self, self.entry, raw, at)
                        continue
            self._slow.append(run)
        if self._slow and self._task is None:
            self._task = self.server.spawn(self._work())
        if reports.behind:
            reports.hold(self)

    def eof_received(self) -> bool:
        return False  # close

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._counted:
            return
        self._counted = False
        self.stats.active -= 1
        self.server._connections.discard(self)
        entry = self.entry
        if entry is not None and self.server._by_device.get(entry.uid) is self:
            del self.server._by_device[entry.uid]
        if self._task is None:
            self._count(self.deframer.flush())
        else:
            self._task.cancel()

    def pause_writing(self) -> None:
        self.hold("not_reading")  # a terminal not reading its answers: wait for it

    def resume_writing(self) -> None:
        self.release("not_reading")

    # -- the connection's work ----------------------------------------------------------------

    def hold(self, why: str) -> None:
        if not self._holds and not self.transport.is_closing():
            self.transport.pause_reading()
        self._holds.add(why)

    def release(self, why: str) -> None:
        self._holds.discard(why)
        if not self._holds and not self.transport.is_closing():
            self.transport.resume_reading()

    def overdue(self, now: float) -> str | None:
        """Why the connection should be closed now, if it should."""
        if self.state.phase is Phase.AUTHENTICATED:
            return "idle_timeout" if now - self.seen > self.server.idle_timeout_s else None
        if now - self.opened > self.server.registration_timeout_s:
            return "registration_timeout"
        return None

    def send(self, data: bytes) -> None:
        """Write answers. With nothing waiting in the transport's buffer they go straight to
        the socket: ``os.write`` lets the pipeline and the writer run meanwhile, where the
        event loop's own write would keep them waiting (thousands of answers a second); what
        the socket does not take at once is left to the transport, in order."""
        transport = self.transport
        if transport.is_closing():
            return
        if self._fd >= 0 and not transport.get_write_buffer_size():
            # Would block, or the connection is gone: the transport deals with it.
            with contextlib.suppress(OSError):
                data = data[os.write(self._fd, data) :]
        if data:
            transport.write(data)

    def take_serials(self, following: int) -> None:
        """The fast lane numbered responses up to ``following`` (the next serial)."""
        self.state = dataclasses.replace(self.state, serial=following)

    def refuse(self, frame: bytes, reason: FrameReason) -> None:
        """A report refused in the fast lane (``frame``: with its check code): answered as the
        session answers a refusal."""
        parsed = parse_header(frame[:-1])
        header = None if isinstance(parsed, FrameRejection) else parsed[0]
        self.state, outcome = step(
            self.state, FrameRejection(reason, frame[:KEPT_BYTES], "", header)
        )
        if not self.transport.is_closing():
            self.transport.write(b"".join(outcome.replies))

    async def _work(self) -> None:
        """Frames off the fast lane, in order, through the session."""
        try:
            while self._slow:
                run = self._slow.popleft()
                item = read_frame(unwrap(run) if isinstance(run, bytes) else run)
                self._count([item])
                if await self._handle(item):
                    self.transport.close()
                    return
        except Exception:  # a bug: log it, keep serving every other terminal
            log.exception("jt808 connection failed")
            self.stats.closed["error"] += 1
            self.transport.abort()
        finally:
            self._task = None
            if not self._counted:  # closed meanwhile: the unfinished frame is refused
                self._count(self.deframer.flush())

    def _count(self, items: Sequence[Message | FrameRejection]) -> None:
        stats = self.stats
        stats.frames += len(items)
        for item in items:
            if isinstance(item, FrameRejection):
                stats.rejected[item.reason.value] += 1
            else:
                stats.accepted += 1

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
            assert isinstance(item, Authentication)
            self.entry = entry
            if entry is not None:
                self.server._by_device[entry.uid] = self
                self.phone = bytes.fromhex(item.header.phone)
                self.version = item.header.protocol_version
                self.responder = Responder.to(item.header)
        elif self.state.phase is not Phase.AUTHENTICATED:
            self.entry, self.phone = None, b""
        self.transport.write(b"".join(outcome.replies))
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
        self.transport.write(outcome.grant.reply(code.encode()))
        return True

    async def _locations(self, outcome: Outcome) -> None:
        """Locations off the fast lane (blind-area batches, mostly): handed over after what
        the fast lane gathered before them."""
        entry, ack = self.entry, outcome.ack
        assert entry is not None and ack is not None
        received = datetime.now(UTC)
        fixes = location_fixes(outcome.locations, accuracy_m=entry.accuracy_m, received_at=received)
        self.stats.locations += len(outcome.locations)
        await self.server.reports.caught_up()
        receipt = await self.server.handover.submit(
            entry.uid,
            fixes,
            source=JT808,
            received_s=received.timestamp(),
            resent=outcome.blind_area,
        )
        alarms = [loc for loc in outcome.locations if loc.sos and loc.time is not None]
        loop = asyncio.get_running_loop()
        receipt.add_done_callback(
            lambda done: loop.call_soon_threadsafe(self._stored, done, ack, entry, alarms)
        )

    def _stored(
        self, receipt: Receipt, ack: Ack, entry: DeviceEntry, alarms: list[Location]
    ) -> None:
        """On the loop, once the receipt resolved: acknowledge (and raise the alarms)."""
        error = receipt.exception()
        if isinstance(error, SetAsideError):
            return  # quarantined: nothing is said, the terminal sends them again
        if error is not None:
            self.stats.ack_failures += 1
        else:
            self.stats.acked += 1
            if self.server.alarm is not None:
                for location in alarms:
                    self.stats.alarms += 1
                    self.server.alarm(entry, location)
        if not self.transport.is_closing():
            self.transport.write(ack.frame(Result.FAILURE if error else Result.OK))


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
            await daemon.devices.refresh()
        return daemon.devices.directory.by_uid.get(phone)

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
