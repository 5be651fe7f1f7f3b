"""Meeting attendance: each outcome, the early window, and visits folded from events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geo.meetings.roll_call import attendance, visits_from_events
from geo.model import AttendanceOutcome, CheckIn, Meeting, MeetingKind, Visit, VisitEnded

START = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)  # 09:00 Asia/Shanghai
MEETING = Meeting(
    id=1,
    org_id=5,
    site_id=9,
    kind=MeetingKind.BRANCH_GENERAL_MEETING,
    start=START,
    end=START + timedelta(hours=2),
)


def minutes(m: float) -> datetime:
    return START + timedelta(minutes=m)


def visit(start: float, end: float | None, *, site: int = 9, checked_in: bool = True) -> Visit:
    return Visit(
        7,
        site,
        minutes(start),
        None if end is None else minutes(end),
        minutes(start) if checked_in else None,
    )


@pytest.mark.parametrize(
    ("visits", "outcome"),
    [
        ([], AttendanceOutcome.ABSENT),
        ([visit(-10, 125)], AttendanceOutcome.PRESENT),
        ([visit(-300, None)], AttendanceOutcome.PRESENT),  # began hours before, still going
        ([visit(5, 121)], AttendanceOutcome.PRESENT),  # at start + late_grace exactly
        ([visit(6, 121)], AttendanceOutcome.LATE),
        ([visit(-5, 100)], AttendanceOutcome.LEFT_EARLY),  # before end − 10 min
        ([visit(-5, 111)], AttendanceOutcome.PRESENT),
        ([visit(-5, 60), visit(70, 119)], AttendanceOutcome.PRESENT),  # stepped out and back
        ([visit(30, 90)], AttendanceOutcome.LEFT_EARLY),  # late and left early: left early
        ([visit(-40, -31)], AttendanceOutcome.ABSENT),  # ended before start − early
        ([visit(-40, -29)], AttendanceOutcome.LEFT_EARLY),  # overlaps the early window only
        ([visit(120, 200)], AttendanceOutcome.ABSENT),  # began at the end
        ([visit(-10, 125, site=8)], AttendanceOutcome.ABSENT),  # another site
        ([visit(-10, 125, checked_in=False)], AttendanceOutcome.ABSENT),  # walked past
    ],
)
def test_outcomes(visits: list[Visit], outcome: AttendanceOutcome) -> None:
    (result,) = attendance(MEETING, [7], visits)
    assert result.outcome is outcome


def test_first_checkin_and_last_leave_are_reported() -> None:
    (result,) = attendance(MEETING, [7], [visit(-5, 60), visit(70, 119)])
    assert (result.first_checkin, result.last_leave) == (minutes(-5), minutes(119))
    (ongoing,) = attendance(MEETING, [7], [visit(-5, 60), visit(70, None)])
    assert ongoing.last_leave is None


def test_every_member_of_the_organisation_gets_a_row() -> None:
    rows = attendance(MEETING, [7, 8, 9], [visit(-1, 130)])
    assert [(r.member_id, r.outcome) for r in rows] == [
        (7, AttendanceOutcome.PRESENT),
        (8, AttendanceOutcome.ABSENT),
        (9, AttendanceOutcome.ABSENT),
    ]


def test_visits_from_presence_events() -> None:
    events = [
        CheckIn(7, 9, minutes(-3)),
        VisitEnded(7, 9, minutes(-3), minutes(50), checked_in=True),
        VisitEnded(7, 9, minutes(55), minutes(56), checked_in=False),
        CheckIn(7, 9, minutes(58)),
    ]
    assert visits_from_events(events) == [
        Visit(7, 9, minutes(-3), minutes(50), minutes(-3)),
        Visit(7, 9, minutes(55), minutes(56), None),
        Visit(7, 9, minutes(58), None, minutes(58)),
    ]
    (result,) = attendance(MEETING, [7], visits_from_events(events))
    assert result.outcome is AttendanceOutcome.PRESENT
