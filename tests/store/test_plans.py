"""Recurring meeting plans schedule their meetings ahead, once each, and a changed plan
replaces only the meetings nobody has touched."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.errors import ScheduleError
from geo.meetings.recurrence import Frequency, Rule
from geo.model import MeetingKind
from store import leave, meetings, members, plans, sites
from store.errors import InvalidValueError
from store.models import MeetingRow
from tests.store.helpers import tree

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Beijing
FIRST_TUESDAY = Rule(Frequency.MONTHLY, weekday=1, nth=1)


def setup(db: Session) -> tuple[int, int, int]:
    t = tree(db)
    site = sites.create_site(
        db, org_id=t.branch_a.id, name="党员活动室", geometry=Point(114.3, 30.5), radius_m=30
    )
    member = members.create_member(db, org_id=t.branch_a.id, name="组织委员").id
    return t.branch_a.id, site.id, member


def committee_plan(db: Session, org_id: int, site_id: int, **kw: object) -> plans.Plan:
    args: dict[str, object] = {
        "org_id": org_id,
        "site_id": site_id,
        "kind": MeetingKind.BRANCH_COMMITTEE_MEETING,
        "rule": FIRST_TUESDAY,
        "start_time": time(15, 0),
        "duration": timedelta(minutes=90),
        "starts_on": date(2026, 12, 1),
        "title": "支委会",
        "now": NOW,
        **kw,
    }
    return plans.create_plan(db, **args)  # type: ignore[arg-type]


def starts(db: Session, plan_id: int) -> list[str]:
    rows = db.scalars(
        select(MeetingRow).where(MeetingRow.plan_id == plan_id).order_by(MeetingRow.start_at)
    )
    return [r.start_at.isoformat() for r in rows]


def test_a_monthly_plan_schedules_the_first_tuesdays_ahead_once(db: Session) -> None:
    org_id, site_id, host = setup(db)
    plan = committee_plan(db, org_id, site_id, host_member_id=host)
    made = plans.schedule_ahead(db, now=NOW, horizon_days=92)
    # 1 December is past; 5 January, 2 February and 2 March fall within 92 days.
    assert made == 3
    assert starts(db, plan.id) == [
        "2027-01-05T07:00:00+00:00",
        "2027-02-02T07:00:00+00:00",
        "2027-03-02T07:00:00+00:00",
    ]
    assert plans.schedule_ahead(db, now=NOW, horizon_days=92) == 0
    later = NOW + timedelta(days=40)
    assert plans.schedule_ahead(db, now=later, horizon_days=92) == 1  # April's
    meeting = meetings.find_meetings(db, org_ids=[org_id], limit=1)[0]
    assert (meeting.meeting.kind, meeting.meeting.title, meeting.host_member_id) == (
        MeetingKind.BRANCH_COMMITTEE_MEETING,
        "支委会",
        host,
    )
    assert meeting.meeting.end - meeting.meeting.start == timedelta(minutes=90)
    assert (meeting.plan_id, meeting.occurrence) == (plan.id, date(2027, 1, 5))


def test_two_schedulers_never_make_a_meeting_twice(db: Session) -> None:
    org_id, site_id, _ = setup(db)
    plan = committee_plan(db, org_id, site_id)
    plans.schedule_ahead(db, now=NOW, horizon_days=40)
    # A second process that read the plan before the first one advanced it.
    row = db.get(plans.MeetingPlanRow, plan.id)
    assert row is not None
    row.generated_through = None
    db.flush()
    assert plans.schedule_ahead(db, now=NOW, horizon_days=92) == 2  # only the new ones
    assert len(starts(db, plan.id)) == 3


def test_changing_a_plan_replaces_only_untouched_meetings(db: Session) -> None:
    org_id, site_id, member = setup(db)
    plan = committee_plan(db, org_id, site_id)
    plans.schedule_ahead(db, now=NOW, horizon_days=92)
    jan, feb, _mar = (i.meeting.id for i in meetings.find_meetings(db, org_ids=[org_id]))
    meetings.update_meeting(db, meeting_id=jan, title="一月支委会（改到会议室二）", now=NOW)
    leave.record_leave(
        db, meeting_id=feb, member_id=member, reason="出差", actor="ba", approved=True, now=NOW
    )
    plans.update_plan(
        db, plan_id=plan.id, rule=Rule(Frequency.MONTHLY, weekday=3, nth=-1), now=NOW
    )  # the last Thursday instead
    plans.schedule_ahead(db, now=NOW, horizon_days=92)
    kept = {i.meeting.id for i in meetings.find_meetings(db, org_ids=[org_id])}
    assert {jan, feb} <= kept  # and March's first Tuesday is gone:
    assert starts(db, plan.id) == [
        "2026-12-31T07:00:00+00:00",
        "2027-01-05T07:00:00+00:00",  # edited by hand: stays
        "2027-01-28T07:00:00+00:00",
        "2027-02-02T07:00:00+00:00",  # has leave: stays
        "2027-02-25T07:00:00+00:00",
    ]
    stopped = plans.stop_plan(db, plan_id=plan.id, now=NOW)
    assert not stopped.active
    assert starts(db, plan.id) == ["2027-01-05T07:00:00+00:00", "2027-02-02T07:00:00+00:00"]
    assert plans.schedule_ahead(db, now=NOW + timedelta(days=60), horizon_days=92) == 0
    with pytest.raises(InvalidValueError, match="stopped"):
        plans.update_plan(db, plan_id=plan.id, title="x")


def test_quarterly_and_weekly_plans_and_their_limits(db: Session) -> None:
    org_id, site_id, _ = setup(db)
    quarterly = committee_plan(
        db,
        org_id,
        site_id,
        kind=MeetingKind.PARTY_LECTURE,
        rule=Rule(Frequency.QUARTERLY, day_of_month=15, month_of_quarter=2),
        starts_on=date(2026, 12, 7),
    )
    weekly = committee_plan(
        db,
        org_id,
        None,
        tz="Africa/Nairobi",
        kind=MeetingKind.GROUP_MEETING,
        rule=Rule(Frequency.WEEKLY, weekday=4),
        until=date(2026, 12, 25),
    )
    plans.schedule_ahead(db, now=NOW, horizon_days=365)
    assert starts(db, quarterly.id) == [
        "2027-02-15T07:00:00+00:00",
        "2027-05-15T07:00:00+00:00",
        "2027-08-15T07:00:00+00:00",
        "2027-11-15T07:00:00+00:00",
    ]
    assert starts(db, weekly.id) == [  # Fridays 15:00 in Nairobi, until 25 December
        "2026-12-11T12:00:00+00:00",
        "2026-12-18T12:00:00+00:00",
        "2026-12-25T12:00:00+00:00",
    ]
    with pytest.raises(ScheduleError, match="weekday with nth"):
        committee_plan(db, org_id, site_id, rule=Rule(Frequency.MONTHLY, weekday=1))
    with pytest.raises(InvalidValueError, match="before it starts"):
        committee_plan(db, org_id, site_id, until=date(2026, 11, 1))
    with pytest.raises(InvalidValueError, match="needs a time zone"):
        committee_plan(db, org_id, None)
