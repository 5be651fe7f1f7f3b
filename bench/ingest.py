"""Ingestion benchmark: simulated TCP devices against a running ``partymap serve`` on PostGIS.

    python bench/ingest.py                                # 10,000 devices, 2.5 epochs/s, 60 s
    python bench/ingest.py --devices 1000 --seconds 15    # a quick run
    python bench/ingest.py --phases full                  # full multi-GNSS epochs only
    python bench/ingest.py --phases basic,jt808           # NMEA against JT/T 808 terminals

A throwaway PostGIS cluster gets one party committee, its branches, a member and a device per
simulated device, and a small circular site around every tenth device, each with its own dwell
(from 10 s, after the cold start of the streams, to most of the run), so that check-ins keep
happening while devices stream.
``partymap serve`` runs in a process of its own; the devices (:mod:`devkit.devicesim`)
connect from this one, register, and send epochs stamped with the time of sending. Phases,
each with its own devices: GGA + RMC epochs (``basic``), full multi-GNSS epochs (``full``: GGA,
RMC, two GSA and six GSV: GPS and BeiDou), and JT/T 808 terminals (``jt808``,
:class:`devkit.jt808.LoadFleet`) sending one 0x0200 location report per epoch; their reports
are timed a second apart, so a report's check-in latency is measured from when it was sent, and
each report's acknowledgement (sent once it is stored) is timed too.

Per phase it prints: epochs (or reports) offered per second; positions stored per second while
the devices sent (read from the server's ``/metrics``), and the time the store took to catch up
after they stopped; and the latency from a fix's arrival to its check-in being queryable — a
thread polls the visits table every 20 ms, and the fix that completed a check-in's dwell is
found in the positions afterwards (its time tag is its sending time, to 10 ms). Also the CPU
seconds used by the server (with its decoder process), by PostgreSQL and by the devices, per
stored fix for the server, and the load average: this machine has two cores shared with other
work, so compare ratios within a run, not absolute figures across runs.
Targets (DESIGN §9): ≥ 25,000 fixes/s with 10,000 devices, p99 fix → check-in < 500 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from shapely.geometry import Point
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session

# Run as a script, this file's directory heads sys.path and a bench module could shadow a
# package: put the checkout first instead.
ROOT = Path(__file__).resolve().parents[1]
sys.path = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench")]

from devkit.devicesim import (  # noqa: E402
    Credential,
    DeviceFleet,
    fleet,
    position_of,
)
from devkit.jt808 import LoadFleet  # noqa: E402
from devkit.services import free_port, throwaway_postgis  # noqa: E402
from geo.model import SiteParams  # noqa: E402
from gnss.sources.tcp import raise_open_file_limit  # noqa: E402
from store import orgs, sites  # noqa: E402
from store.db import make_engine  # noqa: E402
from store.migrations import upgrade  # noqa: E402
from store.models import Device, Member, OrgKind  # noqa: E402

TARGET_FIXES_S = 25_000
TARGET_P99_MS = 500.0
SITE_EVERY = 10  # a site around every tenth device
SITE_RADIUS_M = 30.0  # devices stand 100 m apart: one device per site
WARM_UP_S = 10.0


@dataclass
class Phase:
    name: str
    full: bool
    origin: tuple[float, float]  # where its devices stand (lat, lon)
    protocol: str = "nmea"
    devices: int = 0
    epochs: int = 0
    send_s: float = 0.0
    stored_while_sending: float = 0.0
    catch_up_s: float = 0.0
    stored: int = 0
    checkins: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)
    spent_s: dict[str, float] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)
    acks_ms: list[float] = field(default_factory=list)  # JT/T 808: send → acknowledgement

    def summary(self) -> dict[str, object]:
        lat = sorted(self.latencies_ms)
        pct = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 1)) if lat else None
        acks = sorted(self.acks_ms)
        ack = {
            f"ack_p{q}_ms": round(acks[min(len(acks) - 1, int(q / 100 * len(acks)))], 1)
            for q in (50, 99)
            if acks
        }
        return {
            "phase": self.name,
            "devices": self.devices,
            "offered_fixes_s": round(self.epochs / self.send_s) if self.send_s else 0,
            "stored_fixes_s_while_sending": round(self.stored_while_sending / self.send_s)
            if self.send_s
            else 0,
            "stored": self.stored,
            "epochs_sent": self.epochs,
            "catch_up_s": round(self.catch_up_s, 1),
            "checkins": self.checkins,
            "checkin_latency_p50_ms": pct(0.5) if pct else None,
            "checkin_latency_p99_ms": pct(0.99) if pct else None,
            "cpu_s": {k: round(v, 1) for k, v in self.cpu_s.items()},
            **ack,
            "server_cpu_us_per_fix": round(self.cpu_s.get("server", 0.0) / self.stored * 1e6, 1)
            if self.stored
            else None,
            "us_per_fix": {
                k: round(v / self.stored * 1e6, 1) for k, v in self.spent_s.items() if self.stored
            },
            "load_avg_1m": self.load,
        }


def seed(engine: Engine, phase: Phase, count: int, seconds: float) -> list[tuple[str, str]]:
    """Members, devices with tokens, and sites for one phase; its devices' credentials (a
    terminal's: its phone number and authentication code)."""
    credentials = fleet(count, prefix=phase.name, secret=f"bench-{phase.name}")
    if phase.protocol == "jt808":
        credentials = [
            replace(c, device_id=f"{13900000000 + i:020d}") for i, c in enumerate(credentials)
        ]
    with Session(engine) as session:
        committee = orgs.create_organisation(
            session, name=f"{phase.name} 党委", kind=OrgKind.PARTY_COMMITTEE
        )
        branches = [
            orgs.create_organisation(
                session, name=f"{phase.name} 支部{k}", kind=OrgKind.BRANCH, parent_id=committee.id
            ).id
            for k in range(max(1, count // 500))
        ]
        first = session.scalar(select(Member.id).order_by(Member.id.desc()).limit(1)) or 0
        session.execute(
            insert(Member),
            [
                {
                    "org_id": branches[i % len(branches)],
                    "name": f"党员{i}",
                    "active": True,
                    "created_at": datetime.now(UTC),
                }
                for i in range(count)
            ],
        )
        session.execute(
            insert(Device),
            [
                {
                    "uid": c.device_id,
                    "member_id": first + 1 + i,
                    "active": True,
                    "token_hash": _token_hash(c.token),
                    "protocol": phase.protocol,
                    "created_at": datetime.now(UTC),
                }
                for i, c in enumerate(credentials)
            ],
        )
        # Dwells spread over the run: check-ins keep coming while the devices stream. None
        # before WARM_UP_S: the first epochs of thousands of new streams go through the
        # reference decoder while each receiver's cycle is learned (a cold start, not the
        # steady state the latency target is about).
        span = max(seconds - WARM_UP_S - 3.0, 1.0)
        for k, i in enumerate(range(0, count, SITE_EVERY)):
            lat, lon = position_of(i, phase.origin)
            dwell = WARM_UP_S + span * ((k * 0.618) % 1.0)
            sites.create_site(
                session,
                org_id=branches[i % len(branches)],
                name=f"{phase.name} 工地{i}",
                geometry=Point(lon, lat),
                radius_m=SITE_RADIUS_M,
                params=SiteParams(dwell_s=dwell, max_gap_s=seconds + 600),
            )
        session.commit()
    return [(c.device_id, c.token) for c in credentials]


def _token_hash(token: str) -> bytes:
    # As store.devices keeps a token: its SHA-256 (the simulated fleet's tokens are derived
    # from a secret, so they are written here rather than issued one by one).
    return hashlib.sha256(token.encode()).digest()


class CheckinWatch(threading.Thread):
    """Polls the visits table; remembers when each check-in became visible."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(daemon=True)
        self.engine = engine
        self.seen: dict[int, float] = {}  # visit id → wall time it was first read
        self.stop = threading.Event()
        with engine.connect() as connection:  # visits of earlier phases are not this one's
            self.last = connection.execute(
                text("SELECT coalesce(max(id), 0) FROM visits")
            ).scalar_one()

    def run(self) -> None:
        with self.engine.connect() as connection:
            while not self.stop.is_set():
                rows = connection.execute(
                    text("SELECT id FROM visits WHERE id > :last AND checkin_at IS NOT NULL"),
                    {"last": self.last},
                ).all()
                now = time.time()
                connection.commit()
                for (visit_id,) in rows:
                    self.seen.setdefault(visit_id, now)
                    self.last = max(self.last, visit_id)
                time.sleep(0.02)


def completing_fixes(engine: Engine, seen: dict[int, float]) -> list[tuple[int, int, datetime]]:
    """Per check-in seen: (visit, member, time of the fix that completed its dwell)."""
    if not seen:
        return []
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT v.id, v.member_id, (SELECT min(p.fix_time) FROM positions p "
                "  WHERE p.member_id = v.member_id AND p.fix_time >= v.checkin_at "
                "  + make_interval(secs => (s.params->>'dwell_s')::float8)) "
                "FROM visits v JOIN sites s ON s.id = v.site_id WHERE v.id = ANY(:ids)"
            ),
            {"ids": list(seen)},
        ).all()
    return [(visit, member, t) for visit, member, t in rows if t is not None]


def latencies_ms(engine: Engine, seen: dict[int, float]) -> list[float]:
    """Per check-in seen: its visibility time minus the time of the fix that completed it."""
    return [(seen[v] - t.timestamp()) * 1000 for v, _, t in completing_fixes(engine, seen)]


def metric(port: int, name: str) -> float:
    text_ = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    for line in text_.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _stat(pid: int | str) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (state, ppid, …)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = _stat(pid)
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def pids_where(test: Callable[[str], bool]) -> list[int]:
    """The processes whose id passes ``test`` (those that end meanwhile are skipped)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if test(entry.name):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def children_of(pid: int) -> list[int]:
    """The processes ``pid`` started (the server's decoder)."""
    return pids_where(lambda other: int(_stat(other)[1]) == pid)


def postgres_pids() -> list[int]:
    def is_postgres(pid: str) -> bool:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        return cmdline.startswith(b"postgres") or b"/postgres\x00" in cmdline

    return pids_where(is_postgres)


@dataclass
class Run:
    """The server under test and how hard to drive it."""

    engine: Engine
    server: subprocess.Popen[bytes]
    http_port: int
    tcp_port: int
    seconds: float
    rate_hz: float
    jt808_port: int = 0


class Measure:
    """What a phase costs while its devices send: started before they do, ``finish``ed after
    (the check-ins seen meanwhile, the server's, PostgreSQL's and the devices' CPU, the load)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.watch = CheckinWatch(run.engine)
        self.watch.start()
        self.stored_before = self._stored_total()
        self.spent_before = _spent(run.http_port)
        self.cpu_before = _cpu(run.server)
        self.load_before = os.getloadavg()[0]

    def _stored_total(self) -> float:
        return metric(self.run.http_port, "partymap_ingest_positions_stored_total")

    def stored(self) -> float:
        """Positions stored since the start."""
        return self._stored_total() - self.stored_before

    def finish(self, phase: Phase) -> dict[int, float]:
        """Fill in the phase's costs; the check-ins seen (visit → when)."""
        time.sleep(0.5)
        self.watch.stop.set()
        self.watch.join()
        run = self.run
        phase.cpu_s = {k: v - self.cpu_before.get(k, 0.0) for k, v in _cpu(run.server).items()}
        phase.spent_s = {k: v - self.spent_before[k] for k, v in _spent(run.http_port).items()}
        phase.load = (round(self.load_before, 2), round(os.getloadavg()[0], 2))
        phase.checkins = len(self.watch.seen)
        return self.watch.seen


async def drive(run: Run, phase: Phase, credentials: list[tuple[str, str]]) -> None:
    if phase.protocol == "jt808":
        await drive_terminals(run, phase, credentials)
        return
    engine, http_port, tcp_port = run.engine, run.http_port, run.tcp_port
    creds = [Credential(d, t) for d, t in credentials]
    async with DeviceFleet(
        "127.0.0.1", tcp_port, creds, full=phase.full, origin=phase.origin
    ) as devices:
        phase.devices = devices.report.connected
        deadline = time.monotonic() + 120
        while metric(http_port, 'partymap_source_active_connections{source="tcp"}') < len(creds):
            if time.monotonic() > deadline:
                raise RuntimeError("devices did not all register")
            await asyncio.sleep(0.5)
        measure = Measure(run)
        await devices.send(seconds=run.seconds, rate_hz=run.rate_hz)
        phase.epochs = devices.report.epochs
        phase.send_s = devices.report.send_s
        phase.stored_while_sending = measure.stored()
        sent_at = time.monotonic()
        while measure.stored() < phase.epochs and time.monotonic() - sent_at < 300:
            await asyncio.sleep(0.2)
        phase.catch_up_s = time.monotonic() - sent_at
        phase.stored = int(measure.stored())
        phase.latencies_ms = latencies_ms(engine, measure.finish(phase))


async def drive_terminals(run: Run, phase: Phase, credentials: list[tuple[str, str]]) -> None:
    """The JT/T 808 phase: a report per epoch from each terminal, timed a second apart."""
    engine = run.engine
    # Report k is timed base + k s: in the past for the whole run (a report a second would
    # run ahead of the clock at more than 1 Hz), as a terminal catching up would send.
    ahead = run.seconds * run.rate_hz - run.seconds
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=max(ahead, 0) + 5)
    positions = [position_of(i, phase.origin) for i in range(len(credentials))]
    with Session(engine) as session:  # each terminal's member, for the check-in latencies
        query = select(Device.uid, Device.member_id).where(Device.protocol == "jt808")
        members = {uid: member for uid, member in session.execute(query)}
    timed = frozenset(range(0, len(credentials), SITE_EVERY))
    fleet = LoadFleet([(d, t.encode()) for d, t in credentials], positions, base, timed=timed)
    member_of: dict[int, int] = {n: members[credentials[n][0]] or 0 for n in timed}
    await fleet.connect("127.0.0.1", run.jt808_port)
    phase.devices = len(fleet.links)
    try:
        measure = Measure(run)
        started = time.monotonic()
        phase.epochs = await fleet.send(seconds=run.seconds, rate_hz=run.rate_hz)
        phase.send_s = min(time.monotonic() - started, run.seconds)
        phase.stored_while_sending = measure.stored()
        phase.catch_up_s = time.monotonic() - started - run.seconds
        phase.stored = int(phase.stored_while_sending)
        seen = measure.finish(phase)
        phase.acks_ms = [s * 1000 for s in fleet.latencies]
        sent = {(member_of[n], k): t for (n, k), t in fleet.sent_at.items()}
        phase.latencies_ms = terminal_latencies_ms(engine, seen, sent, base)
    finally:
        fleet.close()


def terminal_latencies_ms(
    engine: Engine, seen: dict[int, float], sent: dict[tuple[int, int], float], base: datetime
) -> list[float]:
    """Per check-in seen: its visibility time minus when the report that completed it was
    sent (reports are timed ``base`` + k seconds; ``sent`` by (member, k))."""
    out = []
    for visit, member, fix_time in completing_fixes(engine, seen):
        when = sent.get((member, round((fix_time - base).total_seconds())))
        if when is not None:
            out.append((seen[visit] - when) * 1000)
    return out


def _spent(http_port: int) -> dict[str, float]:
    """The server's own account: pipeline thread time, and time writing to PostgreSQL."""
    return {
        "pipeline": metric(http_port, "partymap_ingest_pipeline_seconds_total"),
        "commit": metric(http_port, "partymap_ingest_commit_seconds_total"),
    }


def _cpu(server: subprocess.Popen[bytes]) -> dict[str, float]:
    return {
        "server": cpu_seconds([server.pid, *children_of(server.pid)]),
        "postgres": cpu_seconds(postgres_pids()),
        "devices": cpu_seconds([os.getpid()]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=2.5, help="epochs per second per device")
    parser.add_argument(
        "--phases",
        default="both",
        help="which phases, comma-separated: basic, full, jt808 (both: basic,full)",
    )
    args = parser.parse_args()
    raise_open_file_limit()
    phases = [
        Phase("basic", full=False, origin=(30.5, 114.3)),
        Phase("full", full=True, origin=(31.2, 121.4)),
        Phase("jt808", full=False, origin=(22.5, 114.0), protocol="jt808"),
    ]
    wanted = set(args.phases.replace("both", "basic,full").split(","))
    if wanted - {p.name for p in phases}:
        parser.error(f"unknown phases: {', '.join(sorted(wanted - {p.name for p in phases}))}")
    phases = [p for p in phases if p.name in wanted]
    with throwaway_postgis() as url:
        engine = make_engine(url)
        upgrade(engine)
        credentials = {p.name: seed(engine, p, args.devices, args.seconds) for p in phases}
        http_port, tcp_port, jt808_port = free_port(), free_port(), free_port()
        env = {**os.environ, "PARTYMAP_DATABASE_URL": url, "PARTYMAP_INGEST_TCP_HOST": "127.0.0.1",
               "PARTYMAP_INGEST_TCP_IDLE_TIMEOUT_SECONDS": "600"}  # fmt: skip
        server = subprocess.Popen(
            [sys.executable, "-c", "from partymap.cli import main; main()", "serve",
             "--port", str(http_port), "--tcp-port", str(tcp_port),
             "--jt808-port", str(jt808_port)],
            env=env, cwd=ROOT, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_for_http(http_port, server)
            run = Run(engine, server, http_port, tcp_port, args.seconds, args.rate, jt808_port)
            for phase in phases:
                asyncio.run(drive(run, phase, credentials[phase.name]))
                print(json.dumps(phase.summary()), flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)
            engine.dispose()
    _report(phases)


def _wait_for_http(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"partymap serve exited with {server.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("partymap serve did not answer")


def _report(phases: list[Phase]) -> None:
    print()
    print(f"{'phase':8} {'devices':>8} {'offered/s':>10} {'stored/s':>9} {'catch-up':>9} "
          f"{'check-ins':>9} {'p50 ms':>8} {'p99 ms':>8}  cpu s (server/pg/devices)")  # fmt: skip
    for p in phases:
        s = p.summary()
        cpu = "/".join(str(round(p.cpu_s.get(k, 0.0))) for k in ("server", "postgres", "devices"))
        p50, p99 = s["checkin_latency_p50_ms"], s["checkin_latency_p99_ms"]
        print(
            f"{p.name:8} {p.devices:>8} {s['offered_fixes_s']:>10} "
            f"{s['stored_fixes_s_while_sending']:>9} {p.catch_up_s:>8.1f}s {p.checkins:>9} "
            f"{p50!s:>8} {p99!s:>8}  {cpu}"
        )
    print(f"targets: >= {TARGET_FIXES_S} fixes/s with 10,000 devices, p99 < {TARGET_P99_MS:.0f} ms")


if __name__ == "__main__":
    main()
