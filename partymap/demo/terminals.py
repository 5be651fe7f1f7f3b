"""The demo's JT/T 808 helmets: their recorded location reports played over a real TCP
connection to the daemon's JT/T 808 port, as the helmets would send them.

A recording (``fixtures/demo/*/<phone>.jt808``, written by ``fixtures/demo/generate.py``) holds
the 0x0200 frames a helmet sent, one hex frame a line. :func:`recorded_reports` reads them with
the product's codec and moves their times by the same shift as the NMEA logs. A
:class:`Helmet` authenticates with the code seeded for it (0x0102), sends each report — at once,
or when the wall clock reaches its time — and keeps every report the platform has not
acknowledged: the platform acknowledges a location only once it is stored, so when the
connection drops, the helmet connects again and re-sends what is unacknowledged as a blind-area
batch (0x0704 type 1), as a real terminal does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gnss.jt808.codec import Reader, decode, encode
from gnss.jt808.header import MAX_BODY, Header
from gnss.jt808.location import GMT8_S, LOCATION, Location
from gnss.jt808.messages import (
    Authentication,
    BatchType,
    LocationBatch,
    LocationReport,
    MessageId,
    PlatformResponse,
    Result,
)

log = logging.getLogger(__name__)

SUFFIX = ".jt808"
PROTOCOL_VERSION = 1  # JT/T 808-2019 headers: the phone number in 20 digits
BATCH_MAX = 30  # locations per blind-area batch, at most (and within one packet's body)
RECONNECT_S = 1.0


def recorded_reports(path: Path, shift: timedelta) -> list[Location]:
    """The locations of the recording at ``path``, their device times moved by ``shift``;
    a line that is not a location report is an error (the recording is ours)."""
    out = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        message = decode(bytes.fromhex(line.strip()))
        if not isinstance(message, LocationReport):
            raise ValueError(f"{path}:{number}: not a location report: {message}")
        location = message.location
        if location.device_time is not None:
            location = replace(location, device_time=location.device_time + shift)
        out.append(location)
    return out


def fix_time(location: Location) -> datetime | None:
    """When the helmet reported ``location`` (its clock runs on GMT+8)."""
    if location.device_time is None:
        return None
    return (location.device_time - timedelta(seconds=GMT8_S)).replace(tzinfo=UTC)


class Helmet:
    """One helmet: its phone number (the device's uid) and authentication code."""

    def __init__(self, phone: str, code: str, *, host: str, port: int) -> None:
        self.phone, self.code = phone, code.encode()
        self.host, self.port = host, port
        self.serial = 0
        self.pending: dict[int, tuple[Location, ...]] = {}  # sent, not acknowledged
        self.unsent: list[Location] = []  # made, not yet sent
        self.kept: list[Location] = []  # sent and not stored (connection lost, or "failure")
        self.acked = 0
        self.connections = 0
        self._writer: asyncio.StreamWriter | None = None
        self._online = asyncio.Event()
        self._changed = asyncio.Event()
        self._reading: asyncio.Task[None] | None = None
        self._auth_serial = -1

    async def play(self, reports: list[Location], *, paced: bool, timeout_s: float = 60) -> None:
        """Send ``reports`` (``paced``: each when the wall clock reaches its time), then wait
        until all are acknowledged; reconnect whenever the connection drops."""
        try:
            for location in reports:
                when = fix_time(location)
                if paced and when is not None:
                    wait_s = (when - datetime.now(UTC)).total_seconds()
                    if wait_s > 0:
                        await asyncio.sleep(wait_s)
                await self._report(location)
            async with asyncio.timeout(timeout_s):
                while self.pending or self.unsent or self.kept:
                    await self._connected()
                    self._changed.clear()
                    await self._changed.wait()
        finally:
            await self.close()

    async def close(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        self._writer, self._reading = None, None

    async def _report(self, location: Location) -> None:
        self.unsent.append(location)
        with contextlib.suppress(ConnectionError, TimeoutError):
            await self._connected()

    async def _connected(self) -> None:
        """Online (connecting and authenticating if need be), then send what is unsent."""
        while not self._online.is_set():
            await self.close()
            try:
                reader, self._writer = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                log.warning("helmet %s cannot connect (%s): retrying", self.phone, exc)
                await asyncio.sleep(RECONNECT_S)
                continue
            self.connections += 1
            self._reading = asyncio.create_task(self._read(reader))
            header = self._header(MessageId.AUTHENTICATION)
            self._auth_serial = header.serial
            self._writer.write(encode(Authentication(header, self.code, "864800000000000", "1.0")))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await self._online.wait()
        kept, self.kept = self.kept, []
        frames = [  # what was not stored: blind-area batches, in the order made
            self._send(
                LocationBatch(self._header(MessageId.LOCATION_BATCH), BatchType.BLIND_AREA, batch)
            )
            for batch in _batches(kept)
        ]
        sending, self.unsent = self.unsent, []
        frames += [
            self._send(LocationReport(self._header(MessageId.LOCATION), loc)) for loc in sending
        ]
        if frames and self._writer is not None:
            self._writer.write(b"".join(frames))
            with contextlib.suppress(ConnectionError):
                await self._writer.drain()

    def _send(self, message: LocationReport | LocationBatch) -> bytes:
        sent = (message.location,) if isinstance(message, LocationReport) else message.locations
        self.pending[message.header.serial] = sent
        return encode(message)

    def _header(self, msg_id: int) -> Header:
        header = Header(msg_id, self.phone, self.serial, protocol_version=PROTOCOL_VERSION)
        self.serial = (self.serial + 1) & 0xFFFF
        return header

    async def _read(self, reader: asyncio.StreamReader) -> None:
        codec = Reader()
        try:
            while data := await reader.read(65536):
                for message in codec.feed(data):
                    if isinstance(message, PlatformResponse):
                        self._answered(message)
        except ConnectionError:
            pass
        finally:  # the connection is gone: what was not acknowledged is sent again
            self._online.clear()
            lost = [loc for serial in sorted(self.pending) for loc in self.pending[serial]]
            self.kept = lost + self.kept
            self.pending.clear()
            self._changed.set()

    def _answered(self, response: PlatformResponse) -> None:
        if response.reply_id == MessageId.AUTHENTICATION:
            if response.reply_serial == self._auth_serial and response.result == Result.OK:
                self._online.set()
            else:
                log.warning("helmet %s not authenticated (result %s)", self.phone, response.result)
            return
        sent = self.pending.pop(response.reply_serial, None)
        if sent is None:
            return
        if response.result == Result.OK:
            self.acked += len(sent)
        elif response.result == Result.FAILURE:  # not stored: send it again
            self.kept = [*sent, *self.kept]
        self._changed.set()


def _batches(kept: list[Location]) -> list[tuple[Location, ...]]:
    """``kept`` cut into batches that each fit one packet: a count and a type, then each
    location as its length and its bytes."""
    batches: list[list[Location]] = []
    room = 0
    for location in kept:
        size = 2 + len(LOCATION.write(location))
        if not batches or size > room or len(batches[-1]) >= BATCH_MAX:
            batches.append([])
            room = MAX_BODY - 3
        batches[-1].append(location)
        room -= size
    return [tuple(batch) for batch in batches]
