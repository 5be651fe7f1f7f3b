"""Cluster benchmark: simulated TCP devices across 2 edges, with 1, 2 and 4 workers, against
``--role all`` in the same run (all processes on this machine, on PostGIS and a 3-node NATS
cluster with an R3 stream).

    python bench/cluster.py                                   # 2,000 devices, 1 Hz, 20 s each
    python bench/cluster.py --devices 10000 --rate 2.5 --seconds 60 --workers 1 2 4

Per configuration (each with devices of its own, seeded as bench/ingest.py seeds them): fixes
offered and stored per second while the devices sent, the time to catch up after, the latency
from a fix to its check-in being queryable (p50/p99), and the CPU seconds of each role's
processes, as µs per stored fix. The JetStream hop's cost is the cluster's CPU per fix (edges +
workers + NATS servers) over the single process's (with its decoder process), in the same run.
This machine has two cores shared with other work: every process here competes for them, so
the curve flattens at the cores; per-worker-core figures are what docs/deploy.md sizes with.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench")]

from sqlalchemy import Engine, text  # noqa: E402

from bench.ingest import (  # noqa: E402
    CheckinWatch,
    Phase,
    children_of,
    cpu_seconds,
    latencies_ms,
    postgres_pids,
    seed,
)
from devkit.cluster import Node  # noqa: E402
from devkit.devicesim import Credential, DeviceFleet, raise_open_file_limit  # noqa: E402
from devkit.nats import NatsCluster  # noqa: E402
from devkit.services import throwaway_postgis  # noqa: E402
from store.db import make_engine  # noqa: E402
from store.migrations import upgrade  # noqa: E402

TARGET_FIXES_S = 20_000
TARGET_P99_MS = 1000.0
TARGET_HOP = 1.30


@dataclass
class Config:
    name: str
    workers: int  # 0: --role all
    phase: Phase
    cpu_s: dict[str, float] = field(default_factory=dict)
    stored: int = 0
    rejected: int = 0  # stored with a failed quality rule: none expected from the simulator
    fixes_s: float = 0.0

    def summary(self) -> dict[str, object]:
        lat = sorted(self.phase.latencies_ms)
        pct = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 1)) if lat else None
        return {
            "config": self.name,
            "devices": self.phase.devices,
            "offered_fixes_s": round(self.phase.epochs / self.phase.send_s)
            if self.phase.send_s
            else 0,
            "stored_fixes_s_while_sending": round(self.fixes_s),
            "stored": self.stored,
            "rejected": self.rejected,
            "epochs_sent": self.phase.epochs,
            "catch_up_s": round(self.phase.catch_up_s, 1),
            "checkins": self.phase.checkins,
            "checkin_p50_ms": pct(0.5) if pct else None,
            "checkin_p99_ms": pct(0.99) if pct else None,
            "cpu_s": {k: round(v, 1) for k, v in self.cpu_s.items()},
            "us_per_fix": {
                k: round(v / self.stored * 1e6, 1) for k, v in self.cpu_s.items() if self.stored
            },
        }

    def role_cpu_per_fix(self) -> float:
        """µs per stored fix of partymap's own processes and NATS (PostgreSQL apart)."""
        own = sum(v for k, v in self.cpu_s.items() if k not in ("postgres", "devices"))
        return own / self.stored * 1e6 if self.stored else float("nan")


def positions_count(engine: Engine, *, rejected: bool = False) -> int:
    where = " WHERE rejections IS NOT NULL" if rejected else ""
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM positions" + where)).scalar_one())


def nats_pids(cluster: NatsCluster) -> list[int]:
    return [p.pid for p in cluster.procs if p is not None]


def node_pids(nodes: list[Node]) -> list[int]:
    pids = [n.proc.pid for n in nodes if n.proc is not None]
    return pids + [c for pid in pids for c in children_of(pid)]


async def drive(
    engine: Engine,
    config: Config,
    *,
    credentials: list[tuple[str, str]],
    tcp_ports: list[int],
    groups: dict[str, list[int]],
    seconds: float,
    rate: float,
    profile: Path | None = None,
) -> None:
    phase = config.phase
    creds = [Credential(d, t) for d, t in credentials]
    fleets = [
        DeviceFleet(
            "127.0.0.1",
            port,
            creds[k :: len(tcp_ports)],
            full=False,
            origin=phase.origin,
            indices=range(k, len(creds), len(tcp_ports)),
        )  # where each one's site is
        for k, port in enumerate(tcp_ports)
    ]
    for f in fleets:
        await f.__aenter__()
    try:
        phase.devices = sum(f.report.connected for f in fleets)
        await asyncio.sleep(2.0)  # registrations settle
        watch = CheckinWatch(engine)
        watch.start()
        before = positions_count(engine)
        rejected_before = positions_count(engine, rejected=True)
        cpu_before = {k: cpu_seconds(v) for k, v in groups.items()}
        spies = _profile(profile, config, groups, seconds) if profile else []
        await asyncio.gather(*(f.send(seconds=seconds, rate_hz=rate) for f in fleets))
        phase.epochs = sum(f.report.epochs for f in fleets)
        phase.send_s = max(f.report.send_s for f in fleets)
        config.fixes_s = (positions_count(engine) - before) / phase.send_s
        sent_at = time.monotonic()
        while positions_count(engine) - before < phase.epochs:
            if time.monotonic() - sent_at > 120:
                break
            await asyncio.sleep(0.2)
        phase.catch_up_s = time.monotonic() - sent_at
        config.stored = positions_count(engine) - before
        config.rejected = positions_count(engine, rejected=True) - rejected_before
        await asyncio.sleep(0.5)
        watch.stop.set()
        watch.join()
        config.cpu_s = {k: cpu_seconds(v) - cpu_before[k] for k, v in groups.items()}
        for spy in spies:
            spy.wait()
        phase.latencies_ms = latencies_ms(engine, watch.seen)
        phase.checkins = len(watch.seen)
    finally:
        for f in fleets:
            await f.__aexit__(None, None, None)


