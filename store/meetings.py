"""Meetings (三会一课, 主题党日) and their attendance, as :mod:`geo.model` values.

The geo engine decides attendance from a meeting's roll (:func:`meeting_roll`: the meeting,
its organisation's members, their visits to the site) and the outcome is stored here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from geo.model import Attendance, AttendanceOutcome, Meeting, MeetingKind, Visit
from store.errors import InvalidValueError, NotFoundError
from store.members import member_ids
from store.models import AttendanceRow, MeetingRow
from store.orgs import get_organisation, org_scope
from store.query import in_window, matching, page
from store.sites import get_site
from store.types import utcnow
from store.visits import visits_overlapping


class AttendanceCount(NamedTuple):
    org_id: int
    outcome: AttendanceOutcome
    total: int


@dataclass(frozen=True, slots=True)
class MeetingRoll:
    """Everything attendance is decided from."""

    meeting: Meeting
    member_ids: tuple[int, ...]
    visits: tuple[Visit, ...]


def create_meeting(
    session: Session,
    *,
    org_id: int,
    site_id: int,
    kind: MeetingKind,
    start: datetime,
    end: datetime,
    title: str = "",
    early: timedelta = timedelta(minutes=30),
    late_grace: timedelta = timedelta(minutes=5),
    left_early_margin: timedelta = timedelta(minutes=10),
) -> Meeting:
    get_organisation(session, org_id=org_id)
    get_site(session, site_id=site_id)
    _check_times(start, end)
    row = MeetingRow(
        org_id=org_id,
        site_id=site_id,
        kind=kind,
        title=title,
        start_at=start,
        end_at=end,
        early_s=early.total_seconds(),
        late_grace_s=late_grace.total_seconds(),
        left_early_margin_s=left_early_margin.total_seconds(),
    )
    session.add(row)
    session.flush()
    return as_meeting(row)


def get_meeting(session: Session, *, meeting_id: int) -> Meeting:
    return as_meeting(_row(session, meeting_id))


def list_meetings(
    session: Session,
    *,
    within_org_id: int | None = None,
    org_id: int | None = None,
    site_id: int | None = None,
    kind: MeetingKind | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = 100,
    offset: int = 0,
) -> list[Meeting]:
    """Meetings starting in [start, end), earliest first."""
    stmt = (
        select(MeetingRow)
        .where(
            *matching(
                (MeetingRow.org_id, org_id), (MeetingRow.site_id, site_id), (MeetingRow.kind, kind)
            ),
            *in_window(MeetingRow.start_at, start, end),
        )
        .order_by(MeetingRow.start_at, MeetingRow.id)
    )
    if within_org_id is not None:
        stmt = stmt.where(org_scope(session, MeetingRow.org_id, within_org_id=within_org_id))
    return [as_meeting(r) for r in session.scalars(page(stmt, limit=limit, offset=offset))]


def update_meeting(
    session: Session,
    *,
    meeting_id: int,
    site_id: int | None = None,
    kind: MeetingKind | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    title: str | None = None,
) -> Meeting:
    """Change the given fields (None leaves a field as it is)."""
    row = _row(session, meeting_id)
    if site_id is not None:
        get_site(session, site_id=site_id)
        row.site_id = site_id
    if kind is not None:
        row.kind = kind
    if title is not None:
        row.title = title
    new_start = start or row.start_at
    new_end = end or row.end_at
    _check_times(new_start, new_end)
    row.start_at, row.end_at = new_start, new_end
    session.flush()
    return as_meeting(row)


def delete_meeting(session: Session, *, meeting_id: int) -> None:
    """Delete a meeting and its attendance."""
    row = _row(session, meeting_id)
    session.execute(delete(AttendanceRow).where(AttendanceRow.meeting_id == meeting_id))
    session.delete(row)
    session.flush()


def meeting_roll(session: Session, *, meeting_id: int) -> MeetingRoll:
    """The meeting, the active members of its organisation's subtree and their visits to the
    site that overlap [start − early, end).

    The subtree, because members assigned to a branch's party groups are still members of the
    branch: a branch general meeting (支部党员大会) expects them too.
    """
    meeting = get_meeting(session, meeting_id=meeting_id)
    members = member_ids(session, org_id=meeting.org_id, include_subtree=True)
    visits = visits_overlapping(
        session,
        site_id=meeting.site_id,
        member_ids=members,
        start=meeting.start - meeting.early,
        end=meeting.end,
    )
    return MeetingRoll(meeting=meeting, member_ids=tuple(members), visits=tuple(visits))


def record_attendance(
    session: Session, *, attendance: Iterable[Attendance], now: datetime | None = None
) -> int:
    """Store attendance outcomes, replacing earlier ones for the same meeting and member."""
    rows = [
        AttendanceRow(
            meeting_id=a.meeting_id,
            member_id=a.member_id,
            outcome=a.outcome,
            first_checkin_at=a.first_checkin,
            last_leave_at=a.last_leave,
            computed_at=now or utcnow(),
        )
        for a in attendance
    ]
    by_meeting: dict[int, list[int]] = {}
    for row in rows:
        by_meeting.setdefault(row.meeting_id, []).append(row.member_id)
    for meeting_id, members in by_meeting.items():
        session.execute(
            delete(AttendanceRow).where(
                AttendanceRow.meeting_id == meeting_id, AttendanceRow.member_id.in_(members)
            )
        )
    session.add_all(rows)
    session.flush()
    return len(rows)


def list_attendance(
    session: Session,
    *,
    meeting_id: int,
    outcome: AttendanceOutcome | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Attendance]:
    """A meeting's attendance by member id."""
    stmt = (
        select(AttendanceRow)
        .where(AttendanceRow.meeting_id == meeting_id)
        .order_by(AttendanceRow.member_id)
    )
    if outcome is not None:
        stmt = stmt.where(AttendanceRow.outcome == outcome)
    return [
        Attendance(
            meeting_id=r.meeting_id,
            member_id=r.member_id,
            outcome=r.outcome,
            first_checkin=r.first_checkin_at,
            last_leave=r.last_leave_at,
        )
        for r in session.scalars(page(stmt, limit=limit, offset=offset))
    ]


