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
import json
import os
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
from gnss.jt808.codec import Reader, encode  # noqa: E402
from gnss.jt808.header import Header  # noqa: E402
from gnss.jt808.location import Location, Status  # noqa: E402
from gnss.jt808.messages import LocationReport, MessageId, PlatformResponse  # noqa: E402
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


def report(n: int, k: int, when: datetime) -> Location:
    return Location(
        alarm=0,
        status=int(Status.POSITIONED | Status.BEIDOU | Status.GPS),
        lat_microdeg=30_500_000 + n * 10,
        lon_microdeg=114_300_000 + k,
        alt_m=30,
        speed_tenth_kmh=36,
        heading_deg=90,
        device_time=(when + timedelta(hours=8)).replace(tzinfo=None),
        extras=((0x31, bytes((12,))),),
    )


async def terminal(
    n: int, phone: str, code: bytes, *, port: int, seconds: float, rate: float, lat: list[float]
) -> int:
    sim = SimTerminal(phone, HELMET, code=code)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"".join(sim.connect()))
    codec, sent = Reader(), {}
    online = asyncio.Event()

    async def read() -> None:
        while data := await reader.read(65536):
            for message in codec.feed(data):
                if not isinstance(message, PlatformResponse):
                    continue
                if message.reply_id == MessageId.AUTHENTICATION:
                    online.set()
                elif message.reply_serial in sent:
                    lat.append(time.monotonic() - sent.pop(message.reply_serial))

    task = asyncio.create_task(read())
    await asyncio.wait_for(online.wait(), 60)
    start = time.monotonic()
    k, serial = 0, 1000
    # One fix time per report, a second apart and in the past (the BCD time has whole seconds).
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    while time.monotonic() - start < seconds:
        header = Header(MessageId.LOCATION, phone, serial, protocol_version=1)
        sent[serial] = time.monotonic()
        writer.write(encode(LocationReport(header, report(n, k, base + timedelta(seconds=k)))))
        serial, k = (serial + 1) & 0xFFFF, k + 1
        await asyncio.sleep(1 / rate)
    deadline = time.monotonic() + 30
    while sent and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    task.cancel()
    writer.close()
    return k


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
            latencies: list[float] = []
            cpu0, stored0, t0 = cpu_seconds(server.pid), 0.0, time.monotonic()

            async def all_terminals() -> list[int]:
                return await asyncio.gather(
                    *(
                        terminal(
                            n,
                            phone,
                            code,
                            port=port,
                            seconds=args.seconds,
                            rate=args.rate,
                            lat=latencies,
                        )
                        for n, (phone, code) in enumerate(credentials)
                    )
                )

            sent = sum(asyncio.run(all_terminals()))
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
