"""Drills of partymap on several machines, every node a process of its own: 2 edges, 2 workers,
2 API nodes, 3 NATS servers with an R3 stream, PostGIS.

One walk per member (into the site, a stay, out again), ending now as a live device's would
(silence is measured against the wall clock), is sent over TCP in three parts, paced, while
the drill kills a worker (kill -9), kills and restores a NATS server, and stops and restarts
everything; devices reconnect to the other edge between parts. Afterwards
the store must hold exactly what one process replaying the same logs stores (every fix once,
in order, the same visits and check-ins), and an SSE client on each API node must have seen
the same check-ins.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from devkit.cluster import Node
from devkit.nats import NatsCluster
from devkit.simulate import TrackPoint, walk
from partymap.ingest.run import replay
from partymap.ingest.sources import ReplaySpec
from partymap.settings import Settings
from store.db import make_engine
from store.models import Device, Position, Role, VisitRow
from store.users import create_user
from tests.ingest.helpers import (
    OUTSIDE,
    SITE,
    T0,
    Person,
    build_world,
    ending_now,
    nmea,
    stay,
)

pytestmark = [pytest.mark.postgis, pytest.mark.slow]

PEOPLE = 10
PARTITIONS = 8
TAKEOVER_S = 10.0


def walk_of(k: int) -> list[TrackPoint]:
    """Member ``k``'s walk into the site, a minute there and out again, ending now; each member
    stands on a spot of their own, a metre from the others' (the replay guard rightly rejects
    byte-identical position sentences from several devices)."""
    spot, away = (SITE[0] + k * 1e-5, SITE[1]), (OUTSIDE[0] + k * 1e-5, OUTSIDE[1])
    there = walk(T0, [away, spot], speed_mps=20.0)
    there += stay(there[-1], spot, 60)
    there += walk(there[-1].time + timedelta(seconds=1), [spot, away], speed_mps=20.0)
    return ending_now(there)


def split(data: bytes, parts: int) -> list[bytes]:
    lines = data.splitlines(keepends=True)
    size = -(-len(lines) // parts)
    return [b"".join(lines[k : k + size]) for k in range(0, len(lines), size)]


async def send_part(port: int, people: list[tuple[Person, bytes]], duration_s: float) -> None:
    """Every device connects to ``port`` and sends its bytes in small paced writes."""

    async def one(person: Person, data: bytes) -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"REG,{person.uid},{person.token}\n".encode())
        lines = data.splitlines(keepends=True)
        steps = 20
        size = -(-len(lines) // steps)
        for k in range(0, len(lines), size):
            writer.write(b"".join(lines[k : k + size]))
            await writer.drain()
            await asyncio.sleep(duration_s / steps)
        await asyncio.sleep(0.5)  # hang up once the edge has read it all
        writer.close()
        await writer.wait_closed()

    await asyncio.gather(*(one(p, d) for p, d in people))


class SseReader:
    """Collects the events of one kind that an API node's live stream sends, in a thread:
    ``pick`` makes each one's comparable tuple (kept in :attr:`seen`)."""

    def __init__(
        self, base: str, token: str, kind: str, pick: Callable[[dict[str, Any]], tuple[Any, ...]]
    ) -> None:
        self.seen: list[tuple[Any, ...]] = []
        self._url, self._token, self._kind, self._pick = f"{base}/api/v1/stream", token, kind, pick
        self._open = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        assert self._open.wait(20), "the live stream did not open"

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            with httpx.stream("GET", self._url, headers=headers, timeout=None) as answer:
                self._open.set()
                kind = ""
                for line in answer.iter_lines():
                    if line.startswith("event:"):
                        kind = line.split(":", 1)[1].strip()
                    elif line.startswith("data:") and kind == self._kind:
                        self.seen.append(self._pick(json.loads(line.split(":", 1)[1])))
        except httpx.HTTPError:
            return  # the node stopped at the end of the test


def _checkin(event: dict[str, Any]) -> tuple[Any, ...]:
    return event["member_id"], event["site_id"], event["time"]


ADMIN_LOGIN = {"username": "admin", "password": "drill-pass-123456"}


def add_admin(engine: Engine) -> None:
    """A committee admin (:data:`ADMIN_LOGIN`) to ask the API nodes as."""
    with Session(engine) as session:
        create_user(session, **ADMIN_LOGIN, role=Role.COMMITTEE_ADMIN)
        session.commit()


def admin_token(base: str) -> str:
    """The admin's bearer token from the API node at ``base``."""
    answer = httpx.post(f"{base}/api/v1/auth/token", data=ADMIN_LOGIN)
    return str(answer.json()["access_token"])


