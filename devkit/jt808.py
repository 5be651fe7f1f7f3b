"""Simulated JT/T 808 terminals — BeiDou smart helmets and personal badges — for the tests,
the benchmarks and the demo.

A :class:`SimTerminal` is sans-IO, like the platform's session: it makes the frames a terminal
sends and reads the platform's replies. It registers when it has no authentication code,
authenticates, sends heartbeats and location reports, and keeps every report the platform has
not acknowledged; when the connection drops, those and the reports made while offline are sent
after the next authentication as blind-area batches (0x0704 type 1), as real terminals do.
:func:`locations` turns a walked track (:func:`devkit.simulate.walk`, the receivers' scenarios)
into location reports with satellites from :class:`devkit.sky.Sky`; :class:`Connection` is a small
asyncio TCP client around a terminal, and :func:`drive` walks one through a list of reports.
:class:`LoadFleet` drives thousands of terminals at a steady rate for the benchmarks.

>>> from datetime import datetime, UTC
>>> from devkit.simulate import walk
>>> track = walk(datetime(2026, 5, 1, 8, 0, tzinfo=UTC), [(30.5, 114.3), (30.5004, 114.3)])
>>> reports = locations(track, HELMET)
>>> len(reports), reports[0].device_time, reports[0].positioned, reports[0].beidou_verified
(33, datetime.datetime(2026, 5, 1, 16, 0), True, True)
>>> from gnss.jt808.codec import decode
>>> helmet = SimTerminal("00000000013800000001", HELMET)
>>> [hex(decode(frame).header.msg_id) for frame in helmet.connect()]  # no code yet: register
['0x100']
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from devkit.families import TrackPoint
from devkit.receivers import course_deg, distance_m
from devkit.sky import Sky
from gnss.jt808.codec import Reader, encode
from gnss.jt808.framing import unescape, wrap
from gnss.jt808.header import MAX_BODY, Header
from gnss.jt808.location import GMT8_S, LOCATION, Alarm, Location, Status
from gnss.jt808.messages import (
    Authentication,
    BatchType,
    Deregistration,
    Edition,
    Heartbeat,
    LocationBatch,
    LocationReport,
    MessageId,
    PlatformResponse,
    Registration,
    RegistrationResponse,
    RegistrationResult,
    Result,
)
from gnss.model import Constellation

__all__ = [
    "BADGE",
    "HELMET",
    "Connection",
    "LoadFleet",
    "Profile",
    "SimTerminal",
    "drive",
    "locations",
]


@dataclass(frozen=True, slots=True)
class Profile:
    """How a class of terminals behaves."""

    name: str
    model: str
    protocol_version: int | None  # 1: 2019 headers; None: 2013
    systems: tuple[Constellation, ...]  # what its GNSS module tracks
    signal_strength: int  # item 0x30
    batch_max: int = 30  # locations per 0x0704


HELMET = Profile("helmet", "PM-HELMET-B2", 1, (Constellation.BEIDOU, Constellation.GPS), 24)
BADGE = Profile("badge", "PM-BADGE-B1", None, (Constellation.BEIDOU,), 18, batch_max=20)

_SYSTEM_BITS = {
    Constellation.GPS: Status.GPS,
    Constellation.BEIDOU: Status.BEIDOU,
    Constellation.GLONASS: Status.GLONASS,
    Constellation.GALILEO: Status.GALILEO,
}


def locations(
    track: Sequence[TrackPoint],
    profile: Profile,
    *,
    seed: int = 0,
    utc: bool = False,
    sos_at: Iterable[int] = (),
) -> list[Location]:
    """One location report per track point: speed and heading from the previous point,
    satellites used from a simulated sky (a point without a fix: none, not positioned), the
    time on the terminal's clock (GMT+8, or UTC for ``utc``), SOS raised at the given indexes."""
    sky, sos, out = Sky(seed), set(sos_at), []
    for index, point in enumerate(track):
        seconds = (point.time - track[0].time).total_seconds()
        visible = sky.at(seconds, fix=point.fix)
        used = {s: sum(sat.used for sat in visible[s]) for s in profile.systems}
        sats = sum(used.values())
        status = Status(0)
        for system, count in used.items():
            if count:
                status |= _SYSTEM_BITS[system]
        if point.fix and sats >= 4:
            status |= Status.POSITIONED
        if point.lat < 0:
            status |= Status.SOUTH
        if point.lon < 0:
            status |= Status.WEST
        speed_mps = heading = 0.0
        if index:
            before = track[index - 1]
            dt = (point.time - before.time).total_seconds()
            metres = distance_m(before.lat, before.lon, point.lat, point.lon)
            speed_mps = metres / dt if dt > 0 else 0.0
            heading = course_deg(before.lat, before.lon, point.lat, point.lon) if metres else 0.0
        zone = timedelta(seconds=0 if utc else GMT8_S)
        out.append(
            Location(
                alarm=int(Alarm.SOS) if index in sos else 0,
                status=int(status),
                lat_microdeg=round(abs(point.lat) * 1e6),
                lon_microdeg=round(abs(point.lon) * 1e6),
                alt_m=round(point.alt_m),
                speed_tenth_kmh=round(speed_mps * 36),
                heading_deg=round(heading) % 360,
                device_time=(point.time + zone).replace(tzinfo=None),
                extras=(
                    (0x30, bytes((profile.signal_strength,))),
                    (0x31, bytes((sats,))),
                ),
            )
        )
    return out


