"""The secretary's workflow through the API: a member asks for leave and the secretary
approves it; the secretary records leave during the meeting; after it, a correction (补签)
beside the automatic decision, visible in the sheet, the files and the audit log."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from store import members
from store.models import AuditEntry
from tests.api.conftest import client_for, make_app
from tests.api.world import World, build_world


def _app(engine: Engine, tmp_path: Path) -> tuple[TestClient, World]:
    app = make_app(engine, tmp_path)
    return client_for(app), build_world(engine, app.state.settings)


def _meeting(
    client: TestClient, world: World, start: datetime, *, site: bool = True, **extra: Any
) -> int:
    target = world.targets["self"]
    body = {
        "org_id": target.org_id,
        "kind": "BRANCH_GENERAL_MEETING",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        **({"site_id": target.site_id} if site else {}),
        **extra,
    }
    made = client.post("/api/v1/meetings", json=body, headers=world.headers("branch_admin"))
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _lines(client: TestClient, world: World, meeting_id: int) -> dict[int, dict[str, Any]]:
    got = client.get(
        f"/api/v1/meetings/{meeting_id}/attendance", headers=world.headers("branch_admin")
    )
    return {line["member_id"]: line for line in got.json()["items"]}


def test_a_member_asks_for_leave_and_the_secretary_decides(engine: Engine, tmp_path: Path) -> None:
    client, world = _app(engine, tmp_path)
    me, peer = world.targets["self"].member_id, world.targets["peer"].member_id
    now = datetime.now(UTC).replace(microsecond=0)
    with client:
        coming = _meeting(client, world, now + timedelta(days=3))
        url = f"/api/v1/meetings/{coming}/leave"
        asked = client.post(url, json={"reason": "赴雅加达项目部"}, headers=world.headers("member"))
        assert asked.status_code == 201, asked.text
        assert (asked.json()["status"], asked.json()["member_id"]) == ("requested", me)
        for_peer = client.post(
            url, json={"member_id": peer, "reason": "代请"}, headers=world.headers("member")
        )
        assert for_peer.status_code == 404
        waiting = client.get(
            "/api/v1/leave", params={"status": "requested"}, headers=world.headers("branch_admin")
        ).json()["items"]
        assert [(x["meeting_id"], x["member_name"]) for x in waiting] == [(coming, "党员 T-self")]
        decided = client.post(
            f"{url}/{me}/decision",
            json={"approve": True, "note": "同意"},
            headers=world.headers("branch_admin"),
        )
        assert (decided.json()["status"], decided.json()["decided_by"]) == ("approved", "ba")
        again = client.post(
            f"{url}/{me}/decision", json={"approve": False}, headers=world.headers("branch_admin")
        )
        assert again.status_code == 409
        mine = client.get("/api/v1/leave", headers=world.headers("member")).json()["items"]
        assert [x["status"] for x in mine] == ["approved"]
        assert mine[0]["meeting_start_local"].endswith("+08:00")
        withdrawn = client.delete(f"{url}/{me}", headers=world.headers("member"))
        assert withdrawn.json()["status"] == "withdrawn"
        started = _meeting(client, world, now - timedelta(minutes=5))
        late_ask = client.post(
            f"/api/v1/meetings/{started}/leave", json={"reason": "临时有事"},
            headers=world.headers("member"),
        )  # fmt: skip
        assert late_ask.status_code == 409 and "secretary" in late_ask.json()["detail"]
    with Session(engine) as db:
        steps = db.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.subject_member_id == me)
            .order_by(AuditEntry.id)
        ).all()
    assert [s for s in steps if s.endswith("_leave")] == [
        "request_leave", "read_leave", "decide_leave", "read_leave", "withdraw_leave"
    ]  # fmt: skip


def test_leave_recorded_during_the_meeting_shows_as_excused(engine: Engine, tmp_path: Path) -> None:
    client, world = _app(engine, tmp_path)
    with Session(engine) as db:
        away = members.create_member(db, org_id=world.targets["self"].org_id, name="王出差").id
        late = members.create_member(db, org_id=world.targets["self"].org_id, name="李未到").id
        db.commit()
    now = datetime.now(UTC).replace(microsecond=0)
    with client:
        meeting = _meeting(client, world, now - timedelta(minutes=10))
        recorded = client.post(
            f"/api/v1/meetings/{meeting}/leave",
            json={"member_id": away, "reason": "工地抢险"},
            headers=world.headers("branch_admin"),
        )
        lines = _lines(client, world, meeting)
    assert recorded.json()["status"] == "approved"
    assert (lines[away]["status"], lines[away]["leave"]) == (
        "excused",
        {"status": "approved", "reason": "工地抢险"},
    )
    assert lines[late]["status"] == "pending"  # 未到: the meeting goes on


def test_a_correction_stands_beside_the_automatic_decision(engine: Engine, tmp_path: Path) -> None:
    client, world = _app(engine, tmp_path)
    with Session(engine) as db:
        absent = members.create_member(db, org_id=world.targets["self"].org_id, name="赵补签").id
        db.commit()
    now = datetime.now(UTC).replace(microsecond=0)
    headers = world.headers("branch_admin")
    with client:
        coming = _meeting(client, world, now + timedelta(hours=2))
        early = client.post(
            f"/api/v1/meetings/{coming}/corrections",
            json={"member_id": absent, "status": "present", "reason": "x"},
            headers=headers,
        )
        assert early.status_code == 409 and "after that" in early.json()["detail"]
        ended = _meeting(client, world, now - timedelta(hours=2))
        url = f"/api/v1/meetings/{ended}/corrections"
        bad = client.post(
            url, json={"member_id": absent, "status": "pending", "reason": "x"}, headers=headers
        )
        assert bad.status_code == 422
        made = client.post(
            url,
            json={"member_id": absent, "status": "present", "reason": "终端没电，有签到表"},
            headers=headers,
        )
        assert made.status_code == 201, made.text
        assert (made.json()["old_status"], made.json()["new_status"], made.json()["by"]) == (
            "absent", "present", "ba"
        )  # fmt: skip
        same = client.post(
            url, json={"member_id": absent, "status": "present", "reason": "再补"}, headers=headers
        )
        assert same.status_code == 409
        recorded = client.post(f"/api/v1/meetings/{ended}/attendance", headers=headers).json()
        line = _lines(client, world, ended)[absent]
        text = client.get(
            f"/api/v1/meetings/{ended}/attendance", params={"format": "csv"}, headers=headers
        ).text
        english = client.get(
            f"/api/v1/meetings/{ended}/attendance",
            params={"format": "csv", "lang": "en"},
            headers=headers,
        ).text
        history = client.get(url, headers=headers).json()["items"]
    assert recorded["counts"]["present"] == 3  # M1, M2 still in the room, and the correction
    assert (line["status"], line["outcome"], line["evidence"], line["checkin_evidence"]) == (
        "present", "absent", "manual", None
    )  # fmt: skip
    assert line["correction"]["reason"] == "终端没电，有签到表"
    row = next(r for r in csv.reader(io.StringIO(text)) if r[:2] == ["", "赵补签"])
    assert row[2:5] == ["按时出席", "缺席", "人工补签"]
    assert row[8].startswith("缺席 → 按时出席，终端没电，有签到表（ba，")
    assert "Correction" in english and "Absent → Present: " in english
    assert [(h["old_status"], h["new_status"]) for h in history] == [("absent", "present")]
    with Session(engine) as db:
        entry = db.scalars(
            select(AuditEntry).where(AuditEntry.action == "correct_attendance")
        ).one()
    assert (entry.actor, entry.subject_member_id) == ("ba", absent)
    assert entry.detail == {
        "meeting_id": ended, "old": "absent", "new": "present", "reason": "终端没电，有签到表"
    }  # fmt: skip


def test_a_meeting_without_a_site_is_taken_by_hand(engine: Engine, tmp_path: Path) -> None:
    client, world = _app(engine, tmp_path)
    me = world.targets["self"].member_id
    now = datetime.now(UTC).replace(microsecond=0)
    headers = world.headers("branch_admin")
    with client:
        meeting = _meeting(client, world, now - timedelta(minutes=10), site=False)
        before = _lines(client, world, meeting)[me]
        made = client.post(
            f"/api/v1/meetings/{meeting}/corrections",
            json={"member_id": me, "status": "present", "reason": "线下签到"},
            headers=headers,
        )
        after = _lines(client, world, meeting)[me]
    assert before["status"] == "pending"  # no site: no visit can count
    assert made.status_code == 201
    assert (after["status"], after["evidence"]) == ("present", "manual")