def attendance_counts(
    session: Session,
    *,
    within_org_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[AttendanceCount]:
    """Outcomes counted per organisation over meetings starting in [start, end)."""
    stmt = (
        select(MeetingRow.org_id, AttendanceRow.outcome, func.count())
        .join(MeetingRow, MeetingRow.id == AttendanceRow.meeting_id)
        .group_by(MeetingRow.org_id, AttendanceRow.outcome)
        .order_by(MeetingRow.org_id, AttendanceRow.outcome)
    )
    stmt = stmt.where(*in_window(MeetingRow.start_at, start, end))
    if within_org_id is not None:
        stmt = stmt.where(org_scope(session, MeetingRow.org_id, within_org_id=within_org_id))
    return [AttendanceCount(org, outcome, n) for org, outcome, n in session.execute(stmt)]


def as_meeting(row: MeetingRow) -> Meeting:
    return Meeting(
        id=row.id,
        org_id=row.org_id,
        site_id=row.site_id,
        kind=row.kind,
        start=row.start_at,
        end=row.end_at,
        title=row.title,
        early=timedelta(seconds=row.early_s),
        late_grace=timedelta(seconds=row.late_grace_s),
        left_early_margin=timedelta(seconds=row.left_early_margin_s),
    )


def _row(session: Session, meeting_id: int) -> MeetingRow:
    row = session.get(MeetingRow, meeting_id)
    if row is None:
        raise NotFoundError("meeting", meeting_id)
    return row


def _check_times(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidValueError("meeting times must be timezone-aware")
    if end <= start:
        raise InvalidValueError(f"a meeting must end after it starts ({start} – {end})")
