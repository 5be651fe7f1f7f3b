"""``/api/v1/orgs``: the organisation tree — read, create, rename, move a subtree, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status

from api.changes import Kind, announce
from api.deps import AdminUser, CurrentUser, DbSession, Pagination, Principal
from api.routes import API_PREFIX
from api.schemas.common import MAX_ID, OrgId, Page, paged
from api.schemas.orgs import OrgIn, OrgMove, OrgOut, OrgPatch
from api.scope import org_in_scope
from store import orgs
from store.audit import record_audit

router = APIRouter(prefix=f"{API_PREFIX}/orgs", tags=["organisations"])


@router.get("", summary="List organisations")
def list_orgs(
    session: DbSession,
    user: CurrentUser,
    params: Pagination,
    parent_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Children of this organisation (default: your top)."),
    ] = None,
) -> Page[OrgOut]:
    """The children of ``parent_id``; without it, where the caller's tree starts: the roots
    for a whole-tree admin, else the caller's own organisation."""
    if parent_id is not None:
        parent = org_in_scope(session, user, parent_id)
        if not user.is_admin:  # a member sees their own organisation, not those below it
            rows = []
        else:
            rows = orgs.list_children(
                session, org_id=parent.id, limit=params.limit + 1, offset=params.offset
            )
    elif user.whole_tree:
        rows = orgs.list_children(
            session, org_id=None, limit=params.limit + 1, offset=params.offset
        )
    else:
        assert user.org_id is not None
        own = orgs.get_organisation(session, org_id=user.org_id)
        rows = [own] if params.offset == 0 else []
    return paged(OrgOut, rows, params)


@router.get("/{org_id}", summary="Read an organisation")
def read_org(org_id: OrgId, session: DbSession, user: CurrentUser) -> OrgOut:
    return OrgOut.model_validate(org_in_scope(session, user, org_id))


@router.get("/{org_id}/subtree", summary="An organisation and everything below it")
def read_subtree(
    org_id: OrgId, session: DbSession, user: AdminUser, params: Pagination
) -> Page[OrgOut]:
    """Parents before children (ordered by path)."""
    org_in_scope(session, user, org_id)
    rows = orgs.subtree(session, org_id=org_id, limit=params.limit + 1, offset=params.offset)
    return paged(OrgOut, rows, params)


@router.get("/{org_id}/ancestors", summary="Breadcrumbs")
def read_ancestors(org_id: OrgId, session: DbSession, user: CurrentUser) -> list[OrgOut]:
    """The chain from the top of the caller's scope down to the organisation's parent."""
    org_in_scope(session, user, org_id)
    return [
        OrgOut.model_validate(o)
        for o in orgs.ancestors(session, org_id=org_id)
        if user.can_see_org(o.path)
    ]


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an organisation")
def create_org(body: OrgIn, session: DbSession, user: AdminUser, request: Request) -> OrgOut:
    if body.parent_id is None:
        _need_whole_tree(user, "create a root organisation")
    else:
        org_in_scope(session, user, body.parent_id, write=True)
    org = orgs.create_organisation(
        session, name=body.name, kind=body.kind, parent_id=body.parent_id, code=body.code
    )
    session.commit()
    announce(request, Kind.ORGS)
    return OrgOut.model_validate(org)


@router.patch("/{org_id}", summary="Rename or re-code an organisation")
def update_org(
    org_id: OrgId, body: OrgPatch, session: DbSession, user: AdminUser, request: Request
) -> OrgOut:
    org_in_scope(session, user, org_id, write=True)
    org = orgs.update_organisation(
        session, org_id=org_id, name=body.name, kind=body.kind, code=body.code
    )
    session.commit()
    announce(request, Kind.ORGS)
    return OrgOut.model_validate(org)


@router.post("/{org_id}/move", summary="Move an organisation with its subtree")
def move_org(
    org_id: OrgId, body: OrgMove, session: DbSession, user: AdminUser, request: Request
) -> OrgOut:
    """Re-parent the organisation; everything below it moves along (members, sites and
    meetings stay with their organisations)."""
    org = org_in_scope(session, user, org_id, write=True)
    _not_own_root(user, org_id, "move")
    if body.parent_id is None:
        _need_whole_tree(user, "make an organisation a root")
    else:
        org_in_scope(session, user, body.parent_id, write=True)
    old_path = org.path
    moved = orgs.move_organisation(session, org_id=org_id, new_parent_id=body.parent_id)
    record_audit(
        session,
        actor=user.username,
        actor_user_id=user.user_id,
        action="move_organisation",
        detail={"org_id": org_id, "from": old_path, "to": moved.path},
    )
    session.commit()
    announce(request, Kind.ORGS)
    return OrgOut.model_validate(moved)


@router.delete(
    "/{org_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an empty organisation"
)
def delete_org(org_id: OrgId, session: DbSession, user: AdminUser, request: Request) -> None:
    """Refused (409) while it has children, members, sites, meetings or users."""
    org_in_scope(session, user, org_id, write=True)
    _not_own_root(user, org_id, "delete")
    orgs.delete_organisation(session, org_id=org_id)
    session.commit()
    announce(request, Kind.ORGS)


def _need_whole_tree(user: Principal, what: str) -> None:
    if not user.whole_tree:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail=f"only a whole-tree committee admin may {what}"
        )


def _not_own_root(user: Principal, org_id: int, what: str) -> None:
    if org_id == user.org_id:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail=f"you cannot {what} the root of your own scope"
        )
