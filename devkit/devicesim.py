"""Simulated field devices: the TCP device protocol with small, valid NMEA epochs, for the tests
and the ingest benchmark. (Realistic receiver output, with noise and outages, is
:mod:`devkit.simulate`'s job; these lines only have to be valid and cheap to make.)

Every device sits still at its own point of a grid and sends GGA + RMC (``full=True``: plus a GSA
and three GSV per constellation, GPS and BeiDou) stamped with the time of sending, so a consumer
can measure the latency from a fix to its effect. Checksums are XORs, so a device's fixed fields
are summed once and each epoch only adds its time and date.

Run ``python -m devkit.devicesim --port 5055 --devices 10000 --seconds 60`` to hold that
many connections against a running server; it prints a JSON line once all are connected and
registered, and a report at the end.

>>> sentence("GPGGA,120000.00,3030.00000,N,11418.00000,E,1,08,0.9,30.0,M,-10.0,M,,")
b'$GPGGA,120000.00,3030.00000,N,11418.00000,E,1,08,0.9,30.0,M,-10.0,M,,*7C\\r\\n'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import json
import math
import operator
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import cast

from gnss.sources.tcp import raise_open_file_limit

DEFAULT_ORIGIN = (30.5, 114.3)  # lat, lon


def _xor(data: bytes) -> int:
    return functools.reduce(operator.xor, data, 0)


def sentence(body: str) -> bytes:
    """``$<body>*<checksum>\\r\\n``."""
    raw = body.encode("ascii")
    return b"$%s*%02X\r\n" % (raw, _xor(raw))


def _ddmm(value: float, width: int) -> str:
    degrees = int(abs(value))
    minutes = (abs(value) - degrees) * 60
    return f"{degrees:0{width}d}{minutes:08.5f}"


def position_of(
    index: int, origin: tuple[float, float] = DEFAULT_ORIGIN, spacing_m: float = 100.0
) -> tuple[float, float]:
    """(lat, lon) of device ``index``: a square grid of ``spacing_m`` east of ``origin``."""
    side = 1000
    row, col = divmod(index, side)
    lat = origin[0] + row * spacing_m / 111_320
    lon = origin[1] + col * spacing_m / (111_320 * math.cos(math.radians(origin[0])))
    return lat, lon


_GSV = {
    "GP": ("01,40,083,46", "03,62,201,44", "06,18,311,40", "11,55,045,47", "14,30,120,41",
           "17,12,270,36", "19,70,015,48", "22,25,180,42", "24,08,330,33", "28,45,250,45"),
    "GB": ("01,37,145,42", "02,46,235,40", "03,50,199,44", "04,33,124,41", "06,64,003,45",
           "07,20,080,38", "09,55,300,43", "10,41,210,42", "13,15,040,35", "16,68,170,46"),
}  # fmt: skip


def _static_sentences() -> bytes:
    """The GSA and GSV of a full epoch: they carry no time, so every epoch repeats them."""
    lines = [
        sentence("GNGSA,A,3,01,03,06,11,14,17,19,22,,,,,1.6,0.9,1.3,1"),
        sentence("GNGSA,A,3,01,02,03,04,06,07,09,10,,,,,1.6,0.9,1.3,4"),
    ]
    for talker, sats in _GSV.items():
        for number in range(3):
            group = ",".join(sats[number * 4 : number * 4 + 4])
            lines.append(sentence(f"{talker}GSV,3,{number + 1},{len(sats)},{group}"))
    return b"".join(lines)


# (hhmmss.ss, ddmmyy, XOR of the first, XOR of the second)
Stamps = tuple[bytes, bytes, int, int]


def stamps(when: datetime) -> Stamps:
    """The time and date fields of RMC for ``when`` (UTC), with their checksum terms."""
    hhmmss = when.strftime("%H%M%S").encode() + b".%02d" % (when.microsecond // 10_000)
    ddmmyy = when.strftime("%d%m%y").encode()
    return hhmmss, ddmmyy, _xor(hhmmss), _xor(ddmmyy)


class EpochMaker:
    """The NMEA of one epoch of a device standing at (lat, lon), at any time."""

    __slots__ = ("_gga", "_rmc", "_static", "_xor_gga", "_xor_rmc")

    def __init__(self, lat: float, lon: float, *, full: bool = False) -> None:
        ns, ew = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
        where = f"{_ddmm(lat, 2)},{ns},{_ddmm(lon, 3)},{ew}"
        # (before the time, between time and date, after the date)
        self._gga = (b"GNGGA,", f",{where},1,12,0.8,35.0,M,-12.0,M,,".encode(), b"")
        self._rmc = (b"GNRMC,", f",A,{where},0.00,0.0,".encode(), b",,,A")
        self._xor_gga = _xor(b"".join(self._gga))
        self._xor_rmc = _xor(b"".join(self._rmc))
        self._static = _static_sentences() if full else b""

    def at(self, when: datetime) -> bytes:
        return self.with_stamps(stamps(when))

    def with_stamps(self, stamps: Stamps) -> bytes:
        """Like :meth:`at`, with the time fields made once for every device sending at once."""
        hhmmss, ddmmyy, xor_time, xor_date = stamps
        g0, g1, _ = self._gga
        r0, r1, r2 = self._rmc
        gga = b"$%s%s%s*%02X\r\n" % (g0, hhmmss, g1, self._xor_gga ^ xor_time)
        rmc = b"$%s%s%s%s%s*%02X\r\n" % (
            r0, hhmmss, r1, ddmmyy, r2, self._xor_rmc ^ xor_time ^ xor_date
        )  # fmt: skip
        return gga + rmc + self._static


@dataclass(frozen=True, slots=True)
class Credential:
    device_id: str
    token: str

    def registration(self) -> bytes:
        return f"REG,{self.device_id},{self.token}\n".encode()


def fleet(count: int, *, prefix: str = "sim", secret: str = "partymap-sim") -> list[Credential]:
    """``count`` devices ``<prefix>-00000``…, each with a token derived from ``secret``."""
    width = max(5, len(str(count - 1)))
    ids = [f"{prefix}-{i:0{width}d}" for i in range(count)]
    return [Credential(i, hashlib.sha256(f"{secret}:{i}".encode()).hexdigest()[:24]) for i in ids]


class _Device(asyncio.Protocol):
    __slots__ = ("closed_by_server", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed_by_server = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed_by_server = self.transport is not None and not self.transport.is_closing()
        self.transport = None

    def eof_received(self) -> bool:
        self.closed_by_server = True
        return False


@dataclass(slots=True)
class SimReport:
    devices: int = 0
    connected: int = 0
    connect_failures: int = 0
    closed_by_server: int = 0
    epochs: int = 0
    bytes: int = 0
    connect_s: float = 0.0
    send_s: float = 0.0


class DeviceFleet:
    """Connected simulated devices; ``async with`` closes them all.

    Device ``k`` stands at grid point ``indices[k]`` (:func:`position_of`; by default ``k``):
    fleets that share out one seeded set of credentials pass each credential's own index, so
    that no two devices send the same sentences (which the replay rule rightly rejects) and each
    stands where its site was seeded.

    Connections to a loopback host come from many loopback addresses (127.0.0.1–127.0.0.250) so
    that 10,000 devices and their reconnect storms do not run out of ephemeral ports.
    """

    def __init__(self, host: str, port: int, credentials: Sequence[Credential], *,
                 full: bool = False, origin: tuple[float, float] = DEFAULT_ORIGIN,
                 spacing_m: float = 100.0, connect_concurrency: int = 256,
                 indices: Sequence[int] | None = None) -> None:  # fmt: skip
        self.host, self.port = host, port
        self.credentials = list(credentials)
        grid = range(len(self.credentials)) if indices is None else indices
        if len(grid) != len(self.credentials):
            raise ValueError("one grid index per credential")
        self.makers = [EpochMaker(*position_of(i, origin, spacing_m), full=full) for i in grid]
        self.devices: list[_Device] = []
        self.report = SimReport(devices=len(self.credentials))
        self._slots = asyncio.Semaphore(connect_concurrency)

    async def __aenter__(self) -> DeviceFleet:
        started = time.perf_counter()
        self.devices = list(await asyncio.gather(*map(self._connect, range(len(self.credentials)))))
        self.report.connected = sum(d.transport is not None for d in self.devices)
        self.report.connect_failures = len(self.devices) - self.report.connected
        self.report.connect_s = time.perf_counter() - started
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.report.closed_by_server = sum(d.closed_by_server for d in self.devices)
        for device in self.devices:
            if device.transport is not None:
                device.transport.close()  # after what is still buffered has been sent
        deadline = time.monotonic() + 30
        while any(d.transport is not None for d in self.devices) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def _connect(self, index: int) -> _Device:
        device = _Device()
        local = (f"127.0.0.{1 + index % 250}", 0) if self.host.startswith("127.") else None
        async with self._slots:
            with contextlib.suppress(OSError):
                await asyncio.get_running_loop().create_connection(
                    lambda: device, self.host, self.port, local_addr=local
                )
                assert device.transport is not None
                sock = device.transport.get_extra_info("socket")
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                device.transport.write(self.credentials[index].registration())
        return device

    async def send(self, *, seconds: float, rate_hz: float = 1.0, tick_s: float = 0.02) -> None:
        """Every device sends ``rate_hz`` epochs a second for ``seconds``, spread evenly."""
        loop = asyncio.get_running_loop()
        period = 1 / rate_hz
        ticks = max(1, round(period / tick_s))
        count = len(self.devices)
        started = loop.time()
        for k in range(max(1, round(seconds * rate_hz))):
            for j in range(ticks):
                due = started + k * period + j * period / ticks
                await asyncio.sleep(max(0.0, due - loop.time()))
                self._send_slice(j * count // ticks, (j + 1) * count // ticks)
        self.report.send_s = loop.time() - started

    def _send_slice(self, first: int, end: int) -> None:
        now = stamps(datetime.now(UTC))
        report = self.report
        for index in range(first, end):
            transport = self.devices[index].transport
            if transport is not None:
                data = self.makers[index].with_stamps(now)
                transport.write(data)
                report.epochs += 1
                report.bytes += len(data)


async def _main(args: argparse.Namespace) -> SimReport:
    credentials = fleet(args.devices, prefix=args.prefix, secret=args.secret)
    async with DeviceFleet(args.host, args.port, credentials, full=args.full) as devices:
        print(json.dumps({"event": "connected", **asdict(devices.report)}), flush=True)
        await devices.send(seconds=args.seconds, rate_hz=args.rate)
    return devices.report


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--prefix", default="sim")
    parser.add_argument("--secret", default="partymap-sim")
    parser.add_argument("--rate", type=float, default=1.0, help="epochs per second per device")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--full", action="store_true", help="GSA and GSV too, GPS and BeiDou")
    args = parser.parse_args(argv)
    raise_open_file_limit()
    report = asyncio.run(_main(args))
    print(json.dumps({"event": "done", **asdict(report)}), flush=True)
    sys.exit(0 if report.connected == report.devices else 1)


if __name__ == "__main__":
    main()
