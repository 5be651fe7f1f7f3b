"""``/api/v1/alarms``: alarms raised by devices — a JT/T 808 terminal's SOS button — newest
first, for the members a caller may see (the live stream carries them as ``alarm`` events)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import Field

from api.deps import CurrentUser, DbSession, Pagination
from api.routes import API_PREFIX
from api.schemas.common import MemberFilter, Out, Page, paged
from api.scope import member_in_scope
from store.alarms import list_alarms
from store.audit import record_audit_many
from store.models import Role

router = APIRouter(prefix=f"{API_PREFIX}/alarms", tags=["alarms"])


class AlarmOut(Out):
    id: int
    kind: str = Field(description="`sos`: the terminal's emergency button.", examples=["sos"])
    device_id: int
    member_id: int | None
    org_id: int | None
    fix_time: datetime = Field(description="The time of the location that carried the alarm.")
    lat: float | None
    lon: float | None
    raised_at: datetime


@router.get("", summary="List device alarms (SOS)")
def read_alarms(
    session: DbSession, user: CurrentUser, params: Pagination, member_id: MemberFilter = None
) -> Page[AlarmOut]:
    """Alarms of the members in the caller's scope (a member: their own), newest first.
    Alarms of devices nobody carries reach whole-tree admins only. Each read of a page that
    names members is audited, as positions are."""
    if user.role is Role.MEMBER:
        member_id = member_id or user.member_id or 0
    if member_id is not None:
        member_in_scope(session, user, member_id)
    rows = list_alarms(
        session,
        within_org_id=None if member_id is not None else user.scope_org_id,
        member_id=member_id,
        limit=params.limit + 1,
        offset=params.offset,
    )
    if user.scope_org_id is not None and member_id is None:
        rows = [r for r in rows if r.org_id is not None]
    page = paged(AlarmOut, rows, params)
    seen = sorted({a.member_id for a in page.items if a.member_id is not None})
    if seen:
        record_audit_many(
            session,
            actor=user.username,
            actor_user_id=user.user_id,
            action="read_alarms",
            subject_member_ids=seen,
        )
        session.commit()
    return page
