"""API benchmark: latency of the map's heaviest reads under concurrent clients.

    python bench/api.py            # 8,000 organisations, 10,000 sites, 140,000 members
    python bench/api.py --quick    # a tenth of that, fewer requests
    python bench/api.py --no-settle    # workers keep CPython's garbage-collector settings

A throwaway PostGIS cluster is filled by :func:`bench.synth.synthesize`; uvicorn serves
``create_app`` on it (two worker processes by default, one per core), and concurrent client
threads ask, one kind of request at a time, then all three mixed:

- branch: the latest positions of one branch (a branch admin; about 20 members);
- subtree viewport: the latest positions of a project committee's subtree (about 2,000
  members) within a viewport over its region (that committee's admin);
- track: one member's day-long track, a fix every 10 s (8,640 points; a whole-tree admin).

Every read writes its audit entries (one per member returned), as in production. Figures are
p50/p99 per kind, measured by the clients; the machine is shared, so compare runs on it.
Targets: p99 < 100 ms for the branch, < 300 ms for the subtree viewport.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session

# Run as a script, this file's directory heads sys.path and a bench module could shadow a
# package: put the checkout first instead.
ROOT = Path(__file__).resolve().parents[1]
sys.path = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench")]

from api.app import create_app  # noqa: E402
from api.auth import create_access_token  # noqa: E402
from bench.synth import Customer, synthesize  # noqa: E402
from devkit.services import free_port, throwaway_postgis  # noqa: E402
from partymap import heap  # noqa: E402
from partymap.settings import Settings  # noqa: E402
from store.db import make_engine  # noqa: E402
from store.latest import latest_positions  # noqa: E402
from store.migrations import upgrade  # noqa: E402
from store.models import Role  # noqa: E402
from store.users import create_user  # noqa: E402

SECRET = "bench-api-secret-0123456789abcdefghijklmnop"
TARGETS_MS = {"branch": 100.0, "subtree viewport": 300.0}


@dataclass(frozen=True)
class Plan:
    scale: float
    clients: int
    requests: int  # per client
    workers: int = 2
    settle: bool = True  # partymap.heap.settle() in each worker, as partymap serve does


FULL = Plan(1.0, 4, 60)
QUICK = Plan(0.1, 4, 25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a tenth of the customer, fewer requests"
    )
    parser.add_argument("--clients", type=int, help="concurrent clients (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--no-settle", action="store_true", help="leave the workers' garbage collector as is"
    )
    parser.add_argument("--serve", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.workers)
        return
    plan = QUICK if args.quick else FULL
    plan = Plan(
        plan.scale, args.clients or plan.clients, plan.requests, args.workers, not args.no_settle
    )
    with throwaway_postgis() as url:
        run(url, plan)


def settings(url: str) -> Settings:
    return Settings(
        environment="production",
        database_url=url,
        secret_key=SECRET,  # type: ignore[arg-type]
        data_dir=Path("/tmp"),
    )


def app_factory() -> FastAPI:
    """What each uvicorn worker serves: create_app on the benchmark's database, with the
    collector settled as ``partymap serve`` settles it (or not: ``--no-settle``)."""
    app = create_app(settings(os.environ["PARTYMAP_BENCH_URL"]))
    if os.environ.get("PARTYMAP_BENCH_SETTLE") == "1":
        heap.settle()
    return app


def serve(url: str, port: int, workers: int) -> None:
    """The server: uvicorn with ``workers`` processes (one per core, as deployed)."""
    os.environ["PARTYMAP_BENCH_URL"] = url
    uvicorn.run(
        "bench.api:app_factory",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


def run(url: str, plan: Plan) -> None:
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    customer = synthesize(engine, scale=plan.scale)
    print(
        f"customer: {customer.org_count} organisations, {customer.site_count} sites, "
        f"{len(customer.member_ids)} members with latest positions, a day-long track of "
        f"{len(customer.track_members)} member(s); made in {time.perf_counter() - started:.1f} s"
    )
    requests = _requests(engine, customer, url)
    engine.dispose()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, str(port), "--workers", str(plan.workers)],
        env={**os.environ, "PARTYMAP_BENCH_SETTLE": "1" if plan.settle else "0"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base, server)
        for path, headers in requests.values():  # warm up: connections, query plans
            with httpx.Client(base_url=base, timeout=60) as client:
                for _ in range(3):
                    client.get(path(), headers=headers).raise_for_status()
        print(
            f"\n{plan.clients} concurrent clients x {plan.requests} requests per phase, "
            f"{plan.workers} server worker process(es), garbage collector "
            f"{'settled' if plan.settle else 'as CPython sets it'}"
        )
        for kind in requests:
            _report(kind, _load(base, requests, plan, [kind]))
        mixed = _load(base, requests, plan, list(requests))
        for kind in requests:
            _report(f"{kind} (mixed)", mixed)
    finally:
        server.terminate()
        server.wait(timeout=30)


Requests = dict[str, tuple[Callable[[], str], dict[str, str]]]


def _requests(engine: Engine, customer: Customer, url: str) -> Requests:
    """For each kind: a function giving the next URL, and the caller's headers."""
    rng = random.Random(11)
    conf = settings(url)
    branch = rng.choice(customer.branch_ids)
    region = rng.choice(customer.regions)
    box = region.bbox
    with Session(engine) as session:
        users = {
            "branch": create_user(
                session,
                username="bench-branch",
                password="bench-password",
                role=Role.BRANCH_ADMIN,
                org_id=branch,
            ),
            "committee": create_user(
                session,
                username="bench-committee",
                password="bench-password",
                role=Role.COMMITTEE_ADMIN,
                org_id=region.committee_id,
            ),
            "root": create_user(
                session, username="bench-root", password="bench-password", role=Role.COMMITTEE_ADMIN
            ),
        }
        session.commit()
        tokens = {
            k: create_access_token(conf, user_id=u.id, password_hash=u.password_hash)[0]
            for k, u in users.items()
        }
        in_branch = len(latest_positions(session, within_org_id=branch))
        in_view = len(latest_positions(session, within_org_id=region.committee_id, bbox=box))
    print(
        f"branch {branch}: {in_branch} members; project committee {region.committee_id}: "
        f"{in_view} members in the viewport"
    )
    start, end = (quote(t.isoformat()) for t in customer.track_day)
    track_member = customer.track_members[0]

    def auth(kind: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[kind]}"}

    viewport = f"{box.west},{box.south},{box.east},{box.north}"
    return {
        "branch": (lambda: f"/api/v1/positions/latest?org_id={branch}", auth("branch")),
        "subtree viewport": (
            lambda: (
                f"/api/v1/positions/latest?org_id={region.committee_id}&limit=5000&bbox={viewport}"
            ),
            auth("committee"),
        ),
        "track": (
            lambda: f"/api/v1/members/{track_member}/track?start={start}&end={end}&limit=20000",
            auth("root"),
        ),
    }


