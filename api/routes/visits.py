"""``/api/v1/visits`` and ``/api/v1/checkins``: who was at which site, with the evidence.

A visit says where a member was, so these reads are audited like positions
(``read_visits`` / ``read_checkins``, one entry per member in the answer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from api.deps import CurrentUser, DbSession, PageParams, Pagination, Principal, audit_member_read
from api.routes import API_PREFIX
from api.schemas.common import MemberFilter, OrgFilter, Page, SiteFilter, paged
from api.schemas.visits import PresenceOut, VisitOut
from api.scope import member_in_scope, site_in_scope, within
from store.models import Role, VisitRow
from store.presence import list_presence
from store.visits import list_checkins, list_visits

router = APIRouter(prefix=API_PREFIX, tags=["visits"])

Start = Annotated[AwareDatetime | None, Query(description="Overlapping or after this time.")]
End = Annotated[AwareDatetime | None, Query(description="Before this time.")]


@router.get("/visits", summary="Visits (audited)")
def read_visits(
    *,
    session: DbSession,
    user: CurrentUser,
    params: Pagination,
    org_id: OrgFilter = None,
    member_id: MemberFilter = None,
    site_id: SiteFilter = None,
    start: Start = None,
    end: End = None,
    checked_in: Annotated[bool | None, Query(description="Only those with a check-in.")] = None,
) -> Page[VisitOut]:
    """Visits overlapping [start, end), newest first."""
    return _read(
        session, user, params, "read_visits", list_visits,
        org_id=org_id, member_id=member_id, site_id=site_id, start=start, end=end,
        checked_in=checked_in,
    )  # fmt: skip


@router.get("/checkins", summary="Check-ins with evidence (audited)")
def read_checkins(
    *,
    session: DbSession,
    user: CurrentUser,
    params: Pagination,
    org_id: OrgFilter = None,
    member_id: MemberFilter = None,
    site_id: SiteFilter = None,
    start: Start = None,
    end: End = None,
    beidou_verified: Annotated[
        bool | None, Query(description="Only BeiDou-verified check-ins (or only the others).")
    ] = None,
) -> Page[VisitOut]:
    """Check-ins timed in [start, end), newest first."""
    return _read(
        session, user, params, "read_checkins", list_checkins,
        org_id=org_id, member_id=member_id, site_id=site_id, start=start, end=end,
        beidou_verified=beidou_verified,
    )  # fmt: skip


@router.get("/presence", summary="Who is at which site now (audited)")
def read_presence(
    *,
    session: DbSession,
    user: CurrentUser,
    params: Pagination,
    org_id: OrgFilter = None,
    member_id: MemberFilter = None,
    site_id: SiteFilter = None,
) -> Page[PresenceOut]:
    """Members arriving at, present at or leaving a site, by member then site; a member not
    listed is at no site."""
    if user.role is Role.MEMBER:
        member_id = member_id or user.member_id
    if member_id is not None:
        member_in_scope(session, user, member_id)
    if site_id is not None:
        site_in_scope(session, user, site_id)
    rows = list_presence(
        session,
        within_org_id=within(session, user, org_id),
        member_ids=None if member_id is None else [member_id],
        site_id=site_id,
    )
    page = paged(PresenceOut, params.window(rows), params)
    audit_member_read(
        session, user, [p.member_id for p in page.items], "read_presence", {"site_id": site_id}
    )
    session.commit()
    return page


def _read(
    session: Session,
    user: Principal,
    params: PageParams,
    action: str,
    lister: Callable[..., list[VisitRow]],
    *,
    org_id: int | None,
    member_id: int | None,
    site_id: int | None,
    **filters: Any,
) -> Page[VisitOut]:
    if user.role is Role.MEMBER:
        member_id = member_id or user.member_id
    if member_id is not None:
        member_in_scope(session, user, member_id)
    if site_id is not None:
        site_in_scope(session, user, site_id)
    scope = within(session, user, org_id)
    rows = lister(
        session,
        within_org_id=scope,
        member_id=member_id,
        site_id=site_id,
        limit=params.limit + 1,
        offset=params.offset,
        **filters,
    )
    page = paged(VisitOut, rows, params)
    audit_member_read(
        session,
        user,
        [v.member_id for v in page.items],
        action,
        {"org_id": org_id, "site_id": site_id},
    )
    session.commit()
    return page
