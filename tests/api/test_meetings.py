"""Scheduling meetings through the API: local times in the site's zone, meetings without a
site, hosts and recorders, cancelling, history; recording refused before the end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from store import members, sites
from store.models import AuditEntry
from tests.api.conftest import client_for, make_app
from tests.api.world import World, build_world, square

FUTURE = (datetime.now(UTC) + timedelta(days=40)).date().isoformat()


def _world(engine: Engine, tmp_path: Any) -> tuple[TestClient, World]:
    app = make_app(engine, tmp_path, meetings_tz="Asia/Shanghai")
    world = build_world(engine, app.state.settings)
    return client_for(app), world


def _nairobi_site(engine: Engine, org_id: int) -> int:
    with Session(engine) as db:
        site = sites.create_site(
            db, org_id=org_id, name="营地", geometry=square(36.8, -1.3), tz="Africa/Nairobi"
        )
        db.commit()
        return site.id


def test_local_times_are_read_in_the_sites_zone_and_answered_with_it(
    engine: Engine, tmp_path: Any
) -> None:
    client, world = _world(engine, tmp_path)
    branch = world.targets["self"].org_id
    site = _nairobi_site(engine, branch)
    headers = world.headers("branch_admin")
    body = {
        "org_id": branch,
        "site_id": site,
        "kind": "BRANCH_COMMITTEE_MEETING",
        "title": "支委会",
        "topic": "研究发展党员工作",
        "start": f"{FUTURE}T15:00:00",
        "end": f"{FUTURE}T16:30:00",
        "host_member_id": world.targets["self"].member_id,
    }
    with client:
        made = client.post("/api/v1/meetings", json=body, headers=headers)
        assert made.status_code == 201, made.text
        m = made.json()
        assert (m["tz"], m["start_local"], m["status"]) == (
            "Africa/Nairobi",
            f"{FUTURE}T15:00:00+03:00",
            "upcoming",
        )
        assert m["start"].startswith(f"{FUTURE}T12:00:00")  # UTC
        assert (m["host_name"], m["site_name"], m["summary"]) == ("党员 T-self", "营地", None)
        wrong_zone = client.post(
            "/api/v1/meetings", json={**body, "tz": "Asia/Shanghai"}, headers=headers
        )
        assert wrong_zone.status_code == 422 and "Africa/Nairobi" in wrong_zone.json()["detail"]
        aware = client.post(
            "/api/v1/meetings",
            json={**body, "start": f"{FUTURE}T15:00:00+08:00", "end": f"{FUTURE}T16:00:00+08:00"},
            headers=headers,
        ).json()
        assert aware["start_local"] == f"{FUTURE}T10:00:00+03:00"
        absurd = client.post(
            "/api/v1/meetings", json={**body, "start": "0001-01-01T00:00:00+14:00"}, headers=headers
        )
        assert absurd.status_code == 422


def test_a_local_time_skipped_by_daylight_saving_is_refused(engine: Engine, tmp_path: Any) -> None:
    client, world = _world(engine, tmp_path)
    body = {
        "org_id": world.targets["self"].org_id,
        "kind": "PARTY_LECTURE",
        "tz": "America/New_York",
        "start": "2027-03-14T02:30:00",
        "end": "2027-03-14T04:00:00",
    }
    with client:
        refused = client.post("/api/v1/meetings", json=body, headers=world.headers("branch_admin"))
    assert refused.status_code == 422
    assert "does not exist in America/New_York" in refused.json()["detail"]


def test_a_meeting_without_a_site_is_held_in_the_reporting_zone(
    engine: Engine, tmp_path: Any
) -> None:
    client, world = _world(engine, tmp_path)
    body = {
        "org_id": world.targets["self"].org_id,
        "kind": "THEMED_PARTY_DAY",
        "start": f"{FUTURE}T09:00:00",
        "end": f"{FUTURE}T11:00:00",
    }
    with client:
        m = client.post("/api/v1/meetings", json=body, headers=world.headers("branch_admin"))
    assert m.status_code == 201, m.text
    assert (m.json()["site_id"], m.json()["tz"], m.json()["start_local"]) == (
        None,
        "Asia/Shanghai",
        f"{FUTURE}T09:00:00+08:00",
    )


def test_hosts_come_from_the_callers_scope_or_from_above(engine: Engine, tmp_path: Any) -> None:
    client, world = _world(engine, tmp_path)
    with Session(engine) as db:
        above = members.create_member(db, org_id=world.org_ids["G1"], name="总支书记").id
        db.commit()
    body = {
        "org_id": world.targets["self"].org_id,
        "kind": "PARTY_LECTURE",
        "start": f"{FUTURE}T09:00:00",
        "end": f"{FUTURE}T10:00:00",
    }
    headers = world.headers("branch_admin")
    with client:
        lecture = client.post(
            "/api/v1/meetings", json={**body, "host_member_id": above}, headers=headers
        )
        sibling = client.post(
            "/api/v1/meetings",
            json={**body, "recorder_member_id": world.targets["sibling"].member_id},
            headers=headers,
        )
    assert lecture.status_code == 201 and lecture.json()["host_name"] == "总支书记"
    assert sibling.status_code == 404 and "T-sibling" not in sibling.text


def test_edit_cancel_and_history(engine: Engine, tmp_path: Any) -> None:
    client, world = _world(engine, tmp_path)
    headers = world.headers("branch_admin")
    target = world.targets["self"]
    body = {
        "org_id": target.org_id,
        "site_id": target.site_id,
        "kind": "GROUP_MEETING",
        "start": f"{FUTURE}T09:00:00",
        "end": f"{FUTURE}T10:00:00",
        "recorder_member_id": target.member_id,
    }
    with client:
        m = client.post("/api/v1/meetings", json=body, headers=headers).json()
        url = f"/api/v1/meetings/{m['id']}"
        patched = client.patch(
            url,
            json={"site_id": None, "recorder_member_id": None, "start": f"{FUTURE}T09:30:00"},
            headers=headers,
        ).json()
        assert (patched["site_id"], patched["recorder_member_id"]) == (None, None)
        assert patched["start_local"] == f"{FUTURE}T09:30:00+08:00"
        cancelled = client.post(f"{url}/cancel", json={"reason": "与党课合并"}, headers=headers)
        assert cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["cancel_reason"] == "与党课合并"
        assert (
            client.post(f"{url}/cancel", json={"reason": "x"}, headers=headers).status_code == 409
        )
        assert client.patch(url, json={"title": "x"}, headers=headers).status_code == 409
        assert client.delete(url, headers=headers).status_code == 204  # never held
        listed = client.get(
            "/api/v1/meetings",
            params={"status": ["ended", "recorded"], "order": "desc"},
            headers=headers,
        ).json()["items"]
        held = client.get(
            "/api/v1/meetings",
            params={"start": "2026-05-01T00:00:00Z", "end": "2026-05-02T00:00:00Z"},
            headers=headers,
        ).json()["items"]
        past = client.get(f"/api/v1/meetings/{target.meeting_id}", headers=headers).json()
        refused_delete = client.delete(f"/api/v1/meetings/{target.meeting_id}", headers=headers)
    assert {x["id"] for x in listed} == {
        world.targets["self"].meeting_id,
        world.targets["peer"].meeting_id,
    }
    assert [x["id"] for x in held] == [target.meeting_id, world.targets["peer"].meeting_id]
    assert past["status"] == "ended" and refused_delete.status_code == 409
    with Session(engine) as db:
        actions = set(db.scalars(select(AuditEntry.action).where(AuditEntry.actor == "ba")))
    assert {"schedule_meeting", "change_meeting", "cancel_meeting", "delete_meeting"} <= actions


def test_members_see_the_meetings_whose_roll_they_are_on(engine: Engine, tmp_path: Any) -> None:
    client, world = _world(engine, tmp_path)
    general = {
        "org_id": world.org_ids["G1"],
        "kind": "PARTY_LECTURE",
        "start": f"{FUTURE}T09:00:00",
        "end": f"{FUTURE}T10:00:00",
    }
    with client:
        above = client.post(
            "/api/v1/meetings", json=general, headers=world.headers("committee_admin")
        )
        mine = client.get("/api/v1/meetings", headers=world.headers("member")).json()["items"]
        one = client.get(f"/api/v1/meetings/{above.json()['id']}", headers=world.headers("member"))
        other = client.get(
            f"/api/v1/meetings/{world.targets['sibling'].meeting_id}",
            headers=world.headers("member"),
        )
    assert {m["id"] for m in mine} == {
        world.targets["self"].meeting_id,
        world.targets["peer"].meeting_id,
        above.json()["id"],
    }
    assert one.status_code == 200 and other.status_code == 404


def test_recording_by_hand_before_the_end_is_refused(engine: Engine, tmp_path: Any) -> None:
    client, world = _world(engine, tmp_path)
    target = world.targets["self"]
    with Session(engine) as db:
        members.create_member(db, org_id=target.org_id, name="还没到的")
        db.commit()
    now = datetime.now(UTC).replace(microsecond=0)
    body = {
        "org_id": target.org_id,
        "site_id": target.site_id,
        "kind": "BRANCH_GENERAL_MEETING",
        "start": (now - timedelta(minutes=10)).isoformat(),
        "end": (now + timedelta(minutes=50)).isoformat(),
    }
    headers = world.headers("branch_admin")
    with client:
        m = client.post("/api/v1/meetings", json=body, headers=headers).json()
        assert m["status"] == "in_progress"
        refused = client.post(f"/api/v1/meetings/{m['id']}/attendance", headers=headers)
        live = client.get(f"/api/v1/meetings/{m['id']}/attendance/counts", headers=headers).json()
    assert refused.status_code == 409
    assert "recorded once it has ended" in refused.json()["detail"]
    # M1 and M2 have been in the room since their check-in in May (their visits never ended).
    assert (live["counts"]["present"], live["counts"]["pending"]) == (2, 1)
    assert live["summary"]["expected"] == 3
