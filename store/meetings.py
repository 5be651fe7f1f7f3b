"""Meetings (三会一课, 主题党日): scheduling, editing, cancelling, history, and their rolls.

A meeting's times are kept in UTC with the zone they were given in (its site's, or the
reporting zone when it has no site). Cancelling is a status (:class:`MeetingStatus`): the
meeting and its history stay. What a reader sees as a meeting's state follows from the
stored status, the time now and whether its attendance is recorded (:class:`MeetingState`).
The geo engine decides attendance from a meeting's roll (:func:`meeting_roll`); recording it
is :mod:`store.attendance`'s job.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, delete, exists, func, select
from sqlalchemy.orm import Session

from geo.meetings.recurrence import zone
from geo.model import Attendance, AttendanceOutcome, Meeting, MeetingKind, Visit
from store import rollup  # noqa: F401  (its listeners keep the rollup as meetings change)
from store.checkins import meeting_visits, site_policy
from store.errors import ConflictError, InvalidValueError, NotFoundError
from store.members import get_member, member_ids
from store.models import (
    AttendanceCorrectionRow,
    AttendanceRow,
    LeaveRow,
    MeetingRow,
    MeetingStatus,
)
from store.orgs import get_organisation, org_scope
from store.query import in_window, matching, page
from store.sites import get_site
from store.types import utcnow
from store.visits import visits_overlapping

EARLY = timedelta(minutes=30)
LATE_GRACE = timedelta(minutes=5)
LEFT_EARLY_MARGIN = timedelta(minutes=10)


class MeetingState(enum.Enum):
    """Where a meeting stands for its readers."""

    UPCOMING = "upcoming"  # 未开始
    IN_PROGRESS = "in_progress"  # 进行中
    ENDED = "ended"  # 已结束, attendance not yet recorded
    RECORDED = "recorded"  # 已记录
    CANCELLED = "cancelled"  # 已取消


class AttendanceCount(NamedTuple):
    org_id: int
    outcome: AttendanceOutcome
    total: int


@dataclass(frozen=True, slots=True)
class Summary:
    """A recorded meeting's attendance in numbers: 应到 (``expected``), each status, 实到.

    >>> s = Summary(expected=10, present=6, late=1, left_early=1, absent=1, excused=1)
    >>> s.attended, s.rate
    (8, 0.8)
    """

    expected: int
    present: int
    late: int
    left_early: int
    absent: int
    excused: int

    @property
    def attended(self) -> int:
        """实到: present, late or left early."""
        return self.present + self.late + self.left_early

    @property
    def rate(self) -> float | None:
        """出席率: 实到 / 应到 (None for an empty roll)."""
        return round(self.attended / self.expected, 4) if self.expected else None


@dataclass(frozen=True, slots=True)
class MeetingInfo:
    """A meeting with everything its readers are shown besides attendance."""

    meeting: Meeting
    tz: str
    topic: str
    status: MeetingStatus
    host_member_id: int | None
    recorder_member_id: int | None
    plan_id: int | None
    occurrence: date | None
    recorded_at: datetime | None
    cancelled_at: datetime | None
    cancelled_by: str | None
    cancel_reason: str | None
    summary: Summary | None
    created_at: datetime
    updated_at: datetime

    def state(self, now: datetime) -> MeetingState:
        if self.status is MeetingStatus.CANCELLED:
            return MeetingState.CANCELLED
        if self.recorded_at is not None:
            return MeetingState.RECORDED
        if now < self.meeting.start:
            return MeetingState.UPCOMING
        return MeetingState.IN_PROGRESS if now < self.meeting.end else MeetingState.ENDED


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
    site_id: int | None,
    kind: MeetingKind,
    start: datetime,
    end: datetime,
    title: str = "",
    topic: str = "",
    tz: str | None = None,
    host_member_id: int | None = None,
    recorder_member_id: int | None = None,
    early: timedelta = EARLY,
    late_grace: timedelta = LATE_GRACE,
    left_early_margin: timedelta = LEFT_EARLY_MARGIN,
    plan_id: int | None = None,
    occurrence: date | None = None,
    now: datetime | None = None,
) -> Meeting:
    """Schedule a meeting. ``tz`` defaults to the site's; a meeting without a site needs one."""
    get_organisation(session, org_id=org_id)
    if site_id is not None:
        site_tz = get_site(session, site_id=site_id).tz
        tz = tz or site_tz
    if tz is None:
        raise InvalidValueError("a meeting without a site needs a time zone")
    _check_tz(tz)
    _check_times(start, end)
    _check_members(session, host_member_id, recorder_member_id)
    stamp = now or utcnow()
    row = MeetingRow(
        org_id=org_id,
        site_id=site_id,
        kind=kind,
        title=title,
        topic=topic,
        tz=tz,
        start_at=start,
        end_at=end,
        early_s=early.total_seconds(),
        late_grace_s=late_grace.total_seconds(),
        left_early_margin_s=left_early_margin.total_seconds(),
        host_member_id=host_member_id,
        recorder_member_id=recorder_member_id,
        status=MeetingStatus.SCHEDULED,
        plan_id=plan_id,
        occurrence=occurrence,
        plan_detached=False,
        created_at=stamp,
        updated_at=stamp,
    )
    session.add(row)
    session.flush()
    return as_meeting(row)


