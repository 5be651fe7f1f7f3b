"""``/api/v1/members``: party members, and transfers between organisations (组织关系转接)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from api.changes import Kind, announce
from api.deps import AdminUser, CurrentUser, DbSession, Pagination
from api.routes import API_PREFIX
from api.schemas.common import MemberId, OrgFilter, Page, paged
from api.schemas.members import MemberIn, MemberOut, MemberPatch, Transfer
from api.scope import member_in_scope, org_in_scope, within
from store import members
from store.audit import record_audit
from store.models import Member, Role

router = APIRouter(prefix=f"{API_PREFIX}/members", tags=["members"])


@router.get("", summary="List members")
def list_members(
    *,
    session: DbSession,
    user: CurrentUser,
    params: Pagination,
    org_id: OrgFilter = None,
    direct: Annotated[
        bool, Query(description="Only members of `org_id` itself, not of its subtree.")
    ] = False,
    active: Annotated[bool | None, Query(description="Only active (or inactive) members.")] = None,
) -> Page[MemberOut]:
    """Members in the caller's scope by id; a member sees only themselves."""
    if user.role is Role.MEMBER:
        own = member_in_scope(session, user, user.member_id or 0)
        if org_id is not None:
            org_in_scope(session, user, org_id)
        keep = (active is None or own.active == active) and params.offset == 0
        rows: list[Member] = [own] if keep else []
    else:
        scope = within(session, user, org_id)
        rows = members.list_members(
            session,
            within_org_id=None if direct else scope,
            org_id=org_id if direct else None,
            active=active,
            limit=params.limit + 1,
            offset=params.offset,
        )
    return paged(MemberOut, rows, params)


@router.get("/{member_id}", summary="Read a member")
def read_member(member_id: MemberId, session: DbSession, user: CurrentUser) -> MemberOut:
    return MemberOut.model_validate(member_in_scope(session, user, member_id))


@router.post("", status_code=status.HTTP_201_CREATED, summary="Add a member")
def create_member(
    body: MemberIn, session: DbSession, user: AdminUser, request: Request
) -> MemberOut:
    org_in_scope(session, user, body.org_id, write=True)
    member = members.create_member(
        session, org_id=body.org_id, name=body.name, code=body.code, phone=body.phone
    )
    session.commit()
    announce(request, Kind.MEMBERS)
    return MemberOut.model_validate(member)


@router.patch("/{member_id}", summary="Change a member")
def update_member(
    member_id: MemberId, body: MemberPatch, session: DbSession, user: AdminUser, request: Request
) -> MemberOut:
    member_in_scope(session, user, member_id, write=True)
    member = members.update_member(
        session,
        member_id=member_id,
        name=body.name,
        code=body.code,
        phone=body.phone,
        active=body.active,
    )
    session.commit()
    announce(request, Kind.MEMBERS)
    return MemberOut.model_validate(member)


@router.post("/{member_id}/transfer", summary="Transfer a member (组织关系转接)")
def transfer_member(
    member_id: MemberId, body: Transfer, session: DbSession, user: AdminUser, request: Request
) -> MemberOut:
    """Move the member to another organisation; their history stays theirs. The caller must
    administer both the organisation they leave and the one they join."""
    member = member_in_scope(session, user, member_id, write=True)
    org_in_scope(session, user, body.org_id, write=True)
    from_org = member.org_id
    moved = members.transfer_member(session, member_id=member_id, org_id=body.org_id)
    record_audit(
        session,
        actor=user.username,
        actor_user_id=user.user_id,
        action="transfer_member",
        subject_member_id=member_id,
        detail={"from_org_id": from_org, "to_org_id": body.org_id},
    )
    session.commit()
    announce(request, Kind.MEMBERS)
    return MemberOut.model_validate(moved)