def _profile(
    where: Path, config: Config, groups: dict[str, list[int]], seconds: float
) -> list[subprocess.Popen[bytes]]:
    """py-spy samples of each partymap process while the devices send (collapsed stacks)."""
    where.mkdir(parents=True, exist_ok=True)
    beside = Path(sys.executable).with_name("py-spy")  # in the venv, on PATH or not
    spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy (pip install py-spy)")
    procs = []
    for role in ("all", "edge", "worker"):
        for k, pid in enumerate(groups.get(role, [])):
            out = where / f"{config.phase.name}-{role}{k}-{pid}.txt"
            command = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                       "--rate", "200", "--format", "raw", "--nonblocking", "--output",
                       str(out)]  # fmt: skip
            quiet = subprocess.DEVNULL
            procs.append(subprocess.Popen(command, stdout=quiet, stderr=quiet))
    return procs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=1.0, help="epochs per second per device")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--partitions", type=int, default=32)
    parser.add_argument("--publish-seconds", type=float, help="CLUSTER_PUBLISH_SECONDS of edges")
    parser.add_argument("--profile", type=Path, help="write py-spy samples of each process here")
    args = parser.parse_args()
    raise_open_file_limit()
    configs = [Config("all", 0, Phase("all", full=False, origin=(30.5, 114.3)))] + [
        Config(f"{w} worker{'s' * (w > 1)}", w, Phase(f"w{w}", False, (31.0 + w, 115.0)))
        for w in args.workers
    ]
    logs = Path(tempfile.mkdtemp(prefix="partymap-bench-cluster-"))
    with throwaway_postgis() as url, NatsCluster() as nats:
        engine = make_engine(url)
        upgrade(engine)
        credentials = {c.name: seed(engine, c.phase, args.devices, args.seconds) for c in configs}
        env = {
            "PARTYMAP_DATABASE_URL": url,
            "PARTYMAP_NATS_URL": nats.url,
            "PARTYMAP_CLUSTER_PARTITIONS": str(args.partitions),
            "PARTYMAP_INGEST_TCP_HOST": "127.0.0.1",
            "PARTYMAP_INGEST_TCP_IDLE_TIMEOUT_SECONDS": "600",
        }
        if args.publish_seconds is not None:
            env["PARTYMAP_CLUSTER_PUBLISH_SECONDS"] = str(args.publish_seconds)
        pg = postgres_pids()
        for config in configs:
            if config.workers == 0:
                nodes = [Node("all", env, name="all", log_dir=logs, tcp=True)]
                groups = {"all": [], "postgres": pg, "devices": [os.getpid()]}
                tcp = [nodes[0].tcp_port or 0]
            else:
                edges = [Node("edge", env, name=f"e{k}-{config.name}", log_dir=logs, tcp=True)
                         for k in range(2)]  # fmt: skip
                workers = [Node("worker", env, name=f"w{k}-{config.name}", log_dir=logs)
                           for k in range(config.workers)]  # fmt: skip
                nodes = edges + workers
                groups = {"edge": [], "worker": [], "nats": nats_pids(nats), "postgres": pg,
                          "devices": [os.getpid()]}  # fmt: skip
                tcp = [e.tcp_port or 0 for e in edges]
            for node in nodes:
                node.start()
            try:
                for node in nodes:
                    node.wait_up()
                if config.workers:
                    _wait_balanced(workers, args.partitions)
                    groups["edge"] = node_pids(edges)
                    groups["worker"] = node_pids(workers)
                else:
                    groups["all"] = node_pids(nodes)
                asyncio.run(
                    drive(engine, config, credentials=credentials[config.name], tcp_ports=tcp,
                          groups=groups, seconds=args.seconds, rate=args.rate,
                          profile=args.profile)
                )  # fmt: skip
                print(json.dumps(config.summary()), flush=True)
            finally:
                for node in nodes:
                    node.stop()
        engine.dispose()
    shutil.rmtree(logs, ignore_errors=True)
    _report(configs)


def _wait_balanced(workers: list[Node], partitions: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        held = [w.partitions() for w in workers]
        if all(held) and sorted(p for h in held for p in h) == list(range(partitions)):
            return
        time.sleep(0.5)
    raise RuntimeError("the workers did not share the partitions")


def _report(configs: list[Config]) -> None:
    base = configs[0].role_cpu_per_fix()
    print()
    print(f"{'config':10} {'devices':>7} {'offered/s':>9} {'stored/s':>9} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'µs/fix':>7} {'hop':>5}  µs/fix by role")  # fmt: skip
    for c in configs:
        s = c.summary()
        per = c.role_cpu_per_fix()
        shares: dict[str, float] = s["us_per_fix"]  # type: ignore[assignment]
        by_role = ", ".join(f"{k} {v}" for k, v in shares.items())
        print(
            f"{c.name:10} {c.phase.devices:>7} {s['offered_fixes_s']:>9} "
            f"{s['stored_fixes_s_while_sending']:>9} {s['checkin_p50_ms']!s:>8} "
            f"{s['checkin_p99_ms']!s:>8} {per:>7.1f} {per / base:>5.2f}  {by_role}"
        )
    print(
        f"targets: hop <= {TARGET_HOP:.2f} × the single process's CPU per fix; 2 workers >= "
        f"{TARGET_FIXES_S} fixes/s from 10,000 devices with p99 < {TARGET_P99_MS:.0f} ms"
    )


if __name__ == "__main__":
    main()