def get_meeting(session: Session, *, meeting_id: int) -> Meeting:
    return as_meeting(_row(session, meeting_id))


def get_meeting_info(session: Session, *, meeting_id: int) -> MeetingInfo:
    return as_info(_row(session, meeting_id))


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
    """Meetings starting in [start, end), earliest first (cancelled ones too)."""
    found = find_meetings(
        session,
        within_org_id=within_org_id,
        org_ids=None if org_id is None else (org_id,),
        site_id=site_id,
        kind=kind,
        start=start,
        end=end,
        limit=limit,
        offset=offset,
    )
    return [info.meeting for info in found]


def find_meetings(
    session: Session,
    *,
    within_org_id: int | None = None,
    org_ids: Collection[int] | None = None,
    site_id: int | None = None,
    kind: MeetingKind | None = None,
    states: Collection[MeetingState] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    newest_first: bool = False,
    limit: int | None = 100,
    offset: int = 0,
) -> list[MeetingInfo]:
    """Meeting history: meetings starting in [start, end) within ``within_org_id``'s subtree
    (or of ``org_ids`` exactly), in the given states as of ``now``, by start time."""
    stmt = select(MeetingRow).where(
        *matching((MeetingRow.site_id, site_id), (MeetingRow.kind, kind)),
        *in_window(MeetingRow.start_at, start, end),
    )
    if org_ids is not None:
        stmt = stmt.where(MeetingRow.org_id.in_(list(org_ids)))
    if within_org_id is not None:
        stmt = stmt.where(org_scope(session, MeetingRow.org_id, within_org_id=within_org_id))
    if states is not None:
        stmt = stmt.where(in_states(states, now or utcnow()))
    order = (
        (MeetingRow.start_at.desc(), MeetingRow.id.desc())
        if newest_first
        else (MeetingRow.start_at, MeetingRow.id)
    )
    stmt = stmt.order_by(*order)
    return [as_info(r) for r in session.scalars(page(stmt, limit=limit, offset=offset))]


def in_states(states: Collection[MeetingState], now: datetime) -> ColumnElement[bool]:
    """A filter keeping meetings in any of ``states`` at ``now`` (see :meth:`MeetingInfo.state`)."""
    m = MeetingRow
    live = and_(m.status == MeetingStatus.SCHEDULED, m.recorded_at.is_(None))
    conditions = {
        MeetingState.CANCELLED: m.status == MeetingStatus.CANCELLED,
        MeetingState.RECORDED: and_(
            m.status == MeetingStatus.SCHEDULED, m.recorded_at.is_not(None)
        ),
        MeetingState.UPCOMING: and_(live, m.start_at > now),
        MeetingState.IN_PROGRESS: and_(live, m.start_at <= now, m.end_at > now),
        MeetingState.ENDED: and_(live, m.end_at <= now),
    }
    chosen = [conditions[s] for s in states]
    if not chosen:
        return m.id.is_(None)  # no state asked for: nothing
    result: ColumnElement[bool] = chosen[0]
    for condition in chosen[1:]:
        result = result | condition
    return result