def wait_for(predicate: Any, timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
    return time.monotonic() - started


def positions(engine: Engine) -> list[tuple[str, Any, Any]]:
    with Session(engine) as session:
        rows = session.execute(
            select(Device.uid, Position.fix_time, Position.rejections)
            .join(Device, Device.id == Position.device_id)
            .order_by(Position.id)
        )
        return [(uid, t, r or None) for uid, t, r in rows]


def visits(engine: Engine) -> set[tuple[int, Any, Any, Any]]:
    with Session(engine) as session:
        rows = session.execute(
            select(VisitRow.member_id, VisitRow.start_at, VisitRow.end_at, VisitRow.checkin_at)
        )
        return {tuple(r) for r in rows}  # type: ignore[misc]


@pytest.fixture
def databases(cluster_databases: Any) -> Iterator[tuple[str, str]]:
    yield cluster_databases.create(), cluster_databases.create()


def test_drills_lose_nothing_and_store_nothing_twice(
    databases: tuple[str, str], nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    url, reference_url = databases
    engine, reference = make_engine(url), make_engine(reference_url)
    world = build_world(engine, PEOPLE)
    same = build_world(reference, PEOPLE)  # the same ids in both (other tokens)
    assert [(p.member_id, p.uid) for p in same.people] == [
        (p.member_id, p.uid) for p in world.people
    ]
    add_admin(engine)
    logs = {p.uid: nmea(walk_of(k), seed=k) for k, p in enumerate(world.people)}
    parts = {uid: split(data, 3) for uid, data in logs.items()}

    env = {
        "PARTYMAP_DATABASE_URL": url,
        "PARTYMAP_NATS_URL": nats_cluster.url,
        "PARTYMAP_CLUSTER_PARTITIONS": str(PARTITIONS),
        "PARTYMAP_INGEST_DECODER_PROCESS": "0",
        "PARTYMAP_INGEST_BATCH_SECONDS": "0.02",
        "PARTYMAP_DATA_DIR": str(tmp_path),
    }
    make = lambda role, name, tcp=False: Node(role, env, name=name, log_dir=tmp_path, tcp=tcp)  # noqa: E731
    w1, w2 = make("worker", "w1"), make("worker", "w2")
    e1, e2 = make("edge", "e1", True), make("edge", "e2", True)
    a1, a2 = make("api", "a1"), make("api", "a2")
    nodes = [w1, w2, e1, e2, a1, a2]
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            node.wait_up()
        # Rebalanced on join: the two workers share the partitions, each held once.
        wait_for(
            lambda: (
                sorted(w1.partitions() + w2.partitions()) == list(range(PARTITIONS))
                and w1.partitions()
                and w2.partitions()
            ),
            20,
            "the workers to share the partitions",
        )
        tokens = [admin_token(f"http://127.0.0.1:{a.port}") for a in (a1, a2)]
        readers = [
            SseReader(f"http://127.0.0.1:{a.port}", t, "checkin", _checkin)
            for a, t in zip((a1, a2), tokens, strict=True)
        ]

        def part(k: int) -> list[tuple[Person, bytes]]:
            return [(p, parts[p.uid][k]) for p in world.people]

        async def first_part() -> float:
            sending = asyncio.ensure_future(send_part(e1.tcp_port or 0, part(0), 4.0))
            await asyncio.sleep(1.5)
            w1.kill()  # mid-stream
            moved = await asyncio.to_thread(
                wait_for, lambda: len(w2.partitions()) == PARTITIONS, 15, "the takeover"
            )
            await sending
            return moved

        takeover_s = asyncio.run(first_part())
        assert takeover_s < TAKEOVER_S

        async def second_part() -> None:  # the devices reconnect to the other edge
            sending = asyncio.ensure_future(send_part(e2.tcp_port or 0, part(1), 4.0))
            await asyncio.sleep(1.0)
            await asyncio.to_thread(nats_cluster.kill, 0)
            await asyncio.sleep(2.0)
            await asyncio.to_thread(nats_cluster.start, 0)
            await sending

        asyncio.run(second_part())
        # Everything stops mid-stream (the worker still behind) and starts again.
        for node in (e1, e2, w2):
            node.stop()
        for node in (w1, w2, e1, e2):
            node.start()
        for node in (w1, w2, e1, e2):
            node.wait_up()
        asyncio.run(send_part(e1.tcp_port or 0, part(2), 2.0))

        # The reference: each log replayed by one process.
        settings = Settings(
            data_dir=tmp_path, database_url=reference_url, ingest_decoder_process=False
        )
        for uid, data in logs.items():
            log = tmp_path / f"{uid}.nmea"
            log.write_bytes(data)
            asyncio.run(replay(settings, reference, ReplaySpec(log, uid)))
        expected = positions(reference)

        wait_for(lambda: len(positions(engine)) >= len(expected), 60, "every fix stored")
        time.sleep(1.0)  # nothing more arrives
        got = positions(engine)
        assert len(got) == len(set(got)), "a fix stored twice"
        assert sorted(got, key=repr) == sorted(expected, key=repr)
        for uid in logs:  # each member's fixes stored in order
            times = [t for u, t, _ in got if u == uid]
            assert times == sorted(times)
        assert visits(engine) == visits(reference)
        checkins = {(m, t) for m, _, _, t in visits(engine) if t is not None}
        assert len(checkins) == PEOPLE
        wait_for(lambda: all(len(r.seen) >= PEOPLE for r in readers), 10, "live check-ins")
        seen = [sorted(r.seen) for r in readers]
        assert seen[0] == seen[1]
        assert len(seen[0]) == PEOPLE
    finally:
        for node in nodes:
            node.stop(10)
        engine.dispose()
        reference.dispose()
