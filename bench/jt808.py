"""JT/T 808 benchmark: simulated helmets over TCP against ``partymap serve`` on PostGIS.

    python bench/jt808.py                        # 500 terminals, 2 reports/s each, 20 s
    python bench/jt808.py --terminals 10000 --rate 2.5 --seconds 60    # the target's scale

A throwaway PostGIS cluster gets one branch, a member and a JT/T 808 device (code issued) per
terminal. ``partymap serve`` runs in its own process with the JT/T 808 server; the terminals
(:mod:`devkit.jt808` frames) connect from this one, authenticate and send 0x0200 reports at the
given rate. Prints: reports offered and acknowledged per second, positions stored per second
(the server's ``/metrics``), p50/p99 from sending a report to its acknowledgement (which comes
only once it is committed), and the server's CPU seconds per thousand reports. The machine has
two cores shared with other work: read the figures with the load of the moment.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import struct
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench")]

from devkit.jt808 import HELMET, SimTerminal  # noqa: E402
from devkit.services import free_port, throwaway_postgis  # noqa: E402
from gnss.jt808.framing import wrap  # noqa: E402
from gnss.jt808.location import Status  # noqa: E402
from gnss.jt808.messages import MessageId  # noqa: E402
from gnss.sources.loop import run as run_loop  # noqa: E402
from store import devices, members, orgs  # noqa: E402
from store.db import make_engine  # noqa: E402
from store.migrations import upgrade  # noqa: E402
from store.models import OrgKind  # noqa: E402


def seed(engine: Engine, count: int) -> list[tuple[str, bytes]]:
    made = []
    with Session(engine) as session:
        branch = orgs.create_organisation(session, name="一支部", kind=OrgKind.BRANCH)
        for n in range(count):
            member = members.create_member(session, org_id=branch.id, name=f"工人{n}")
            phone = f"{13800000000 + n:020d}"
            device = devices.create_device(
                session, uid=phone, member_id=member.id, protocol="jt808"
            )
            made.append((phone, devices.issue_device_token(session, device_id=device.id).encode()))
        session.commit()
    return made


class Link(asyncio.Protocol):
    """One terminal's connection, as cheap as a client can be: its reports are built from a
    prefix made once, the platform's answers are read only as far as the serial they answer."""

    def __init__(self, fleet: Fleet, n: int, phone: str, code: bytes) -> None:
        self.fleet, self.n = fleet, n
        self.hello = SimTerminal(phone, HELMET, code=code).connect()[0]
        self.phone = bytes.fromhex(phone)  # 20 digits: 2019 headers, protocol version 1
        self.transport: asyncio.Transport | None = None
        self.online = asyncio.Event()
        self.serial = 1000
        self.sent: dict[int, float] = {}
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.hello)  # type: ignore[attr-defined]

    def send(self, k: int) -> None:
        assert self.transport is not None
        body = self.fleet.body(self.n, k)
        properties = (0x4000 | len(body)).to_bytes(2, "big")
        serial = self.serial.to_bytes(2, "big")
        message = b"\x02\x00" + properties + b"\x01" + self.phone + serial + body
        self.sent[self.serial] = time.monotonic()
        self.transport.write(wrap(message))
        self.serial = (self.serial + 1) & 0xFFFF

    def data_received(self, data: bytes) -> None:
        *frames, self.buffer = (self.buffer + data).split(b"\x7e")
        for frame in frames:
            if len(frame) < 17:
                continue
            payload = frame.replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")
            at = 17 if payload[2] & 0x40 else 12
            reply_serial = int.from_bytes(payload[at : at + 2], "big")
            reply_id = int.from_bytes(payload[at + 2 : at + 4], "big")
            if reply_id == MessageId.AUTHENTICATION:
                self.online.set()
            elif reply_id == MessageId.LOCATION and (sent := self.sent.pop(reply_serial, None)):
                self.fleet.latencies.append(time.monotonic() - sent)


class Fleet:
    """Terminals reporting at a steady total rate, spread evenly over them."""

    def __init__(self, credentials: list[tuple[str, bytes]], base: datetime) -> None:
        self.links = [Link(self, n, phone, code) for n, (phone, code) in enumerate(credentials)]
        self.latencies: list[float] = []
        self.base = base
        self._times: dict[int, bytes] = {}

    def body(self, n: int, k: int) -> bytes:
        stamp = self._times.get(k)
        if stamp is None:
            stamp = bytes.fromhex(
                (self.base + timedelta(hours=8, seconds=k)).strftime("%y%m%d%H%M%S")
            )
            self._times[k] = stamp
        return (
            _BASIC.pack(0, _STATUS, 30_500_000 + n * 10, 114_300_000 + k, 30, 36, 90)
            + stamp
            + _EXTRAS
        )

    async def run(self, port: int, seconds: float, rate: float) -> int:
        loop = asyncio.get_running_loop()
        for link in self.links:
            await loop.create_connection(functools.partial(_same, link), "127.0.0.1", port)
        await asyncio.wait_for(asyncio.gather(*(link.online.wait() for link in self.links)), 120)
        start, sent, count = time.monotonic(), 0, len(self.links)
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate * count)
            for i in range(sent, due):
                self.links[i % count].send(i // count)
            sent = due
            await asyncio.sleep(0.01)
        deadline = time.monotonic() + 60
        while any(link.sent for link in self.links) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for link in self.links:
            assert link.transport is not None
            link.transport.close()
        return sent


def _same(link: Link) -> Link:
    return link


_BASIC = struct.Struct(">IIIIhHH")
_STATUS = int(Status.POSITIONED | Status.BEIDOU | Status.GPS)
_EXTRAS = bytes((0x31, 1, 12))


def metric(port: int, name: str) -> float:
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in [pid, *_children(pid)]:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=500)
    parser.add_argument("--rate", type=float, default=2.0, help="reports per second per terminal")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with throwaway_postgis() as url:
        engine = make_engine(url)
        upgrade(engine)
        credentials = seed(engine, args.terminals)
        http_port, port = free_port(), free_port()
        env = {**os.environ, "PARTYMAP_DATABASE_URL": url}
        server = subprocess.Popen(
            [sys.executable, "-c", "from partymap.cli import main; main()", "serve",
             "--port", str(http_port), "--no-tcp", "--jt808-port", str(port)],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).is_success:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("partymap serve did not start")
                time.sleep(0.2)
            fleet = Fleet(credentials, datetime.now(UTC).replace(microsecond=0) - timedelta(days=1))
            cpu0, stored0, t0 = cpu_seconds(server.pid), 0.0, time.monotonic()
            sent = run_loop(fleet.run(port, args.seconds, args.rate))
            latencies = fleet.latencies
            elapsed = time.monotonic() - t0
            stored = metric(http_port, "partymap_ingest_positions_stored_total") - stored0
            cpu = cpu_seconds(server.pid) - cpu0
            latencies.sort()

            def pct(q: float) -> float:
                return (
                    round(latencies[int(q * (len(latencies) - 1))] * 1000, 1) if latencies else -1
                )

            print(json.dumps({
                "terminals": args.terminals, "seconds": round(elapsed, 1), "reports_sent": sent,
                "reports_acked": len(latencies), "positions_stored": int(stored),
                "acked_per_s": round(len(latencies) / elapsed, 1),
                "ack_p50_ms": pct(0.5), "ack_p99_ms": pct(0.99),
                "server_cpu_s_per_1000_reports": round(1000 * cpu / max(stored, 1), 3),
            }))  # fmt: skip
        finally:
            server.terminate()
            server.wait(timeout=60)
            engine.dispose()


if __name__ == "__main__":
    main()
