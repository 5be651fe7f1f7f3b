"""Alerts and meeting changes on the live stream reach the callers whose subtree they concern,
and only them; an alert about a member also reaches that member."""

from __future__ import annotations

from datetime import UTC, datetime

from api.principal import Principal
from api.routes.stream import EventType, encode, visible
from store.alerts import RaisedAlert
from store.models import Role

BRANCH = Principal(1, "ba", Role.BRANCH_ADMIN, org_id=5, org_path="/1/5/", member_id=None)
OTHER = Principal(2, "ba2", Role.BRANCH_ADMIN, org_id=6, org_path="/1/6/", member_id=None)
WHOLE = Principal(3, "root", Role.COMMITTEE_ADMIN, org_id=None, org_path=None, member_id=None)
MEMBER = Principal(4, "mem", Role.MEMBER, org_id=5, org_path="/1/5/", member_id=7)


def test_alerts_follow_the_subtree() -> None:
    streak = RaisedAlert(
        id=9, kind="absent_streak", org_id=5, org_path="/1/5/", member_id=7, meeting_id=3,
        raised_at=datetime(2026, 12, 7, tzinfo=UTC), detail={"absent_run": 3},
    ).event()  # fmt: skip
    overdue = {**streak, "alert": "overdue", "member_id": None}
    recorded = {"type": "meeting", "state": "recorded", "meeting_id": 3, "org_id": 5,
                "org_path": "/1/5/"}  # fmt: skip
    assert {e.value for e in EventType} >= {"alert", "meeting"}
    assert [visible(p, streak) for p in (BRANCH, OTHER, WHOLE, MEMBER)] == [True, False, True, True]
    assert [visible(p, overdue) for p in (BRANCH, OTHER, WHOLE, MEMBER)] == [
        True, False, True, False
    ]  # fmt: skip
    assert [visible(p, recorded) for p in (BRANCH, OTHER, WHOLE, MEMBER)] == [
        True, False, True, False
    ]  # fmt: skip
    assert encode(streak).startswith('event: alert\ndata: {"type":"alert","alert":"absent_streak"')
