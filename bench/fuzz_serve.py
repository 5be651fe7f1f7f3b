"""Mutated NMEA through ``partymap serve`` on every transport: nothing stops ingestion.

Real receiver output, one line in three damaged, with extreme numbers (huge integers, long
digit runs, exponents, nan, inf, negative zero) put into every numeric field, is sent by one
device per transport (TCP, HTTP, a replayed log, and MQTT when ``--mqtt HOST:PORT`` is given),
while a well-behaved device sends a clean walk over HTTP after each fuzzed part. It prints, per
source, the lines read and accepted + rejected sentences, and whether the well-behaved device's
fixes were all stored; exit code 1 if the server went down or a fix is missing.

    python bench/fuzz_serve.py [--lines 1000000] [--mqtt 127.0.0.1:1883]
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import httpx
from shapely.geometry import Point
from sqlalchemy import func, select
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's directory heads sys.path and bench/store.py would shadow store.
sys.path = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench")]

from devkit.services import free_port  # noqa: E402
from devkit.simulate import FAMILIES, TrackPoint, damage, simulate  # noqa: E402
from store import devices, members, orgs, sites  # noqa: E402
from store.db import make_engine  # noqa: E402
from store.models import OrgKind, Position  # noqa: E402

EXTREMES = ("9" * 40, "290299", "-" + "9" * 30, "1e5", "nan", "inf", "-0", "0" * 30 + "7")


def framed(body: bytes) -> bytes:
    check = 0
    for byte in body:
        check ^= byte
    return b"$%s*%02X" % (body, check)


def fuzz(lines: int, seed: int) -> bytes:
    """About ``lines`` lines: every family's output, damaged, and extreme field values."""
    rng = random.Random(seed)
    start = datetime(2026, 5, 1, 8, tzinfo=UTC)
    clean: list[bytes] = []
    for name in sorted(FAMILIES):
        track = [
            TrackPoint(start + timedelta(seconds=k), 30.5, 114.3 + k * 1e-5) for k in range(60)
        ]
        clean += simulate(track, name, seed=seed)
    out: list[bytes] = []
    while len(out) < lines:
        part = damage(clean, seed=rng.randrange(1 << 30), every=3)
        for line in part:
            if line.startswith(b"$") and b"*" in line and rng.random() < 0.2:
                fields = line[1 : line.rindex(b"*")].split(b",")
                at = rng.randrange(1, len(fields)) if len(fields) > 1 else 0
                fields[at] = rng.choice(EXTREMES).encode()
                out.append(framed(b",".join(fields)))
            else:
                out.append(line)
    return b"".join(line + b"\r\n" for line in out[:lines])


def world(url: str, n: int) -> list[tuple[int, str, str]]:
    engine = make_engine(url)
    with Session(engine) as session:
        top = orgs.create_organisation(session, name="党委", kind=OrgKind.PARTY_COMMITTEE)
        sites.create_site(
            session, org_id=top.id, name="工地", geometry=Point(114.3, 30.5), radius_m=50.0
        )
        made = []
        for k in range(n):
            member = members.create_member(session, org_id=top.id, name=f"党员{k}")
            device = devices.create_device(session, uid=f"fuzz-{k}", member_id=member.id)
            made.append(
                (device.id, device.uid, devices.issue_device_token(session, device_id=device.id))
            )
        session.commit()
    engine.dispose()
    return made


def stored(url: str, device_id: int) -> int:
    engine = make_engine(url)
    with Session(engine) as session:
        n = session.scalar(select(func.count()).where(Position.device_id == device_id))
    engine.dispose()
    return int(n or 0)


def metrics(port: int) -> dict[tuple[str, str], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    found = {}
    for line in text.splitlines():
        match = re.match(r"(\w+)(\{[^}]*\})? ([0-9.e+-]+)$", line)
        if match:
            found[match[1], match[2] or ""] = float(match[3])
    return found


def per_source(samples: dict[tuple[str, str], float], source: str) -> tuple[float, ...]:
    """Lines read by the pipeline, sentences decoded (accepted + rejected), lines handed on."""

    def total(metric: str) -> float:
        return sum(
            v
            for (n, labels), v in samples.items()
            if n == metric and f'source="{source}"' in labels
        )

    return (
        total("partymap_ingest_lines_read_total"),
        total("partymap_ingest_line_outcomes_total"),
        total("partymap_source_lines_total"),
    )


async def over_tcp(port: int, uid: str, token: str, data: bytes) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"REG,{uid},{token}\r\n".encode())
    for at in range(0, len(data), 65536):
        writer.write(data[at : at + 65536])
        await writer.drain()
    await asyncio.sleep(1)
    writer.close()


