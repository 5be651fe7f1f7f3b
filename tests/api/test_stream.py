"""The live stream over a real server: events reach the callers who may see them, audited.

uvicorn serves the app in a thread (the test client would wait for an endless response to
end); events are published on the app's LiveFeed as the ingestion pipeline does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api.principal import Principal
from api.routes.stream import visible
from devkit.services import free_port
from store.models import AuditEntry, Role
from tests.api.conftest import make_app
from tests.api.world import World, build_world


@pytest.fixture
def served(engine: Engine, tmp_path: Path) -> Iterator[tuple[str, FastAPI, World]]:
    app = make_app(engine, tmp_path, sse_keepalive_seconds=0.2)
    world = build_world(engine, app.state.settings)
    server = uvicorn.Server(uvicorn.Config(app, port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{server.config.port}", app, world
    server.should_exit = True
    thread.join(timeout=20)


def _event(world: World, target: str, kind: str = "checkin") -> dict[str, Any]:
    t = world.targets[target]
    path = {"self": "B1", "peer": "B1", "sibling": "B2", "outside": "B3"}[target]
    org_path = "/" + "/".join(str(world.org_ids[k]) for k in _chain(path)) + "/"
    return {
        "type": kind,
        "member_id": t.member_id,
        "org_id": t.org_id,
        "org_path": org_path,
        "site_id": t.site_id,
        "time": "2026-05-01T08:22:00+00:00",
    }


def _chain(branch: str) -> tuple[str, ...]:
    return {"B1": ("C1", "G1", "B1"), "B2": ("C1", "G1", "B2"), "B3": ("C2", "B3")}[branch]


def _receive(
    base: str, app: FastAPI, headers: dict[str, str], events: list[dict[str, Any]], want: int
) -> list[str]:
    """Data lines received after publishing ``events`` once the stream is open."""
    received: list[str] = []
    with (
        httpx.Client(timeout=10) as client,
        client.stream("GET", f"{base}/api/v1/stream", headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines).startswith(":")  # the stream is open and subscribed
        app.state.live.publish_many(events)
        deadline = time.monotonic() + 10
        for line in lines:
            if line.startswith("data: "):
                received.append(line)
            if len(received) >= want or time.monotonic() > deadline:
                break
            if line == ": keepalive" and want == 0:
                break
    return received


def test_checkin_reaches_the_branch_admin_and_is_audited(
    served: tuple[str, FastAPI, World], engine: Engine
) -> None:
    base, app, world = served
    events = [_event(world, "outside"), _event(world, "sibling"), _event(world, "peer")]
    received = _receive(base, app, world.headers("branch_admin"), events, want=1)
    peer = world.targets["peer"].member_id
    assert len(received) == 1 and f'"member_id":{peer}' in received[0]
    assert '"type":"checkin"' in received[0]
    with Session(engine) as db:
        entries = db.execute(
            select(AuditEntry.action, AuditEntry.subject_member_id).where(
                AuditEntry.actor_user_id == world.user_ids["branch_admin"]
            )
        ).all()
    assert ("stream_open", None) in entries
    assert ("read_live", peer) in entries
    assert all(m in (None, peer) for _, m in entries)


def test_member_sees_only_their_own_events_through_the_cookie(
    served: tuple[str, FastAPI, World],
) -> None:
    base, app, world = served
    # The map page's EventSource sends the login cookie, not a header.
    cookie = {"Cookie": f"partymap_token={world.tokens['member']}"}
    events = [_event(world, "peer", "position"), _event(world, "self", "position")]
    received = _receive(base, app, cookie, events, want=1)
    assert len(received) == 1 and f'"member_id":{world.targets["self"].member_id}' in received[0]


def test_the_stream_refuses_devices_and_strangers(served: tuple[str, FastAPI, World]) -> None:
    base, _app, world = served
    with httpx.Client(timeout=10) as client:
        assert client.get(f"{base}/api/v1/stream").status_code == 401
        assert (
            client.get(f"{base}/api/v1/stream", headers=world.headers("device")).status_code == 401
        )


def test_visibility_rules() -> None:
    admin = Principal(1, "a", Role.BRANCH_ADMIN, 5, "/1/5/", None)
    whole = Principal(2, "w", Role.COMMITTEE_ADMIN, None, None, None)
    member = Principal(3, "m", Role.MEMBER, 5, "/1/5/", 7)
    inside = {"type": "position", "member_id": 8, "org_path": "/1/5/9/"}
    sibling = {"type": "position", "member_id": 9, "org_path": "/1/50/"}  # a prefix trap
    pathless = {"type": "position", "member_id": 7}
    assert visible(admin, inside) and not visible(admin, sibling) and not visible(admin, pathless)
    assert visible(whole, sibling) and visible(whole, pathless)
    assert visible(member, pathless) and not visible(member, inside)
