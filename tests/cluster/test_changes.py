"""Changes made through one API node reach every node at once, every node a process of its own:
2 API nodes, a worker, an edge, 3 NATS servers, PostGIS. The refresh intervals are set far
beyond the test's deadlines, so only the announcements can make it pass.

A live device stands 575 m from its member's site, sending a fix a second to the edge. Through
API node a1 the site is renamed and moved onto the device: API node a2's map shows the new name,
and the worker checks the member in there. Through a2 the device is handed to another member:
the worker stores its next fixes under them. Through a1 its token is rotated: the edge closes
its connection.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.changes import Kind
from devkit.cluster import Node
from devkit.families import TrackPoint
from devkit.nats import NatsCluster
from devkit.services import free_port
from devkit.simulate import simulate
from partymap.cluster.changes import changes_subject, tell
from partymap.settings import Settings
from store.db import make_engine
from store.models import Position, VisitRow
from tests.cluster.test_drills import add_admin, admin_token, wait_for
from tests.ingest.helpers import OUTSIDE, build_world

NEVER_S = "600"  # refresh intervals: far beyond every deadline below
DEADLINE_S = 15.0


class LiveDevice:
    """A TCP device at ``where`` sending an epoch dated now every second, in a thread, until
    the edge closes its connection (:attr:`closed`) or :meth:`stop`."""

    def __init__(self, port: int, uid: str, token: str, where: tuple[float, float]) -> None:
        self.closed = threading.Event()
        self._stop = threading.Event()
        self._sock = socket.create_connection(("127.0.0.1", port))
        self._sock.sendall(f"REG,{uid},{token}\n".encode())
        self._where = where
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._sock.settimeout(1.0)
        seed = 0
        while not self._stop.is_set():
            point = TrackPoint(datetime.now(UTC).replace(microsecond=0), *self._where)
            epoch = b"".join(line + b"\r\n" for line in simulate([point], "ublox-f9p", seed=seed))
            seed += 1
            try:
                self._sock.sendall(epoch)
                if self._sock.recv(1024) == b"":
                    break  # closed by the edge
            except TimeoutError:
                continue
            except OSError:
                break
        self.closed.set()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


@pytest.mark.postgis
@pytest.mark.slow
def test_changes_through_one_api_node_reach_the_others_before_any_refresh(
    nats_cluster: NatsCluster, cluster_databases: Any, tmp_path: Path
) -> None:
    url = cluster_databases.create()
    engine = make_engine(url)
    world = build_world(engine, 2)
    carrier, other = world.people
    add_admin(engine)
    env = {
        "PARTYMAP_DATABASE_URL": url,
        "PARTYMAP_NATS_URL": nats_cluster.url,
        "PARTYMAP_CLUSTER_PARTITIONS": "4",
        "PARTYMAP_INGEST_DECODER_PROCESS": "0",
        "PARTYMAP_INGEST_BATCH_SECONDS": "0.02",
        "PARTYMAP_INGEST_SITES_REFRESH_SECONDS": NEVER_S,
        "PARTYMAP_INGEST_DIRECTORY_REFRESH_SECONDS": NEVER_S,
        "PARTYMAP_MAP_REFRESH_SECONDS": NEVER_S,
        "PARTYMAP_DATA_DIR": str(tmp_path),
    }
    a1 = Node("api", env, name="a1", log_dir=tmp_path)
    a2 = Node("api", env, name="a2", log_dir=tmp_path)
    w1 = Node("worker", env, name="w1", log_dir=tmp_path)
    e1 = Node("edge", env, name="e1", log_dir=tmp_path, tcp=True)
    nodes = [a1, a2, w1, e1]
    device: LiveDevice | None = None
    clients: list[httpx.Client] = []
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            node.wait_up()
        wait_for(lambda: len(w1.partitions()) == 4, 20, "the worker to hold the partitions")

        def client(node: Node) -> httpx.Client:
            base = f"http://127.0.0.1:{node.port}"
            token = admin_token(base)
            clients.append(
                httpx.Client(
                    base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10
                )
            )
            return clients[-1]

        c1, c2 = client(a1), client(a2)

        def fixes(member_id: int) -> int:
            with Session(engine) as session:
                rows = session.scalars(
                    select(Position.id).where(
                        Position.device_id == carrier.device_id, Position.member_id == member_id
                    )
                )
                return len(list(rows))

        def site_names_on_a2() -> list[str]:
            answer = c2.get("/api/v1/map/overview", params={"bbox": "113,29,116,32", "zoom": 10})
            assert answer.status_code == 200, answer.text
            return [p[4] for p in answer.json()["sites"]["points"]]

        device = LiveDevice(e1.tcp_port or 0, carrier.uid, carrier.token, OUTSIDE)
        wait_for(lambda: fixes(carrier.member_id) >= 3, 30, "the live device's first fixes")
        assert site_names_on_a2() == ["活动室"]  # a2's map has read its roster

        moved = c1.patch(
            f"/api/v1/sites/{world.site_id}",
            json={
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [OUTSIDE[1], OUTSIDE[0]]},
                "properties": {"name": "新会议室", "radius_m": 40, "params": {"dwell_s": 2}},
            },
        )
        assert moved.status_code == 200, moved.text
        wait_for(lambda: site_names_on_a2() == ["新会议室"], DEADLINE_S, "a2's map to follow")

        def checked_in() -> bool:
            with Session(engine) as session:
                visit = session.scalars(
                    select(VisitRow).where(
                        VisitRow.member_id == carrier.member_id,
                        VisitRow.site_id == world.site_id,
                        VisitRow.checkin_at.is_not(None),
                    )
                ).first()
                return visit is not None

        wait_for(checked_in, DEADLINE_S, "the worker to check the member in at the moved site")

        handed = c2.patch(
            f"/api/v1/devices/{carrier.device_id}", json={"member_id": other.member_id}
        )
        assert handed.status_code == 200, handed.text
        wait_for(
            lambda: fixes(other.member_id) >= 2, DEADLINE_S, "fixes stored as the new member's"
        )

        rotated = c1.post(f"/api/v1/devices/{carrier.device_id}/token")
        assert rotated.status_code == 200, rotated.text
        assert device.closed.wait(DEADLINE_S), "the edge kept the revoked device's connection"

        for node in nodes:
            health = node.health()
            assert health is not None
            assert health["cluster"]["changes_heard"] >= 3, node.name
        assert (a1.health() or {})["cluster"]["changes_sent"] == 2
    finally:
        for c in clients:
            c.close()
        if device is not None:
            device.stop()
        for node in nodes:
            node.stop(10)
        engine.dispose()


def test_a_process_that_is_no_node_tells_the_nodes(nats_cluster: NatsCluster) -> None:
    """``partymap import`` with PARTYMAP_NATS_URL: one announcement; NATS away: False, no wait."""
    settings = Settings(nats_url=nats_cluster.url)

    async def body() -> list[tuple[str, bytes]]:
        nc = await nats.connect(servers=nats_cluster.url.split(","))
        heard: list[tuple[str, bytes]] = []

        async def got(msg: Any) -> None:
            heard.append((msg.subject, msg.data))

        await nc.subscribe(changes_subject(settings), cb=got)
        await nc.flush()
        assert await tell(settings, Kind.SITES)
        await asyncio.sleep(0.3)
        away = Settings(nats_url=f"nats://127.0.0.1:{free_port()}")
        assert not await tell(away, Kind.DEVICES)
        await nc.close()
        return heard

    heard = asyncio.run(body())
    assert heard == [("partymap.changes.sites", b'{"revoked":[]}')]