async def over_mqtt(broker: str, uid: str, data: bytes) -> None:
    host, _, port = broker.partition(":")
    lines = data.splitlines(keepends=True)
    async with aiomqtt.Client(host, int(port or 1883)) as client:
        for at in range(0, len(lines), 200):
            await client.publish(
                f"partymap/devices/{uid}/nmea", b"".join(lines[at : at + 200]), qos=1
            )


def post(port: int, uid: str, token: str, data: bytes) -> None:
    """``data`` in posts of whole lines, at most about 500 kB each."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
    at = 0
    while at < len(data):
        end = data.rfind(b"\n", at, at + 500_000) + 1 if at + 500_000 < len(data) else len(data)
        end = end if end > at else len(data)
        response = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/devices/{uid}/nmea", content=data[at:end],
            headers=headers, timeout=120,
        )  # fmt: skip
        response.raise_for_status()
        at = end


def run(lines: int, mqtt: str | None, seed: int = 1) -> bool:
    transports = ["tcp", "http", "replay"] + (["mqtt"] if mqtt else [])
    per = max(lines // len(transports), 1)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/fuzz.sqlite"
        env = {**os.environ, "PARTYMAP_DATABASE_URL": url, "PARTYMAP_DATA_DIR": tmp}
        cli = [sys.executable, "-c", "from partymap.cli import main; main()"]
        subprocess.run([*cli, "db", "upgrade"], env=env, cwd=ROOT, check=True)
        people = world(url, len(transports) + 1)
        good_id, good_uid, good_token = people[-1]
        senders = dict(zip(transports, people, strict=False))
        data = {t: fuzz(per, seed + k) for k, t in enumerate(transports)}
        log = Path(tmp) / "fuzz.nmea"
        log.write_bytes(data["replay"])
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=200)
        walk = [TrackPoint(start + timedelta(seconds=k), 30.5, 114.3) for k in range(150)]
        clean = b"".join(line + b"\r\n" for line in simulate(walk, "ublox-f9p"))
        http_port, tcp_port = free_port(), free_port()
        command = [sys.executable, "-c", "from partymap.cli import main; main()", "serve",
                   "--port", str(http_port), "--tcp-port", str(tcp_port),
                   "--replay", f"{log}={senders['replay'][1]}"]  # fmt: skip
        if mqtt:
            command += ["--mqtt", mqtt]
        server = subprocess.Popen(command, env=env, cwd=ROOT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).is_success:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    print("serve did not start")
                    return False
                time.sleep(0.2)
            time.sleep(1)
            began = time.monotonic()
            asyncio.run(over_tcp(tcp_port, *senders["tcp"][1:], data["tcp"]))
            post(http_port, *senders["http"][1:], data["http"])
            if mqtt:
                asyncio.run(over_mqtt(mqtt, senders["mqtt"][1], data["mqtt"]))
            post(http_port, good_uid, good_token, clean)
            for _ in range(600):  # until every source's counts stand still
                before = [per_source(metrics(http_port), t) for t in transports]
                time.sleep(1)
                if [per_source(metrics(http_port), t) for t in transports] == before:
                    break
            samples = metrics(http_port)
            up = server.poll() is None
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
        took = time.monotonic() - began
        ok = up and server.returncode == 0
        print(f"{lines:,} mutated lines in {took:.1f} s; server up to the end: {up}")
        header = ("source", "handed on", "lines read", "accepted+rejected")
        print(f"{header[0]:8} {header[1]:>10} {header[2]:>11} {header[3]:>18}")
        for t in transports:
            read, sentences, handed = per_source(samples, t)
            print(f"{t:8} {handed:>10.0f} {read:>11.0f} {sentences:>18.0f}")
            ok = ok and read > 0 and sentences >= read
        epochs = len(walk)
        got = stored(url, good_id)
        print(f"well-behaved device: {got} of {epochs} fixes stored")
        return ok and got == epochs


def main() -> None:
    faulthandler.dump_traceback_later(int(os.environ.get("FUZZ_DUMP_AFTER_S", "0")) or 10**6)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--mqtt", help="HOST:PORT of a broker, to fuzz MQTT too")
    args = parser.parse_args()
    sys.exit(0 if run(args.lines, args.mqtt) else 1)


if __name__ == "__main__":
    main()
