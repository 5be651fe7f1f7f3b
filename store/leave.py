"""Leave (请假): a member asks to be excused from a coming meeting, a secretary approves or
refuses; or a secretary records a member's leave directly, before or during the meeting.

One row per member and meeting, updated as it moves between ``requested``, ``approved``,
``refused`` and ``withdrawn`` (the audit log keeps each step). Approved leave turns an absence
or an early departure into ``excused`` (:func:`geo.meetings.roll_call.as_of`). Once a meeting's
attendance is recorded, leave no longer changes: a correction (补签) does.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.errors import ConflictError, InvalidValueError, NotFoundError
from store.meetings import meeting_row
from store.members import get_member
from store.models import LeaveRow, LeaveStatus, MeetingRow, MeetingStatus, Organisation
from store.orgs import org_scope
from store.query import matching, page
from store.types import utcnow


@dataclass(frozen=True, slots=True)
class Leave:
    id: int
    meeting_id: int
    member_id: int
    status: LeaveStatus
    reason: str
    requested_at: datetime
    requested_by: str
    decided_at: datetime | None
    decided_by: str | None
    note: str | None


def record_leave(
    session: Session,
    *,
    meeting_id: int,
    member_id: int,
    reason: str,
    actor: str,
    actor_user_id: int | None = None,
    approved: bool,
    now: datetime | None = None,
) -> Leave:
    """A member's request (``approved=False``: only before the meeting starts), or leave a
    secretary records as approved (before the meeting ends)."""
    stamp = now or utcnow()
    meeting = _open_meeting(session, meeting_id, stamp)
    if not approved and stamp >= meeting.start_at:
        raise ConflictError(
            f"meeting {meeting_id} has started: leave can now only be recorded by a secretary"
        )
    _check_on_roll(session, meeting, member_id)
    row = _find(session, meeting_id, member_id)
    if row is not None and row.status is LeaveStatus.APPROVED and not approved:
        raise ConflictError(f"member {member_id}'s leave from meeting {meeting_id} is approved")
    if row is None:
        row = LeaveRow(meeting_id=meeting_id, member_id=member_id)
        session.add(row)
    row.reason = reason
    row.requested_at, row.requested_by, row.requested_by_user_id = stamp, actor, actor_user_id
    row.status = LeaveStatus.APPROVED if approved else LeaveStatus.REQUESTED
    row.decided_at = stamp if approved else None
    row.decided_by = actor if approved else None
    row.decided_by_user_id = actor_user_id if approved else None
    row.note = None
    session.flush()
    return leave_value(row)


def decide_leave(
    session: Session,
    *,
    meeting_id: int,
    member_id: int,
    approve: bool,
    actor: str,
    actor_user_id: int | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> Leave:
    """A secretary approves or refuses a requested leave (until attendance is recorded)."""
    stamp = now or utcnow()
    _open_meeting(session, meeting_id, stamp, until_recorded=True)
    row = _find(session, meeting_id, member_id)
    if row is None:
        raise NotFoundError("leave request", f"meeting {meeting_id}, member {member_id}")
    if row.status is not LeaveStatus.REQUESTED:
        raise ConflictError(
            f"member {member_id}'s leave from meeting {meeting_id} is {row.status.value}, "
            "not awaiting a decision"
        )
    row.status = LeaveStatus.APPROVED if approve else LeaveStatus.REFUSED
    row.decided_at, row.decided_by, row.decided_by_user_id = stamp, actor, actor_user_id
    row.note = note
    session.flush()
    return leave_value(row)


def withdraw_leave(
    session: Session,
    *,
    meeting_id: int,
    member_id: int,
    actor: str,
    actor_user_id: int | None = None,
    by_member: bool,
    now: datetime | None = None,
) -> Leave:
    """Withdraw a leave: the member themself before the meeting starts, a secretary until
    attendance is recorded."""
    stamp = now or utcnow()
    meeting = _open_meeting(session, meeting_id, stamp, until_recorded=True)
    if by_member and stamp >= meeting.start_at:
        raise ConflictError(f"meeting {meeting_id} has started: ask a secretary")
    row = _find(session, meeting_id, member_id)
    if row is None or row.status is LeaveStatus.WITHDRAWN:
        raise NotFoundError("leave", f"meeting {meeting_id}, member {member_id}")
    row.status = LeaveStatus.WITHDRAWN
    row.decided_at, row.decided_by, row.decided_by_user_id = stamp, actor, actor_user_id
    session.flush()
    return leave_value(row)


def get_leave(session: Session, *, meeting_id: int, member_id: int) -> Leave:
    row = _find(session, meeting_id, member_id)
    if row is None:
        raise NotFoundError("leave", f"meeting {meeting_id}, member {member_id}")
    return leave_value(row)


def list_leave(
    session: Session,
    *,
    within_org_id: int | None = None,
    meeting_id: int | None = None,
    member_id: int | None = None,
    statuses: Collection[LeaveStatus] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = 100,
    offset: int = 0,
) -> list[Leave]:
    """Leave of meetings within ``within_org_id``'s subtree starting in [start, end),
    newest request first."""
    stmt = (
        select(LeaveRow)
        .join(MeetingRow, MeetingRow.id == LeaveRow.meeting_id)
        .where(*matching((LeaveRow.meeting_id, meeting_id), (LeaveRow.member_id, member_id)))
        .order_by(LeaveRow.requested_at.desc(), LeaveRow.id.desc())
    )
    if statuses is not None:
        stmt = stmt.where(LeaveRow.status.in_(list(statuses)))
    if start is not None:
        stmt = stmt.where(MeetingRow.start_at >= start)
    if end is not None:
        stmt = stmt.where(MeetingRow.start_at < end)
    if within_org_id is not None:
        stmt = stmt.where(org_scope(session, MeetingRow.org_id, within_org_id=within_org_id))
    return [leave_value(r) for r in session.scalars(page(stmt, limit=limit, offset=offset))]


def meeting_leave(session: Session, *, meeting_id: int) -> dict[int, Leave]:
    """Every live leave of a meeting (withdrawn ones left out) by member."""
    rows = session.scalars(
        select(LeaveRow).where(
            LeaveRow.meeting_id == meeting_id, LeaveRow.status != LeaveStatus.WITHDRAWN
        )
    )
    return {r.member_id: leave_value(r) for r in rows}


def _open_meeting(
    session: Session, meeting_id: int, now: datetime, *, until_recorded: bool = False
) -> MeetingRow:
    meeting = meeting_row(session, meeting_id)
    if meeting.status is MeetingStatus.CANCELLED:
        raise ConflictError(f"meeting {meeting_id} is cancelled")
    if meeting.recorded_at is not None:
        raise ConflictError(
            f"meeting {meeting_id}'s attendance is recorded: correct the member's status instead"
        )
    if not until_recorded and now >= meeting.end_at:
        raise ConflictError(f"meeting {meeting_id} has ended: correct the member's status instead")
    return meeting


def _check_on_roll(session: Session, meeting: MeetingRow, member_id: int) -> None:
    member = get_member(session, member_id=member_id)
    paths = dict(
        session.execute(
            select(Organisation.id, Organisation.path).where(
                Organisation.id.in_((member.org_id, meeting.org_id))
            )
        ).all()
    )
    if not member.active or not paths[member.org_id].startswith(paths[meeting.org_id]):
        raise InvalidValueError(f"member {member_id} is not on meeting {meeting.id}'s roll")


def _find(session: Session, meeting_id: int, member_id: int) -> LeaveRow | None:
    return session.scalars(
        select(LeaveRow).where(LeaveRow.meeting_id == meeting_id, LeaveRow.member_id == member_id)
    ).one_or_none()


def leave_value(row: LeaveRow) -> Leave:
    return Leave(
        id=row.id,
        meeting_id=row.meeting_id,
        member_id=row.member_id,
        status=row.status,
        reason=row.reason,
        requested_at=row.requested_at,
        requested_by=row.requested_by,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        note=row.note,
    )