class Link(enum.Enum):
    OFFLINE = "offline"
    CONNECTING = "connecting"  # connected, registering or authenticating
    ONLINE = "online"  # authenticated


@dataclass
class SimTerminal:
    """One terminal's side of the protocol, without I/O.

    ``acked`` lists, in order, every location the platform acknowledged; ``pending`` the
    reports sent and not yet acknowledged (by serial number); ``backlog`` what waits to be sent.
    """

    phone: str
    profile: Profile = HELMET
    code: bytes | None = None
    imei: str = "864800000000000"
    serial: int = 0
    link: Link = Link.OFFLINE
    pending: dict[int, tuple[Location, ...]] = field(default_factory=dict)
    backlog: list[Location] = field(default_factory=list)
    acked: list[Location] = field(default_factory=list)
    dropped: list[Location] = field(default_factory=list)  # refused as malformed: not re-sent
    refusals: list[int] = field(default_factory=list)  # registration results other than OK
    _auth_serial: int | None = None
    _reader: Reader = field(default_factory=Reader)

    @property
    def online(self) -> bool:
        return self.link is Link.ONLINE

    def connect(self) -> list[bytes]:
        """A new connection: register (no code yet) or authenticate."""
        if self.link is not Link.OFFLINE:
            self.disconnect()
        self.link, self._reader = Link.CONNECTING, Reader()
        return [self._registration() if self.code is None else self._authentication()]

    def disconnect(self) -> None:
        """The connection is gone: what was not acknowledged will be sent again."""
        waiting = [loc for batch in self.pending.values() for loc in batch]
        self.backlog = sorted(waiting + self.backlog, key=_when)
        self.pending.clear()
        self.link = Link.OFFLINE

    def report(self, location: Location) -> list[bytes]:
        """A new location: sent at once when online, else kept for a blind-area batch."""
        if not self.online:
            self.backlog.append(location)
            return []
        return [self._send(LocationReport(self._header(MessageId.LOCATION), location))]

    def heartbeat(self) -> list[bytes]:
        return [encode(Heartbeat(self._header(MessageId.HEARTBEAT)))] if self.online else []

    def deregister(self) -> list[bytes]:
        return [encode(Deregistration(self._header(MessageId.DEREGISTRATION)))]

    def receive(self, data: bytes) -> list[bytes]:
        """The platform's bytes; returns what the terminal sends in answer."""
        out: list[bytes] = []
        for message in self._reader.feed(data):
            if isinstance(message, RegistrationResponse):
                out += self._registered(message)
            elif isinstance(message, PlatformResponse):
                out += self._answered(message)
        return out

    def _registered(self, response: RegistrationResponse) -> list[bytes]:
        if response.result != RegistrationResult.OK:
            self.refusals.append(response.result)
            return []
        self.code = response.code
        return [self._authentication()]

    def _answered(self, response: PlatformResponse) -> list[bytes]:
        if (
            response.reply_id == MessageId.AUTHENTICATION
            and response.reply_serial == self._auth_serial
        ):
            if response.result != Result.OK:
                return []
            self.link = Link.ONLINE
            return self._flush_backlog()
        sent = self.pending.pop(response.reply_serial, None)
        if sent is None:
            return []
        if response.result == Result.OK:
            self.acked += sent
        elif response.result == Result.FAILURE:
            self.backlog = sorted([*sent, *self.backlog], key=_when)
        else:
            self.dropped += sent
        return []

    def _flush_backlog(self) -> list[bytes]:
        """The backlog as blind-area batches, each within one packet's body."""
        batches: list[list[Location]] = []
        room = 0
        for location in self.backlog:
            size = 2 + len(LOCATION.write(location))  # the item and its length
            if not batches or size > room or len(batches[-1]) >= self.profile.batch_max:
                batches.append([])
                room = MAX_BODY - 3  # the count and the type
            batches[-1].append(location)
            room -= size
        self.backlog = []
        return [
            self._send(
                LocationBatch(
                    self._header(MessageId.LOCATION_BATCH), BatchType.BLIND_AREA, tuple(batch)
                )
            )
            for batch in batches
        ]

    def _send(self, message: LocationReport | LocationBatch) -> bytes:
        sent = (message.location,) if isinstance(message, LocationReport) else message.locations
        self.pending[message.header.serial] = sent
        return encode(message)

    def _header(self, msg_id: int) -> Header:
        digits = 20 if self.profile.protocol_version is not None else 12
        header = Header(
            msg_id,
            self.phone[-digits:].rjust(digits, "0"),
            self.serial,
            protocol_version=self.profile.protocol_version,
        )
        self.serial = (self.serial + 1) & 0xFFFF
        return header

    def _registration(self) -> bytes:
        header = self._header(MessageId.REGISTRATION)
        edition = Edition.V2019 if header.is_2019 else Edition.V2013
        model = self.profile.model[: 30 if header.is_2019 else 20]
        terminal_id = self.phone[-7:]
        message = Registration(header, 42, 100, "PTMAP", model, terminal_id, 0, "", edition)
        return encode(message)

    def _authentication(self) -> bytes:
        header = self._header(MessageId.AUTHENTICATION)
        self._auth_serial = header.serial
        code = self.code or b""
        if header.is_2019:
            return encode(Authentication(header, code, self.imei, "1.0.0"))
        return encode(Authentication(header, code))


