"""The committee's view through the API: overview for charts, per organisation, ranking,
members' figures and history, alerts with their badge; scoped and audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from geo.model import MeetingKind
from store import attendance, meetings, members
from store.models import AuditEntry, Organisation
from tests.api.conftest import client_for, make_app
from tests.api.world import World, build_world

START = "2026-01-01"


def _history(engine: Engine, world: World) -> dict[str, int]:
    """Recorded meetings: B1 and B2 each hold 支委会 in January and February (nobody there:
    the world's members check in on 1 May), B1 also its two general meetings of 1 May; a
    member of B1 who never comes."""
    made: dict[str, int] = {}
    with Session(engine) as db:
        db.execute(update(Organisation).values(created_at=datetime(2025, 1, 1, tzinfo=UTC)))
        made["absent"] = members.create_member(db, org_id=world.org_ids["B1"], name="钱缺席").id
        for target in ("self", "sibling"):
            t = world.targets[target]
            for month in (1, 2):
                start = datetime(2026, month, 6, 7, tzinfo=UTC)
                m = meetings.create_meeting(
                    db, org_id=t.org_id, site_id=t.site_id,
                    kind=MeetingKind.BRANCH_COMMITTEE_MEETING, start=start,
                    end=start + timedelta(hours=1),
                ).id  # fmt: skip
                attendance.record_meeting(db, meeting_id=m, now=start + timedelta(hours=2))
                made[f"{target}-{month}"] = m
        for m in (world.targets["self"].meeting_id, world.targets["peer"].meeting_id):
            attendance.record_meeting(db, meeting_id=m)
        db.commit()
    return made


def test_statistics_of_a_subtree(engine: Engine, tmp_path: Path) -> None:
    app = make_app(engine, tmp_path, meetings_alert_absent_streak=2)
    world = build_world(engine, app.state.settings)
    made = _history(engine, world)
    params = {"start": START, "end": "2026-07-01"}
    with client_for(app) as client:
        com = world.headers("committee_admin")
        overview = client.get("/api/v1/stats/overview", params=params, headers=com).json()
        orgs = client.get("/api/v1/stats/organisations", params=params, headers=com).json()
        ranking = client.get("/api/v1/stats/ranking", params=params, headers=com).json()
        mine = client.get(
            "/api/v1/stats/ranking", params=params, headers=world.headers("branch_admin")
        ).json()
        figures = client.get(
            "/api/v1/stats/members", params={**params, "org_id": world.org_ids["B1"]},
            headers=com,
        ).json()  # fmt: skip
        history = client.get(f"/api/v1/members/{made['absent']}/attendance", headers=com).json()
        own = client.get(
            f"/api/v1/members/{world.targets['self'].member_id}/attendance",
            headers=world.headers("member"),
        )
        other = client.get(
            f"/api/v1/members/{world.targets['peer'].member_id}/attendance",
            headers=world.headers("member"),
        )
        alerts = client.get("/api/v1/alerts", params={"start": START}, headers=com).json()
        badge = client.get("/api/v1/alerts/counts", headers=com).json()
        outside = client.get(
            "/api/v1/stats/overview",
            params={"org_id": world.org_ids["B3"]},
            headers=world.headers("branch_admin"),
        )
        backwards = client.get(
            "/api/v1/stats/overview", params={"start": "2026-05-01", "end": "2026-04-01"},
            headers=com,
        )  # fmt: skip
    total = overview["total"]
    assert overview["org_id"] == world.org_ids["C1"] and overview["tz"] == "Asia/Shanghai"
    # Four 支委会 and the world's three general meetings of 1 May in the subtree (B3's is not).
    assert (total["held"], total["recorded"]) == (7, 6)
    committee = next(k for k in total["by_kind"] if k["kind"] == "BRANCH_COMMITTEE_MEETING")
    assert (committee["held"], committee["required"], committee["met"]) == (4, 12, 4)
    assert [c["org_id"] for c in overview["children"]] == [world.org_ids["G1"]]
    assert [m["month"] for m in overview["months"]] == [f"2026-0{n}" for n in range(1, 7)]
    assert [m["held"] for m in overview["months"]] == [2, 2, 0, 0, 3, 0]
    may = overview["months"][4]["attendance"]  # B1's two, on its roll M1, M2 and 钱缺席
    assert (may["expected"], may["attended"]) == (6, 4)
    assert {o["org_id"] for o in orgs["items"]} == {
        world.org_ids[k] for k in ("C1", "G1", "B1", "B2")
    }
    assert [r["rank"] for r in ranking["items"]] == [1, 2]
    assert [r["org_id"] for r in mine["items"]] == [world.org_ids["B1"]]
    by_member = {f["member_id"]: f["attendance"] for f in figures["items"]}
    assert by_member[made["absent"]]["absent"] == 4 and by_member[made["absent"]]["rate"] == 0.0
    newest = {h["meeting_id"] for h in history["items"][:2]}
    assert newest == {world.targets["self"].meeting_id, world.targets["peer"].meeting_id}
    assert [h["status"] for h in history["items"]] == ["absent"] * 4
    assert own.status_code == 200 and other.status_code == 404
    kinds = {(a["kind"], a.get("member_id")) for a in alerts["items"]}
    assert ("absent_streak", made["absent"]) in kinds
    assert any(a["kind"] == "overdue" for a in alerts["items"])
    assert any(
        a["kind"] == "low_attendance" and a["meeting_id"] == made["sibling-2"]
        for a in alerts["items"]
    )
    assert badge["total"] == sum(badge[k] for k in ("overdue", "absent_streak", "low_attendance"))
    assert badge["absent_streak"] >= 1
    assert outside.status_code == 404 and backwards.status_code == 422
    with Session(engine) as db:
        audited = set(
            db.scalars(
                select(AuditEntry.subject_member_id).where(
                    AuditEntry.action == "read_attendance", AuditEntry.actor == "com"
                )
            )
        )
    assert set(by_member) <= audited and made["absent"] in audited
