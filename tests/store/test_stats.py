"""Statistics for the committee's assessment: held against required per kind and period,
attendance in numbers, the branch ranking, the monthly trend, and the alerts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from shapely.geometry import Point
from sqlalchemy import update
from sqlalchemy.orm import Session

from geo.model import CheckIn, MeetingKind
from store import attendance, meetings, members, orgs, sites, visits
from store.models import Organisation, OrgKind
from store.stats import KindFigures, Requirement, statistics
from store.watch import absent_streaks, low_attendance, overdue
from tests.store.helpers import tree

NOW = datetime(2026, 7, 15, 4, 0, tzinfo=UTC)
TZ = "Asia/Shanghai"
COMMITTEE, LECTURE, GROUP = (
    MeetingKind.BRANCH_COMMITTEE_MEETING,
    MeetingKind.PARTY_LECTURE,
    MeetingKind.GROUP_MEETING,
)
RULES = (
    Requirement(COMMITTEE, "month", 1, frozenset({OrgKind.BRANCH})),
    Requirement(LECTURE, "quarter", 1, frozenset({OrgKind.BRANCH})),
    Requirement(GROUP, "month", 1, frozenset({OrgKind.PARTY_GROUP})),
)


def at(day: str, hour: int = 7) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00+00:00")


def test_held_against_required_attendance_ranking_and_trend(db: Session) -> None:
    t = tree(db)
    group = orgs.create_organisation(
        db, name="第一党小组", kind=OrgKind.PARTY_GROUP, parent_id=t.branch_a.id
    )
    db.execute(update(Organisation).values(created_at=datetime(2025, 1, 1, tzinfo=UTC)))
    site = sites.create_site(db, org_id=t.branch_a.id, name="室", geometry=Point(114.3, 30.5),
                             radius_m=30)  # fmt: skip
    a = members.create_member(db, org_id=t.branch_a.id, name="甲").id
    members.create_member(db, org_id=group.id, name="乙")  # on branch A's roll through its group
    c = members.create_member(db, org_id=t.branch_b.id, name="丙").id

    def held(org_id: int, kind: MeetingKind, day: str, *, record: bool = True) -> int:
        m = meetings.create_meeting(
            db, org_id=org_id, site_id=site.id, kind=kind, start=at(day),
            end=at(day) + timedelta(hours=1),
        ).id  # fmt: skip
        if record:
            attendance.record_meeting(db, meeting_id=m, now=at(day) + timedelta(hours=2))
        return m

    visits.record_checkin(db, checkin=CheckIn(a, site.id, at("2026-01-01", 0)))
    visits.record_checkin(db, checkin=CheckIn(c, site.id, at("2026-01-01", 0)))
    for day in ("2026-01-06", "2026-02-03", "2026-02-17", "2026-04-07"):
        held(t.branch_a.id, COMMITTEE, day)
    held(t.branch_a.id, LECTURE, "2026-03-20")
    held(t.branch_b.id, COMMITTEE, "2026-05-05")
    held(group.id, GROUP, "2026-06-09", record=False)  # ended, not yet recorded: held
    cancelled = held(t.branch_b.id, LECTURE, "2026-05-20", record=False)
    meetings.cancel_meeting(
        db, meeting_id=cancelled, reason="改期", actor="ba", now=at("2026-05-01")
    )
    held(t.branch_a.id, COMMITTEE, "2026-07-20", record=False)  # after NOW: not held yet

    report = statistics(
        db, root_id=t.committee.id, start=date(2026, 1, 1), end=date(2026, 7, 1), tz=TZ,
        now=NOW, requirements=RULES,
    )  # fmt: skip
    by_id = {f.org_id: f for f in report.orgs}
    a_fig, b_fig, g_fig = by_id[t.branch_a.id], by_id[t.branch_b.id], by_id[group.id]
    assert a_fig.by_kind[COMMITTEE] == KindFigures(held=4, required=6, met=3)  # Feb counts once
    assert a_fig.by_kind[LECTURE] == KindFigures(held=1, required=2, met=1)
    assert b_fig.by_kind[COMMITTEE] == KindFigures(held=1, required=6, met=1)
    assert b_fig.by_kind[LECTURE] == KindFigures(held=0, required=2, met=0)  # cancelled
    assert g_fig.by_kind == {GROUP: KindFigures(held=1, required=6, met=1)}
    assert GROUP not in by_id[t.general.id].by_kind and by_id[t.general.id].required == 0
    # Branch A's meetings have 甲 (present: in the room since 1 January) and 乙 (absent).
    assert (a_fig.held, a_fig.recorded) == (5, 5)
    att = a_fig.attendance
    assert (att.expected, att.present, att.absent, att.rate) == (10, 5, 5, 0.5)
    assert b_fig.attendance.rate == 1.0 and a_fig.compliance == round(4 / 8, 4)
    assert [f.org_id for f in report.branches] == [t.branch_b.id, t.branch_a.id]
    branch_a = next(f for f in report.branches if f.org_id == t.branch_a.id)
    assert branch_a.by_kind[GROUP] == KindFigures(held=1, required=6, met=1)  # its group's
    assert report.total.held == 7 and report.total.attendance.expected == 11
    assert [(m.month, m.held) for m in report.months] == [
        ("2026-01", 1), ("2026-02", 2), ("2026-03", 1), ("2026-04", 1), ("2026-05", 1),
        ("2026-06", 1),
    ]  # fmt: skip
    assert report.months[0].attendance.expected == 2
    outside = statistics(
        db, root_id=t.committee2.id, start=date(2026, 1, 1), end=date(2026, 7, 1), tz=TZ,
        now=NOW, requirements=RULES,
    )  # fmt: skip
    assert outside.total.held == 0 and {f.org_id for f in outside.orgs} == {
        t.committee2.id, t.branch_c.id
    }  # fmt: skip

    late = overdue(db, root_id=t.committee.id, requirements=RULES, tz=TZ, now=NOW)
    assert {(o.org_id, o.kind, o.period_start.isoformat()) for o in late} == {
        (t.branch_a.id, COMMITTEE, "2026-06-01"),
        (t.branch_b.id, COMMITTEE, "2026-06-01"),
        (t.branch_a.id, LECTURE, "2026-04-01"),
        (t.branch_b.id, LECTURE, "2026-04-01"),
    }  # the group met in June
    assert overdue(db, root_id=t.committee2.id, requirements=RULES[2:], tz=TZ, now=NOW) == []
    low = low_attendance(
        db, root_id=t.committee.id, below=0.6, start=at("2026-01-01"), end=at("2026-07-01")
    )
    assert len(low) == 5 and {x.org_id for x in low} == {t.branch_a.id}
    streaks = absent_streaks(db, root_id=t.committee.id, at_least=5)
    assert [(s.name, s.absent_run) for s in streaks] == [("乙", 5)]
    assert absent_streaks(db, root_id=t.committee2.id, at_least=1) == []