def _wait(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not answer /healthz within 60 s")


def _load(base: str, requests: Requests, plan: Plan, kinds: list[str]) -> dict[str, list[float]]:
    """``plan.clients`` threads, each sending ``plan.requests`` requests of ``kinds``."""
    timings: dict[str, list[float]] = defaultdict(list)
    lock = threading.Lock()

    def client(n: int) -> None:
        rng = random.Random(n)
        with httpx.Client(base_url=base, timeout=60) as http:
            for _ in range(plan.requests):
                kind = rng.choice(kinds)
                path, headers = requests[kind]
                began = time.perf_counter()
                response = http.get(path(), headers=headers)
                elapsed = (time.perf_counter() - began) * 1000
                response.raise_for_status()
                with lock:
                    timings[kind].append(elapsed)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(plan.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings


def _report(label: str, timings: dict[str, list[float]]) -> None:
    kind = label.removesuffix(" (mixed)")
    values = sorted(timings[kind])
    p50 = statistics.median(values)
    p99 = values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]
    target = TARGETS_MS.get(kind)
    verdict = ""
    if target is not None and label == kind:
        verdict = f"  target p99 < {target:.0f} ms: {'met' if p99 < target else 'MISSED'}"
    print(f"{label:<26}n={len(values):<5} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms{verdict}")


if __name__ == "__main__":
    main()
