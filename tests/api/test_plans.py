"""Meeting plans through the API: a monthly plan schedules its meetings at once, a change
schedules them again, stopping keeps what was held."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from tests.api.conftest import client_for, make_app
from tests.api.world import build_world


def test_a_plan_schedules_ahead_and_is_changed_and_stopped(engine: Engine, tmp_path: Path) -> None:
    app = make_app(engine, tmp_path, meetings_plan_horizon_days=70)
    world = build_world(engine, app.state.settings)
    target = world.targets["self"]
    headers = world.headers("branch_admin")
    body = {
        "org_id": target.org_id,
        "site_id": target.site_id,
        "kind": "BRANCH_COMMITTEE_MEETING",
        "title": "支委会",
        "frequency": "monthly",
        "weekday": 1,
        "nth": 1,
        "time": "15:00",
        "duration_min": 90,
        "recorder_member_id": target.member_id,
    }
    with client_for(app) as client:
        made = client.post("/api/v1/meeting-plans", json=body, headers=headers)
        assert made.status_code == 201, made.text
        plan = made.json()
        firsts = plan["next_meetings"]
        # Every first Tuesday within 70 days, at 15:00 in Beijing.
        assert 2 <= len(firsts) <= 3
        for m in firsts:
            local = datetime.fromisoformat(m["start_local"])
            assert (local.weekday(), local.day <= 7, local.strftime("%H:%M %z")) == (
                1,
                True,
                "15:00 +0800",
            )
        meeting = client.get(f"/api/v1/meetings/{firsts[0]['meeting_id']}", headers=headers)
        assert (meeting.json()["plan_id"], meeting.json()["recorder_member_id"]) == (
            plan["id"],
            target.member_id,
        )
        url = f"/api/v1/meeting-plans/{plan['id']}"
        moved = client.patch(url, json={"time": "09:30", "duration_min": 60}, headers=headers)
        assert [m["start_local"][11:16] for m in moved.json()["next_meetings"]] == ["09:30"] * len(
            firsts
        )
        half = client.patch(url, json={"weekday": 3}, headers=headers)
        assert half.status_code == 422 and "whole" in half.json()["detail"]
        bad = client.post(
            "/api/v1/meeting-plans",
            json={**body, "nth": None, "day_of_month": None},
            headers=headers,
        )
        assert (
            bad.status_code == 422 and "day_of_month, or weekday with nth" in bad.json()["detail"]
        )
        stopped = client.post(f"{url}/stop", headers=headers).json()
        assert stopped["active"] is False and stopped["next_meetings"] == []
        listed = client.get(
            "/api/v1/meeting-plans", params={"active": False}, headers=headers
        ).json()["items"]
        other = client.get(url, headers=world.headers("committee_admin"))
        outside = client.get(url, headers={"Authorization": f"Bearer {world.tokens['whole_tree']}"})
    assert [p["id"] for p in listed] == [plan["id"]]
    assert other.status_code == 200 and outside.status_code == 200
    assert date.fromisoformat(plan["starts_on"]) <= (datetime.now(UTC) + timedelta(days=1)).date()
