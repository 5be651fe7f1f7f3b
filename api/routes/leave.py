"""Leave (请假) and corrections (补签) of meeting attendance.

Leave: a member asks to be excused from a coming meeting of theirs (before it starts) and a
secretary approves or refuses; a secretary may also record a member's leave directly,
before or during the meeting, approved at once. Approved leave makes an absence (or an early
departure) ``excused``. Corrections: once a meeting has ended (one without a site: once it has
started) a secretary changes a member's status with a reason; the automatic decision stays
beside it, and the corrected status rests on ``manual`` evidence.

Every change is audited with its subject member; every read of members' leave or
corrections writes one audit entry per member before the answer leaves.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from sqlalchemy.orm import Session

from api.deps import (
    AdminUser,
    AppSettings,
    CurrentUser,
    DbSession,
    Pagination,
    Principal,
    audit_member_read,
)
from api.reports import correction_out, member_names
from api.routes import API_PREFIX
from api.routes.meetings import alert_rules
from api.schemas.common import MAX_ID, MeetingId, MemberFilter, MemberId, OrgFilter, Page
from api.schemas.meetings import CorrectionIn, CorrectionOut, DecisionIn, LeaveIn, LeaveOut
from api.scope import meeting_in_scope, member_in_scope, within
from geo.meetings.recurrence import local_iso
from store import leave
from store.attendance import correct_attendance, list_corrections
from store.audit import record_audit
from store.errors import NotFoundError
from store.meetings import MeetingInfo, get_meeting_info
from store.models import LeaveStatus, Role

router = APIRouter(prefix=API_PREFIX, tags=["meetings"])
MeetingFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this meeting.")]


@router.get("/leave", summary="Leave requests and records")
def list_leave(
    *,
    session: DbSession,
    user: CurrentUser,
    params: Pagination,
    org_id: OrgFilter = None,
    meeting_id: MeetingFilter = None,
    member_id: MemberFilter = None,
    status: Annotated[
        list[LeaveStatus] | None, Query(description="Only these (repeat the parameter).")
    ] = None,
) -> Page[LeaveOut]:
    """Newest first. A member sees their own; an admin the leave of meetings in their
    subtree (``status=requested``: what awaits a decision)."""
    if user.role is Role.MEMBER:
        if member_id not in (None, user.member_id) or org_id is not None:
            raise NotFoundError("member" if org_id is None else "organisation", member_id or org_id)
        scope, member_id = None, user.member_id if user.member_id is not None else 0
    else:
        scope = within(session, user, org_id)
        if member_id is not None:
            member_in_scope(session, user, member_id)
    if meeting_id is not None:
        meeting_in_scope(session, user, meeting_id)
    found = leave.list_leave(
        session,
        within_org_id=scope,
        meeting_id=meeting_id,
        member_id=member_id,
        statuses=status,
        limit=params.limit + 1,
        offset=params.offset,
    )
    page = found[: params.limit]
    out = _describe(session, page)
    audit_member_read(session, user, [x.member_id for x in page], "read_leave")
    session.commit()
    return Page[LeaveOut](
        items=out,
        limit=params.limit,
        offset=params.offset,
        next_offset=params.offset + params.limit if len(found) > params.limit else None,
    )


@router.post(
    "/meetings/{meeting_id}/leave",
    status_code=status.HTTP_201_CREATED,
    summary="Ask for leave, or record a member's leave",
)
def request_leave(
    meeting_id: MeetingId, body: LeaveIn, session: DbSession, user: CurrentUser
) -> LeaveOut:
    """A member asks for their own leave from a meeting whose roll they are on, before it
    starts (``requested``: a secretary decides). An admin records a member's leave before or
    during the meeting (``approved``). Refused (409) once the meeting has ended (correct the
    member's status instead), or is cancelled."""
    meeting_in_scope(session, user, meeting_id)
    by_member = user.role is Role.MEMBER
    member_id = body.member_id if body.member_id is not None else user.member_id
    if member_id is None:
        raise NotFoundError("member", body.member_id)
    if by_member:
        if member_id != user.member_id:
            raise NotFoundError("member", member_id)
    else:
        meeting_in_scope(session, user, meeting_id, write=True)
        member_in_scope(session, user, member_id)
    found = leave.record_leave(
        session,
        meeting_id=meeting_id,
        member_id=member_id,
        reason=body.reason,
        actor=user.username,
        actor_user_id=user.user_id or None,
        approved=not by_member,
    )
    _audit(session, user, "request_leave" if by_member else "record_leave", found)
    session.commit()
    return _describe(session, [found])[0]


@router.post("/meetings/{meeting_id}/leave/{member_id}/decision", summary="Approve or refuse leave")
def decide_leave(
    meeting_id: MeetingId,
    member_id: MemberId,
    body: DecisionIn,
    session: DbSession,
    user: AdminUser,
) -> LeaveOut:
    """Only a request awaiting a decision (409 otherwise), until attendance is recorded."""
    meeting_in_scope(session, user, meeting_id, write=True)
    member_in_scope(session, user, member_id)
    found = leave.decide_leave(
        session,
        meeting_id=meeting_id,
        member_id=member_id,
        approve=body.approve,
        note=body.note,
        actor=user.username,
        actor_user_id=user.user_id or None,
    )
    _audit(session, user, "decide_leave", found, approved=body.approve)
    session.commit()
    return _describe(session, [found])[0]


@router.delete("/meetings/{meeting_id}/leave/{member_id}", summary="Withdraw leave")
def withdraw_leave(
    meeting_id: MeetingId, member_id: MemberId, session: DbSession, user: CurrentUser
) -> LeaveOut:
    """The member themself before the meeting starts; an admin until attendance is recorded.
    The record stays, ``withdrawn``."""
    meeting_in_scope(session, user, meeting_id)
    by_member = user.role is Role.MEMBER
    if by_member and member_id != user.member_id:
        raise NotFoundError("member", member_id)
    if not by_member:
        meeting_in_scope(session, user, meeting_id, write=True)
        member_in_scope(session, user, member_id)
    found = leave.withdraw_leave(
        session,
        meeting_id=meeting_id,
        member_id=member_id,
        actor=user.username,
        actor_user_id=user.user_id or None,
        by_member=by_member,
    )
    _audit(session, user, "withdraw_leave", found)
    session.commit()
    return _describe(session, [found])[0]


@router.post(
    "/meetings/{meeting_id}/corrections",
    status_code=status.HTTP_201_CREATED,
    summary="Correct a member's attendance (补签)",
)
def create_correction(
    meeting_id: MeetingId,
    body: CorrectionIn,
    session: DbSession,
    user: AdminUser,
    settings: AppSettings,
) -> CorrectionOut:
    """After the meeting has ended (a meeting without a site: once it started), with a
    reason. Kept beside the automatic decision, never replacing it; audited (who, when, why,
    old → new). Refused (409) before then, for a cancelled meeting, or when the member
    already has that status."""
    meeting_in_scope(session, user, meeting_id, write=True)
    member_in_scope(session, user, body.member_id)
    made = correct_attendance(
        session,
        meeting_id=meeting_id,
        member_id=body.member_id,
        status=body.status,
        reason=body.reason,
        actor=user.username,
        actor_user_id=user.user_id or None,
        rules=alert_rules(settings),
    )
    record_audit(
        session,
        actor=user.username,
        actor_user_id=user.user_id or None,
        action="correct_attendance",
        subject_member_id=body.member_id,
        detail={
            "meeting_id": meeting_id,
            "old": made.old_status.value,
            "new": made.new_status.value,
            "reason": body.reason,
        },
    )
    session.commit()
    return correction_out(made)


@router.get("/meetings/{meeting_id}/corrections", summary="A meeting's corrections")
def read_corrections(
    meeting_id: MeetingId,
    session: DbSession,
    user: CurrentUser,
    params: Pagination,
    member_id: MemberFilter = None,
) -> Page[CorrectionOut]:
    """Every correction, oldest first (a member: their own)."""
    meeting_in_scope(session, user, meeting_id)
    if user.role is Role.MEMBER:
        if member_id not in (None, user.member_id):
            raise NotFoundError("member", member_id)
        member_id = user.member_id if user.member_id is not None else 0
    found = list_corrections(
        session,
        meeting_id=meeting_id,
        member_id=member_id,
        limit=params.limit + 1,
        offset=params.offset,
    )
    page = found[: params.limit]
    audit_member_read(
        session,
        user,
        [c.member_id for c in page],
        "read_attendance",
        {"meeting_id": meeting_id, "what": "corrections"},
    )
    session.commit()
    return Page[CorrectionOut](
        items=[correction_out(c) for c in page],
        limit=params.limit,
        offset=params.offset,
        next_offset=params.offset + params.limit if len(found) > params.limit else None,
    )


def _describe(session: Session, found: list[leave.Leave]) -> list[LeaveOut]:
    people = member_names(session, {x.member_id for x in found})
    infos: dict[int, MeetingInfo] = {}
    for x in found:
        if x.meeting_id not in infos:
            infos[x.meeting_id] = get_meeting_info(session, meeting_id=x.meeting_id)
    return [
        LeaveOut(
            id=x.id,
            meeting_id=x.meeting_id,
            member_id=x.member_id,
            member_name=people.get(x.member_id, (None, ""))[1],
            status=x.status,
            reason=x.reason,
            requested_at=x.requested_at,
            requested_by=x.requested_by,
            decided_at=x.decided_at,
            decided_by=x.decided_by,
            note=x.note,
            meeting_kind=infos[x.meeting_id].meeting.kind,
            meeting_title=infos[x.meeting_id].meeting.title,
            meeting_start=infos[x.meeting_id].meeting.start,
            meeting_start_local=local_iso(
                infos[x.meeting_id].meeting.start, infos[x.meeting_id].tz
            ),
            meeting_tz=infos[x.meeting_id].tz,
        )
        for x in found
    ]


def _audit(
    session: Session, user: Principal, action: str, found: leave.Leave, **detail: Any
) -> None:
    record_audit(
        session,
        actor=user.username,
        actor_user_id=user.user_id or None,
        action=action,
        subject_member_id=found.member_id,
        detail={"meeting_id": found.meeting_id, "status": found.status.value, **detail},
    )