CLEARABLE = frozenset({"site_id", "host_member_id", "recorder_member_id"})


def update_meeting(
    session: Session,
    *,
    meeting_id: int,
    site_id: int | None = None,
    kind: MeetingKind | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    title: str | None = None,
    topic: str | None = None,
    tz: str | None = None,
    host_member_id: int | None = None,
    recorder_member_id: int | None = None,
    clear: Collection[str] = (),
    now: datetime | None = None,
) -> Meeting:
    """Change the given fields (None leaves a field as it is; ``clear`` names fields of
    :data:`CLEARABLE` to empty: no site, no host, no recorder). A cancelled meeting cannot
    change, nor can the time or place of a recorded one. A meeting of a plan edited by hand
    is left alone when the plan changes."""
    if unknown := set(clear) - CLEARABLE:
        raise InvalidValueError(f"cannot clear {sorted(unknown)}")
    row = _row(session, meeting_id)
    if row.status is MeetingStatus.CANCELLED:
        raise ConflictError(f"meeting {meeting_id} is cancelled: schedule a new one instead")
    moves = site_id is not None or "site_id" in clear or start or end or tz is not None
    if row.recorded_at is not None and moves:
        raise ConflictError(
            f"meeting {meeting_id}'s attendance is recorded: its time and place stay as held"
        )
    if site_id is not None:
        site_tz = get_site(session, site_id=site_id).tz
        tz = tz or site_tz
        row.site_id = site_id
    elif "site_id" in clear:
        row.site_id = None
    if tz is not None:
        row.tz = _check_tz(tz)
    if kind is not None:
        row.kind = kind
    if title is not None:
        row.title = title
    if topic is not None:
        row.topic = topic
    _check_members(session, host_member_id, recorder_member_id)
    if host_member_id is not None or "host_member_id" in clear:
        row.host_member_id = host_member_id
    if recorder_member_id is not None or "recorder_member_id" in clear:
        row.recorder_member_id = recorder_member_id
    new_start = start or row.start_at
    new_end = end or row.end_at
    _check_times(new_start, new_end)
    row.start_at, row.end_at = new_start, new_end
    row.plan_detached = row.plan_id is not None
    row.updated_at = now or utcnow()
    session.flush()
    return as_meeting(row)


def cancel_meeting(
    session: Session,
    *,
    meeting_id: int,
    reason: str,
    actor: str,
    now: datetime | None = None,
) -> MeetingInfo:
    """Cancel a meeting (the row and its history stay); refused once it is recorded."""
    row = _row(session, meeting_id)
    if row.status is MeetingStatus.CANCELLED:
        raise ConflictError(f"meeting {meeting_id} is already cancelled")
    if row.recorded_at is not None:
        raise ConflictError(f"meeting {meeting_id} was held and its attendance recorded")
    stamp = now or utcnow()
    row.status = MeetingStatus.CANCELLED
    row.cancelled_at = stamp
    row.cancelled_by = actor
    row.cancel_reason = reason
    row.updated_at = stamp
    session.flush()
    return as_info(row)


def delete_meeting(session: Session, *, meeting_id: int, now: datetime | None = None) -> None:
    """Remove a meeting scheduled by mistake: only before it starts, and only while no leave,
    correction or attendance refers to it. Anything else is cancelled instead."""
    row = _row(session, meeting_id)
    if row.start_at <= (now or utcnow()):
        raise ConflictError(f"meeting {meeting_id} has started: cancel it instead (POST …/cancel)")
    for table in (AttendanceRow, LeaveRow, AttendanceCorrectionRow):
        if session.scalar(select(exists().where(table.meeting_id == meeting_id))):
            raise ConflictError(
                f"meeting {meeting_id} has leave or attendance: cancel it instead (POST …/cancel)"
            )
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
    return MeetingRoll(meeting, tuple(members), tuple(roll_visits(session, meeting, members)))


