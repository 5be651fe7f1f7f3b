"""The meeting task in a cluster, every node a process of its own (2 workers, an API node, 3 NATS
servers, PostGIS): one worker at a time runs it under the meetings' lease, its live events reach
an SSE client on the API node once each, and when its holder is killed (kill -9) the other
worker takes it over and records the next meeting."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from devkit.cluster import Node
from devkit.nats import NatsCluster
from geo.model import MeetingKind
from store.db import make_engine
from store.meetings import create_meeting
from store.models import MeetingRow
from tests.cluster.test_drills import SseReader, add_admin, admin_token, wait_for
from tests.ingest.helpers import build_world

pytestmark = [pytest.mark.postgis, pytest.mark.slow]

TAKEOVER_S = 10.0


def test_one_worker_runs_the_meeting_task_and_another_takes_it_over(
    nats_cluster: NatsCluster, cluster_databases: Any, tmp_path: Path
) -> None:
    url = cluster_databases.create()
    engine = make_engine(url)
    world = build_world(engine, 2)
    add_admin(engine)

    def meeting_soon() -> int:
        start = datetime.now(UTC) + timedelta(seconds=2)
        with Session(engine) as session:
            row = create_meeting(
                session,
                org_id=world.org_id,
                site_id=world.site_id,
                kind=MeetingKind.BRANCH_GENERAL_MEETING,
                start=start,
                end=start + timedelta(seconds=2),
            )
            session.commit()
            return int(row.id)

    def recorded(meeting_id: int) -> bool:
        with Session(engine) as session:
            row = session.get(MeetingRow, meeting_id)
            return row is not None and row.recorded_at is not None

    env = {
        "PARTYMAP_DATABASE_URL": url,
        "PARTYMAP_NATS_URL": nats_cluster.url,
        "PARTYMAP_CLUSTER_PARTITIONS": "4",
        "PARTYMAP_INGEST_DECODER_PROCESS": "0",
        "PARTYMAP_MEETINGS_TICK_SECONDS": "0.5",
        "PARTYMAP_MEETINGS_RECORD_GRACE_SECONDS": "0",
        "PARTYMAP_DATA_DIR": str(tmp_path),
    }
    w1 = Node("worker", env, name="w1", log_dir=tmp_path)
    w2 = Node("worker", env, name="w2", log_dir=tmp_path)
    a1 = Node("api", env, name="a1", log_dir=tmp_path)
    nodes = [w1, w2, a1]

    def holders() -> list[Node]:
        held = []
        for w in (w1, w2):
            health = w.health()
            if health is not None and health["cluster"]["meetings_held"]:
                held.append(w)
        return held

    try:
        for node in nodes:
            node.start()
        for node in nodes:
            node.wait_up()
        wait_for(lambda: len(holders()) == 1, 20, "one worker to hold the meetings' lease")
        holder = holders()[0]
        base = f"http://127.0.0.1:{a1.port}"
        token = admin_token(base)
        events = SseReader(base, token, "meeting", lambda e: (e["meeting_id"], e["state"]))

        first = meeting_soon()
        states = {(first, s) for s in ("in_progress", "ended", "recorded")}
        wait_for(lambda: states <= set(events.seen), 30, "the first meeting's live events")
        assert recorded(first)
        assert len(holders()) == 1  # never two at once

        holder.kill()
        moved = wait_for(lambda: len(holders()) == 1, 20, "the other worker to take the lease")
        assert moved < TAKEOVER_S
        second = meeting_soon()
        wait_for(lambda: (second, "recorded") in events.seen, 30, "the second meeting recorded")
        assert recorded(second)
        counts = Counter(events.seen)
        assert all(n == 1 for n in counts.values()), counts  # each event once
        survivor = holders()[0]
        facts = (survivor.health() or {})["cluster"]
        assert facts["meetings_takeovers"] == 1
        assert facts["meetings_ticks"] >= 1
    finally:
        for node in nodes:
            node.stop(10)
        engine.dispose()