def _when(location: Location) -> float:
    return location.device_time.timestamp() if location.device_time else 0.0


class Connection:
    """A terminal over a real TCP connection: replies are read by a background task and
    answered at once; :meth:`wait` polls the terminal's state."""

    def __init__(self, terminal: SimTerminal) -> None:
        self.terminal = terminal
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self.closed_by_platform = asyncio.Event()

    @classmethod
    async def open(cls, terminal: SimTerminal, host: str, port: int) -> Connection:
        self = cls(terminal)
        reader, self._writer = await asyncio.open_connection(host, port)
        self._task = asyncio.create_task(self._read(reader))
        await self.send(terminal.connect())
        return self

    async def send(self, frames: Iterable[bytes]) -> None:
        if self._writer is None:
            raise ConnectionError("not connected")
        self._writer.write(b"".join(frames))
        await self._writer.drain()

    async def report(self, location: Location) -> None:
        await self.send(self.terminal.report(location))

    async def wait_online(self, timeout_s: float = 10.0) -> None:
        """Until the terminal has authenticated."""
        await self._until(lambda: self.terminal.online, timeout_s)

    async def wait_acked(self, timeout_s: float = 10.0) -> None:
        """Until every report made so far has been acknowledged (or refused)."""
        await self._until(
            lambda: not self.terminal.pending and not self.terminal.backlog, timeout_s
        )

    async def _until(self, done: Callable[[], bool], timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            while not done():
                if self.closed_by_platform.is_set():
                    raise ConnectionError("the platform closed the connection")
                await asyncio.sleep(0.005)

    async def close(self) -> None:
        """Drop the connection (as a terminal losing its network does)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        self.terminal.disconnect()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while data := await reader.read(65536):
                answer = self.terminal.receive(data)
                if answer:
                    await self.send(answer)
        except ConnectionError:
            pass
        finally:
            self.closed_by_platform.set()


async def drive(
    terminal: SimTerminal,
    host: str,
    port: int,
    reports: Iterable[Location],
    *,
    interval_s: float = 0.0,
    heartbeat_every: int = 0,
    timeout_s: float = 30.0,
) -> SimTerminal:
    """Connects, authenticates (registering first if it has no code), sends the reports
    ``interval_s`` apart with a heartbeat after every ``heartbeat_every`` of them, waits until
    all are acknowledged and disconnects."""
    connection = await Connection.open(terminal, host, port)
    try:
        await connection.wait_online(timeout_s)
        for index, location in enumerate(reports, 1):
            await connection.report(location)
            if heartbeat_every and index % heartbeat_every == 0:
                await connection.send(terminal.heartbeat())
            if interval_s:
                await asyncio.sleep(interval_s)
        await connection.wait_acked(timeout_s)
    finally:
        await connection.close()
    return terminal


class LoadFleet:
    """Thousands of authenticated terminals reporting at a steady total rate, from one
    process, for the benchmarks: each report is built from a prefix made once and the
    platform's answers are read only as far as the serial they answer (no
    :class:`SimTerminal` bookkeeping). Terminal ``n`` stands at ``positions[n]``; its ``k``-th
    report is timed ``base + k`` seconds (in GMT+8 on the wire, as the standard says).

    ``latencies``: seconds from sending each report to its acknowledgement; ``sent_at``: the
    wall-clock time each report was sent, for the terminals in ``timed`` (by (n, k)).
    """

    def __init__(
        self,
        credentials: Sequence[tuple[str, bytes]],
        positions: Sequence[tuple[float, float]],
        base: datetime,
        *,
        timed: frozenset[int] = frozenset(),
    ) -> None:
        self.links = [
            _LoadLink(self, n, phone, code, positions[n])
            for n, (phone, code) in enumerate(credentials)
        ]
        self.base = base
        self.timed = timed
        self.latencies: list[float] = []
        self.sent_at: dict[tuple[int, int], float] = {}
        self._stamps: dict[int, bytes] = {}

    def stamp(self, k: int) -> bytes:
        """The BCD time of every terminal's ``k``-th report."""
        stamp = self._stamps.get(k)
        if stamp is None:
            beijing = self.base + timedelta(seconds=GMT8_S + k)
            stamp = self._stamps[k] = bytes.fromhex(beijing.strftime("%y%m%d%H%M%S"))
        return stamp

    async def connect(self, host: str, port: int, timeout_s: float = 120.0) -> None:
        """Connect and authenticate every terminal."""
        loop = asyncio.get_running_loop()
        for link in self.links:
            await loop.create_connection(functools.partial(_itself, link), host, port)
        waits = (link.online.wait() for link in self.links)
        await asyncio.wait_for(asyncio.gather(*waits), timeout_s)

    async def send(self, seconds: float, rate_hz: float) -> int:
        """Send for ``seconds``, ``rate_hz`` reports a second per terminal, spread evenly;
        then wait (up to a minute) for the acknowledgements. Returns the reports sent."""
        start, sent, count = time.monotonic(), 0, len(self.links)
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate_hz * count)
            for i in range(sent, due):
                self.links[i % count].send(i // count)
            sent = due
            await asyncio.sleep(0.01)
        deadline = time.monotonic() + 60
        while any(link.waiting for link in self.links) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return sent

    def close(self) -> None:
        for link in self.links:
            if link.transport is not None:
                link.transport.close()


_BASIC = struct.Struct(">IIIIhHH")
_LOAD_STATUS = int(Status.POSITIONED | Status.BEIDOU | Status.GPS)
_LOAD_EXTRAS = bytes((0x31, 1, 12))  # 12 satellites used


class _LoadLink(asyncio.Protocol):
    """One terminal of a :class:`LoadFleet` (2019 headers, protocol version 1)."""

    def __init__(
        self, fleet: LoadFleet, n: int, phone: str, code: bytes, where: tuple[float, float]
    ) -> None:
        self.fleet, self.n = fleet, n
        self.hello = SimTerminal(phone, HELMET, code=code).connect()[0]
        self.phone = bytes.fromhex(phone.rjust(20, "0"))
        lat, lon = round(abs(where[0]) * 1e6), round(abs(where[1]) * 1e6)
        status = _LOAD_STATUS | (Status.SOUTH if where[0] < 0 else 0)
        self.basic = (int(status | (Status.WEST if where[1] < 0 else 0)), lat, lon)
        self.transport: asyncio.Transport | None = None
        self.online = asyncio.Event()
        self.serial = 1000
        self.waiting: dict[int, float] = {}  # sent, not acknowledged: serial → when
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.hello)  # type: ignore[attr-defined]

    def send(self, k: int) -> None:
        assert self.transport is not None
        status, lat, lon = self.basic
        body = _BASIC.pack(0, status, lat, lon, 30, 36, 90) + self.fleet.stamp(k) + _LOAD_EXTRAS
        properties = (0x4000 | len(body)).to_bytes(2, "big")
        serial = self.serial.to_bytes(2, "big")
        message = b"\x02\x00" + properties + b"\x01" + self.phone + serial + body
        now = time.monotonic()
        self.waiting[self.serial] = now
        if self.n in self.fleet.timed:
            self.fleet.sent_at[self.n, k] = time.time()
        self.transport.write(wrap(message))
        self.serial = (self.serial + 1) & 0xFFFF

    def data_received(self, data: bytes) -> None:
        *frames, self.buffer = (self.buffer + data).split(b"\x7e")
        for frame in frames:
            if len(frame) < 17:
                continue
            payload = unescape(frame) or b""
            at = 17 if payload[2:3] and payload[2] & 0x40 else 12
            reply_serial = int.from_bytes(payload[at : at + 2], "big")
            reply_id = int.from_bytes(payload[at + 2 : at + 4], "big")
            if reply_id == MessageId.AUTHENTICATION:
                self.online.set()
            elif reply_id == MessageId.LOCATION and (sent := self.waiting.pop(reply_serial, 0)):
                self.fleet.latencies.append(time.monotonic() - sent)


def _itself(link: _LoadLink) -> _LoadLink:
    return link
