"""Display tokens for the big screen: made by an admin for a subtree of theirs, they open the
display's map, today's meetings and statistics of that subtree only, nothing else; their
reads are audited under the display's name; revoked, they open nothing."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from geo.model import MeetingKind
from store import displays, meetings
from store.models import AuditEntry
from tests.api.conftest import client_for, make_app
from tests.api.live import StreamReader, event, org_path, serving
from tests.api.world import build_world


def test_a_display_token_shows_its_subtree_and_nothing_more(engine: Engine, tmp_path: Path) -> None:
    app = make_app(engine, tmp_path)
    world = build_world(engine, app.state.settings)
    now = datetime.now(UTC).replace(microsecond=0)
    with Session(engine) as db:
        for target in ("self", "sibling"):
            t = world.targets[target]
            meetings.create_meeting(
                db, org_id=t.org_id, site_id=t.site_id, kind=MeetingKind.THEMED_PARTY_DAY,
                start=now - timedelta(minutes=5), end=now + timedelta(minutes=55),
                title=f"主题党日 {target}",
            )  # fmt: skip
        db.commit()
    with client_for(app) as client:
        made = client.post(
            "/api/v1/display-tokens", json={"name": "一支部活动室大屏"},
            headers=world.headers("branch_admin"),
        )  # fmt: skip
        assert made.status_code == 201, made.text
        token, display_id = made.json()["token"], made.json()["id"]
        assert made.json()["org_id"] == world.org_ids["B1"] and token.startswith("pmd_")
        screen = {"Authorization": f"Bearer {token}"}
        me = client.get("/api/v1/display/me", headers=screen).json()
        view = client.get(
            "/api/v1/display/map/overview", params={"bbox": "-180,-85,180,85", "zoom": 18},
            headers=screen,
        ).json()  # fmt: skip
        tree = client.get("/api/v1/display/map/tree", headers=screen)
        today = client.get("/api/v1/display/meetings/today", headers=screen).json()
        stats = client.get("/api/v1/display/stats", headers=screen).json()
        elsewhere = [
            client.get(url, headers=screen).status_code
            for url in ("/api/v1/members", "/api/v1/meetings", "/api/v1/auth/me",
                        f"/api/v1/members/{world.targets['self'].member_id}/attendance",
                        "/api/v1/stats/overview")
        ]  # fmt: skip
        as_user = client.get("/api/v1/display/me", headers=world.headers("whole_tree"))
        outside = client.post(
            "/api/v1/display-tokens", json={"name": "x", "org_id": world.org_ids["B3"]},
            headers=world.headers("branch_admin"),
        )  # fmt: skip
        others = client.post(
            "/api/v1/display-tokens", json={"name": "总支大屏"},
            headers=world.headers("committee_admin"),
        ).json()  # fmt: skip
        not_mine = client.delete(
            f"/api/v1/display-tokens/{others['id']}", headers=world.headers("branch_admin")
        )
        listed = client.get("/api/v1/display-tokens", headers=world.headers("branch_admin"))
        revoked = client.delete(
            f"/api/v1/display-tokens/{display_id}", headers=world.headers("branch_admin")
        )
        after = client.get("/api/v1/display/me", headers=screen)
    assert (me["org_id"], me["name"], me["tz"]) == (
        world.org_ids["B1"],
        "一支部活动室大屏",
        "Asia/Shanghai",
    )
    seen = (
        {p["member_id"] for p in view["points"] if "member_id" in p} if "points" in view else None
    )
    text = str(view)
    assert "T-sibling" not in text and "T-outside" not in text
    if seen is not None:
        assert seen <= {world.targets["self"].member_id, world.targets["peer"].member_id}
    assert tree.status_code == 200 and "T-sibling" not in tree.text
    assert [m["meeting"]["title"] for m in today["meetings"]] == ["主题党日 self"]
    assert today["meetings"][0]["counts"]["present"] == 2  # M1 and M2 in the room
    assert {r["name"] for r in today["meetings"][0]["roll"]} == {"党员 T-self", "党员 T-peer"}
    assert stats["statistics"]["org_id"] == world.org_ids["B1"]
    assert set(stats["alerts"]) == {"overdue", "absent_streak", "low_attendance", "total"}
    assert elsewhere == [401] * 5 and as_user.status_code == 401
    assert outside.status_code == 404 and not_mine.status_code == 404
    assert [d["id"] for d in listed.json()["items"]] == [display_id]
    assert revoked.status_code == 204 and after.status_code == 401
    with Session(engine) as db:
        reads = db.execute(
            select(AuditEntry.action, AuditEntry.subject_member_id).where(
                AuditEntry.actor == f"display:{display_id}:一支部活动室大屏"
            )
        ).all()
    members = {world.targets["self"].member_id, world.targets["peer"].member_id}
    assert {m for a, m in reads if a == "read_attendance"} == members
    assert {m for a, m in reads if a == "read_positions"} == members


def test_the_display_stream_says_what_changed_in_its_subtree_and_ends_when_revoked(
    engine: Engine, tmp_path: Path
) -> None:
    """regression: a display token could not open a live stream, so the big screen polled.
    Its stream carries only the subtree's changes, without members or places, and ends when
    the token is revoked."""
    app = make_app(engine, tmp_path, sse_keepalive_seconds=0.2, sse_recheck_seconds=0.3)
    world = build_world(engine, app.state.settings)
    with Session(engine) as db:
        made, token = displays.create_display(
            db, name="一支部大屏", org_id=world.org_ids["B1"], created_by="ba"
        )
        db.commit()
    screen = {"Authorization": f"Bearer {token}"}
    b1, b3 = org_path(world, "B1"), org_path(world, "B3")
    with serving(app) as base:
        with httpx.Client(base_url=base, timeout=10) as client:
            as_user = client.get("/api/v1/display/stream", headers=world.headers("whole_tree"))
            as_nobody = client.get("/api/v1/display/stream")
            # A display token opens no other stream.
            other = client.get("/api/v1/stream", headers=screen)
        reader = StreamReader(base, screen, path="/api/v1/display/stream")
        try:
            assert reader.status == 200
            app.state.live.publish_many([
                {**event(world, "outside", "position"), "lat": 1.0, "lon": 2.0},
                {**event(world, "sibling", "checkin")},
                {"type": "meeting", "state": "recorded", "meeting_id": 9,
                 "org_id": world.org_ids["B3"], "org_path": b3, "kind": "PARTY_LECTURE"},
                {**event(world, "self", "position"), "lat": 30.5, "lon": 114.3},
                {**event(world, "peer", "position"), "lat": 30.5, "lon": 114.3},
                {**event(world, "self", "checkin")},
                {"type": "meeting", "state": "in_progress", "meeting_id": 7,
                 "org_id": world.org_ids["B1"], "org_path": b1, "kind": "PARTY_LECTURE"},
                {"type": "alert", "alert": "absent_streak", "id": 3, "member_id": 5,
                 "org_id": world.org_ids["B1"], "org_path": b1, "absent_run": 3},
            ])  # fmt: skip
            lines, _ = reader.until(
                lambda line: line.startswith('data: {"type":"alert"'), timeout=10
            )
            with Session(engine) as db:
                displays.revoke_display(db, display_id=made.id)
                db.commit()
            revoked_at = time.monotonic()
            ends, ended = reader.until(lambda line: line == "event: end", timeout=10)
            took_s = time.monotonic() - revoked_at
            closed = reader.ended(5)
        finally:
            reader.close()
    data = [json.loads(x.removeprefix("data: ")) for x in lines if x.startswith("data: ")]
    assert data == [
        {"type": "position"},  # B1's two members' fixes: once, without who or where
        {"type": "checkin"},
        {"type": "meeting", "state": "in_progress", "meeting_id": 7, "org_id": world.org_ids["B1"]},
        {"type": "alert", "alert": "absent_streak", "org_id": world.org_ids["B1"]},
    ]
    assert ended and closed and took_s < 3, (ends, took_s)
    assert as_user.status_code == as_nobody.status_code == other.status_code == 401
    with Session(engine) as db:
        opened = db.scalars(
            select(AuditEntry.detail).where(
                AuditEntry.action == "stream_open", AuditEntry.actor == made.actor
            )
        ).all()
    assert [d["display_id"] for d in opened] == [made.id]
