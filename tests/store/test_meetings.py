"""Meetings (三会一课) and attendance: the roll the geo engine decides from, outcomes kept."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from shapely.geometry import Point
from sqlalchemy.orm import Session

from geo.model import AttendanceOutcome, CheckIn, Meeting, MeetingKind, VisitEnded
from store import attendance, meetings, members, orgs, sites, visits
from store.errors import ConflictError, InvalidValueError, NotFoundError
from store.models import OrgKind
from tests.store.helpers import T0, Tree, tree

START = T0 + timedelta(hours=2)
END = START + timedelta(hours=1)


def setup(db: Session) -> tuple[Tree, int, list[int]]:
    t = tree(db)
    site = sites.create_site(
        db, org_id=t.branch_a.id, name="活动室", geometry=Point(114.3, 30.5), radius_m=40.0
    )
    people = [members.create_member(db, org_id=t.branch_a.id, name=n).id for n in "甲乙丙"]
    return t, site.id, people


def branch_a_meeting(
    db: Session,
    t: Tree,
    site_id: int,
    kind: MeetingKind,
    *,
    start: datetime = START,
    end: datetime = END,
    title: str = "",
    late_grace: timedelta = timedelta(minutes=5),
) -> Meeting:
    return meetings.create_meeting(
        db,
        org_id=t.branch_a.id,
        site_id=site_id,
        kind=kind,
        start=start,
        end=end,
        title=title,
        late_grace=late_grace,
    )


def test_create_read_list_and_update(db: Session) -> None:
    t, site_id, _ = setup(db)
    meeting = branch_a_meeting(
        db,
        t,
        site_id,
        MeetingKind.BRANCH_GENERAL_MEETING,
        title="支部党员大会",
        late_grace=timedelta(minutes=10),
    )
    db.commit()
    again = meetings.get_meeting(db, meeting_id=meeting.id)
    assert again == meeting
    assert (again.early, again.late_grace, again.title) == (
        timedelta(minutes=30),
        timedelta(minutes=10),
        "支部党员大会",
    )
    lecture = branch_a_meeting(
        db,
        t,
        site_id,
        MeetingKind.PARTY_LECTURE,
        start=START + timedelta(days=7),
        end=END + timedelta(days=7),
    )
    assert [m.id for m in meetings.list_meetings(db, within_org_id=t.committee.id)] == [
        meeting.id,
        lecture.id,
    ]
    assert [m.id for m in meetings.list_meetings(db, kind=MeetingKind.PARTY_LECTURE)] == [
        lecture.id
    ]
    assert [m.id for m in meetings.list_meetings(db, start=START + timedelta(days=1))] == [
        lecture.id
    ]
    assert meetings.list_meetings(db, within_org_id=t.committee2.id) == []
    moved = meetings.update_meeting(
        db, meeting_id=lecture.id, start=START + timedelta(days=8), end=END + timedelta(days=8)
    )
    assert moved.start == START + timedelta(days=8)


def test_impossible_meetings_are_refused(db: Session) -> None:
    t, site_id, _ = setup(db)
    kind = MeetingKind.THEMED_PARTY_DAY
    with pytest.raises(InvalidValueError):
        meetings.create_meeting(
            db, org_id=t.branch_a.id, site_id=site_id, kind=kind, start=END, end=START
        )
    with pytest.raises(InvalidValueError):
        meetings.create_meeting(
            db,
            org_id=t.branch_a.id,
            site_id=site_id,
            kind=kind,
            start=START.replace(tzinfo=None),
            end=END.replace(tzinfo=None),
        )
    with pytest.raises(NotFoundError):
        meetings.create_meeting(
            db, org_id=t.branch_a.id, site_id=987654, kind=kind, start=START, end=END
        )


def test_the_roll_holds_members_and_their_overlapping_visits(db: Session) -> None:
    t, site_id, (a, b, c) = setup(db)
    outsider = members.create_member(db, org_id=t.branch_b.id, name="丁").id
    group = orgs.create_organisation(
        db, name="第一党小组", kind=OrgKind.PARTY_GROUP, parent_id=t.branch_a.id
    )
    grouped = members.create_member(db, org_id=group.id, name="戊").id
    meeting = branch_a_meeting(db, t, site_id, MeetingKind.GROUP_MEETING)
    visits.record_checkin(db, checkin=CheckIn(a, site_id, START - timedelta(minutes=20)))
    visits.record_visit_end(  # ended before start − early: not part of this meeting
        db, ended=VisitEnded(b, site_id, T0, START - timedelta(minutes=45), checked_in=True)
    )
    visits.record_checkin(db, checkin=CheckIn(outsider, site_id, START))
    roll = meetings.meeting_roll(db, meeting_id=meeting.id)
    assert roll.meeting == meeting
    assert roll.member_ids == (a, b, c, grouped)  # the branch's groups are on its roll
    assert [(v.member_id, v.start) for v in roll.visits] == [(a, START - timedelta(minutes=20))]


def test_attendance_is_recorded_counted_and_recorded_again(db: Session) -> None:
    t, site_id, (a, b, c) = setup(db)
    meeting = branch_a_meeting(db, t, site_id, MeetingKind.BRANCH_COMMITTEE_MEETING)
    visits.record_checkin(db, checkin=CheckIn(a, site_id, START - timedelta(minutes=5)))
    recorded = attendance.record_meeting(db, meeting_id=meeting.id, now=END)
    assert recorded is not None
    assert [(e.member_id, e.status) for e in recorded.entries] == [
        (a, AttendanceOutcome.PRESENT),
        (b, AttendanceOutcome.ABSENT),
        (c, AttendanceOutcome.ABSENT),
    ]
    # A late, store-and-forward check-in arrives; recording again re-decides the same roll.
    visits.record_checkin(db, checkin=CheckIn(b, site_id, START + timedelta(minutes=12)))
    members.create_member(db, org_id=t.branch_a.id, name="新来的")  # joined after the meeting
    again = attendance.record_meeting(db, meeting_id=meeting.id, now=END, again=True)
    db.commit()
    assert again is not None
    stored = meetings.list_attendance(db, meeting_id=meeting.id)
    assert [(x.member_id, x.outcome) for x in stored] == [
        (a, AttendanceOutcome.PRESENT),
        (b, AttendanceOutcome.LATE),
        (c, AttendanceOutcome.ABSENT),
    ]
    assert stored[1].first_checkin == START + timedelta(minutes=12)
    assert meetings.list_attendance(
        db, meeting_id=meeting.id, outcome=AttendanceOutcome.ABSENT
    ) == [stored[2]]
    counts = meetings.attendance_counts(db, within_org_id=t.committee.id)
    assert counts == (
        [
            meetings.AttendanceCount(t.branch_a.id, AttendanceOutcome.ABSENT, 1),
            meetings.AttendanceCount(t.branch_a.id, AttendanceOutcome.LATE, 1),
            meetings.AttendanceCount(t.branch_a.id, AttendanceOutcome.PRESENT, 1),
        ]
    )  # ordered by organisation, then status
    assert meetings.attendance_counts(db, start=END) == []
    summary = meetings.get_meeting_info(db, meeting_id=meeting.id).summary
    assert summary == meetings.Summary(
        expected=3, present=1, late=1, left_early=0, absent=1, excused=0
    )
    with pytest.raises(ConflictError):  # held: it stays, cancelled or not
        meetings.delete_meeting(db, meeting_id=meeting.id, now=START - timedelta(days=1))
