"""The statistics read from the rollup (whole months that are over) are those counted from the
meetings themselves, after recording, leave, corrections, cancelling, moving, deleting and
plans — the rollup kept by every change, never rebuilt in between."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

from shapely.geometry import Point
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from geo.meetings.recurrence import Frequency, Rule
from geo.model import AttendanceOutcome, CheckIn, MeetingKind
from store import attendance, leave, meetings, members, orgs, plans, rollup, sites, visits
from store.models import MeetingRollupRow, Organisation, OrgKind
from store.stats import Requirement, StatsReport, covered_months, statistics
from tests.store.helpers import tree

TZ = "Asia/Shanghai"
KINDS = (
    MeetingKind.BRANCH_COMMITTEE_MEETING,
    MeetingKind.PARTY_LECTURE,
    MeetingKind.BRANCH_GENERAL_MEETING,
    MeetingKind.GROUP_MEETING,
)
ONCE = (
    Requirement(KINDS[0], "month", 1, frozenset({OrgKind.BRANCH})),
    Requirement(KINDS[1], "quarter", 1, frozenset({OrgKind.BRANCH})),
    Requirement(KINDS[3], "month", 1, frozenset({OrgKind.PARTY_GROUP})),
)
TWICE = (  # more than one a period: "met" sums min(held, count) per period
    Requirement(KINDS[0], "month", 2, frozenset({OrgKind.BRANCH})),
    Requirement(KINDS[2], "quarter", 3, frozenset({OrgKind.BRANCH})),
)


def figures(report: StatsReport) -> tuple[object, ...]:
    return (
        report.ids,
        report.own_figures.tolist(),
        report.subtree_figures.tolist(),
        report.branch_figures.tolist(),
        report.months,
    )


def rows(db: Session) -> list[tuple[object, ...]]:
    found = db.execute(select(MeetingRollupRow.__table__)).all()
    return sorted((r[0], r[1].value, *r[2:]) for r in found)


def test_rollup_statistics_equal_direct_counting(db: Session) -> None:
    rng = random.Random(15)
    t = tree(db)
    group = orgs.create_organisation(
        db, name="党小组", kind=OrgKind.PARTY_GROUP, parent_id=t.branch_a.id
    )
    db.execute(update(Organisation).values(created_at=datetime(2025, 1, 1, tzinfo=UTC)))
    assert rollup.rebuild(db, TZ) == 0  # built empty, then kept by every change below
    site = sites.create_site(db, org_id=t.branch_a.id, name="室", geometry=Point(114.3, 30.5),
                             radius_m=30)  # fmt: skip
    people = {
        o.id: [members.create_member(db, org_id=o.id, name=f"{o.name}{i}").id for i in range(3)]
        for o in (t.branch_a, t.branch_b, t.branch_c, group)
    }
    made: list[int] = []
    for n in range(70):
        org = rng.choice([t.branch_a, t.branch_b, t.branch_c, group])
        kind = KINDS[3] if org.id == group.id else rng.choice(KINDS[:3])
        # Some meetings start just before or after a local midnight that ends a month.
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(
            days=rng.randrange(0, 330), hours=rng.choice([1, 7, 15, 16, 17])
        )
        m = meetings.create_meeting(db, org_id=org.id, site_id=site.id, kind=kind, start=start,
                                    end=start + timedelta(hours=2),
                                    now=datetime(2025, 12, 1, tzinfo=UTC)).id  # fmt: skip
        roll = people[org.id]
        if n % 4 == 0 and n % 9 != 3:  # a meeting with leave is cancelled, never deleted
            leave.record_leave(db, meeting_id=m, member_id=roll[0], reason="出差", actor="sec",
                               approved=True, now=start - timedelta(days=1))  # fmt: skip
        if n % 3 == 0:
            visits.record_checkin(db, checkin=CheckIn(roll[1], site.id, start))
        made.append(m)
    for n, m in enumerate(made):
        info = meetings.get_meeting_info(db, meeting_id=m)
        start, end = info.meeting.start, info.meeting.end
        if n % 9 == 1:  # moved to another month before it happened
            meetings.update_meeting(db, meeting_id=m, start=start + timedelta(days=40),
                                    end=end + timedelta(days=40),
                                    now=start - timedelta(days=2))  # fmt: skip
            continue
        if n % 9 == 2:
            meetings.cancel_meeting(db, meeting_id=m, reason="改期", actor="sec",
                                    now=start - timedelta(days=1))  # fmt: skip
            continue
        if n % 9 == 3:
            meetings.delete_meeting(db, meeting_id=m, now=start - timedelta(days=1))
            continue
        if n % 9 == 4:
            continue  # ended, never recorded: held all the same
        attendance.record_meeting(db, meeting_id=m, now=end + timedelta(minutes=30))
        if n % 5 == 0:
            roll = people[info.meeting.org_id]
            attendance.correct_attendance(db, meeting_id=m, member_id=roll[2],
                                          status=AttendanceOutcome.PRESENT, reason="补签",
                                          actor="sec", now=end + timedelta(days=1))  # fmt: skip
    plan = plans.create_plan(db, org_id=t.branch_b.id, site_id=site.id, kind=KINDS[0],
                             rule=Rule(Frequency.MONTHLY, weekday=1, nth=1),
                             start_time=time(15, 0), duration=timedelta(hours=1),
                             starts_on=date(2026, 1, 1), tz=TZ,
                             now=datetime(2025, 12, 1, tzinfo=UTC))  # fmt: skip
    plans.schedule_ahead(db, now=datetime(2025, 12, 1, tzinfo=UTC), horizon_days=400,
                         plan_ids=[plan.id])  # fmt: skip
    db.flush()
    kept = rows(db)
    rollup.rebuild(db, TZ)
    rebuilt = rows(db)
    assert kept == rebuilt and len(kept) > 30

    now = datetime(2027, 1, 5, tzinfo=UTC)
    cases = [
        (date(2026, 1, 1), date(2027, 1, 1), now),  # the year, all of it over
        (date(2026, 2, 17), date(2026, 11, 9), now),  # mid-month ends: those counted directly
        (date(2026, 1, 1), date(2027, 1, 1), datetime(2026, 9, 1, 12, tzinfo=UTC)),  # this year
    ]
    for start, end, at in cases:
        assert covered_months(db, start=start, end=end, tz=TZ, now=at) is not None
        for rules in (ONCE, TWICE):
            for root in (None, t.committee.id, t.branch_a.id):
                args = dict(root_id=root, start=start, end=end, tz=TZ, now=at, requirements=rules)
                assert figures(statistics(db, **args, rollup=True)) == figures(  # type: ignore[arg-type]
                    statistics(db, **args, rollup=False)  # type: ignore[arg-type]
                ), (start, end, at, root)


def test_no_rollup_in_another_zone(db: Session) -> None:
    rollup.rebuild(db, "Africa/Nairobi")
    now = datetime(2027, 1, 5, tzinfo=UTC)
    assert covered_months(db, start=date(2026, 1, 1), end=date(2027, 1, 1), tz=TZ, now=now) is None
    assert covered_months(db, start=date(2026, 1, 1), end=date(2027, 1, 1), tz="Africa/Nairobi",
                          now=now) == (2026 * 12, 2027 * 12)  # fmt: skip
    # The month that ended less than a day ago may still have a meeting going on.
    late = datetime(2026, 12, 31, 23, tzinfo=UTC)
    assert covered_months(db, start=date(2026, 1, 1), end=date(2027, 1, 1), tz="Africa/Nairobi",
                          now=late) == (2026 * 12, 2026 * 12 + 11)  # fmt: skip


def test_ensure_builds_once_per_zone(db: Session) -> None:
    t = tree(db)
    start = datetime(2026, 3, 31, 17, tzinfo=UTC)  # 1 April, 01:00 in Shanghai
    meetings.create_meeting(db, org_id=t.branch_a.id, site_id=None, kind=KINDS[0], start=start,
                            end=start + timedelta(hours=1), tz=TZ,
                            now=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    assert rollup.ensure(db, TZ) == 1
    assert rollup.ensure(db, TZ) is None  # built already: left as it is
    assert [r[2] for r in rows(db)] == [2026 * 12 + 3]  # April, in Shanghai
    assert rollup.ensure(db, "UTC") == 1
    assert [r[2] for r in rows(db)] == [2026 * 12 + 2]  # March, in UTC