def roll_visits(session: Session, meeting: Meeting, members: Collection[int]) -> list[Visit]:
    """The members' visits to the meeting's site that may count (none without a site): those
    whose evidence the site's policy admits (a visit a phone's fixes made is no receiver's)."""
    if meeting.site_id is None:
        return []
    policy = site_policy(session, site_id=meeting.site_id)
    visits = visits_overlapping(
        session,
        site_id=meeting.site_id,
        member_ids=list(members),
        start=meeting.start - meeting.early,
        end=meeting.end,
    )
    admitted = [v for v in visits if policy.admits(v.evidence_kind)]
    return admitted + meeting_visits(
        session, meeting_id=meeting.id, site_id=meeting.site_id, member_ids=members
    )


def list_attendance(
    session: Session,
    *,
    meeting_id: int,
    outcome: AttendanceOutcome | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Attendance]:
    """A meeting's recorded attendance by member id: each member's status as it counts
    (corrections applied), with the automatic decision's times and evidence."""
    stmt = (
        select(AttendanceRow)
        .where(AttendanceRow.meeting_id == meeting_id)
        .order_by(AttendanceRow.member_id)
    )
    if outcome is not None:
        stmt = stmt.where(AttendanceRow.status == outcome)
    return [
        Attendance(
            meeting_id=r.meeting_id,
            member_id=r.member_id,
            outcome=r.status,
            first_checkin=r.first_checkin_at,
            last_leave=r.last_leave_at,
            evidence=r.evidence,
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
    """Recorded statuses counted per organisation over meetings starting in [start, end)
    (cancelled meetings have none)."""
    stmt = (
        select(MeetingRow.org_id, AttendanceRow.status, func.count())
        .join(MeetingRow, MeetingRow.id == AttendanceRow.meeting_id)
        .group_by(MeetingRow.org_id, AttendanceRow.status)
        .order_by(MeetingRow.org_id, AttendanceRow.status)
    )
    stmt = stmt.where(*in_window(MeetingRow.start_at, start, end))
    if within_org_id is not None:
        stmt = stmt.where(org_scope(session, MeetingRow.org_id, within_org_id=within_org_id))
    return [AttendanceCount(org, outcome, n) for org, outcome, n in session.execute(stmt)]


def clear_attendance(session: Session, *, meeting_id: int) -> None:
    """Forget a meeting's recorded attendance (its corrections stay)."""
    session.execute(delete(AttendanceRow).where(AttendanceRow.meeting_id == meeting_id))


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


def as_info(row: MeetingRow) -> MeetingInfo:
    summary = None
    if row.recorded_at is not None and row.expected_n is not None:
        summary = Summary(
            expected=row.expected_n,
            present=row.present_n or 0,
            late=row.late_n or 0,
            left_early=row.left_early_n or 0,
            absent=row.absent_n or 0,
            excused=row.excused_n or 0,
        )
    return MeetingInfo(
        meeting=as_meeting(row),
        tz=row.tz,
        topic=row.topic,
        status=row.status,
        host_member_id=row.host_member_id,
        recorder_member_id=row.recorder_member_id,
        plan_id=row.plan_id,
        occurrence=row.occurrence,
        recorded_at=row.recorded_at,
        cancelled_at=row.cancelled_at,
        cancelled_by=row.cancelled_by,
        cancel_reason=row.cancel_reason,
        summary=summary,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def meeting_row(session: Session, meeting_id: int) -> MeetingRow:
    """The row itself, for the other meeting modules of the store."""
    return _row(session, meeting_id)


def _row(session: Session, meeting_id: int) -> MeetingRow:
    row = session.get(MeetingRow, meeting_id)
    if row is None:
        raise NotFoundError("meeting", meeting_id)
    return row


def _check_tz(tz: str) -> str:
    try:
        zone(tz)
    except ValueError as exc:
        raise InvalidValueError(str(exc)) from exc
    return tz


def _check_members(session: Session, *member_ids: int | None) -> None:
    for member_id in member_ids:
        if member_id is not None:
            get_member(session, member_id=member_id)


def _check_times(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidValueError("meeting times must be timezone-aware")
    if end <= start:
        raise InvalidValueError(f"a meeting must end after it starts ({start} – {end})")
    if end - start > timedelta(days=1):
        raise InvalidValueError(f"a meeting lasts at most a day ({start} – {end})")
