"""Administration: ``/api/v1/users``, ``/api/v1/audit`` and ``/api/v1/import/{kind}``."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from api.changes import Kind, announce
from api.deps import AdminUser, CommitteeAdmin, DbSession, Pagination, Principal
from api.routes import API_PREFIX
from api.schemas.admin import AuditOut, ImportOut, UserIn, UserOut, UserPatch
from api.schemas.common import MAX_ID, MemberFilter, Page, UserId, paged
from api.scope import member_in_scope, org_in_scope
from store import users
from store.audit import list_audit, record_audit
from store.errors import NotFoundError
from store.imports import ImportFileError, import_upload
from store.models import Role, User

router = APIRouter(prefix=API_PREFIX, tags=["admin"])

MAX_UPLOAD = 50 * 1024 * 1024


@router.get("/users", summary="List users")
def list_users(session: DbSession, user: CommitteeAdmin, params: Pagination) -> Page[UserOut]:
    """Users scoped inside the caller's subtree (all users for a whole-tree admin)."""
    rows = users.list_users(
        session, within_org_id=user.scope_org_id, limit=params.limit + 1, offset=params.offset
    )
    return paged(UserOut, rows, params)


@router.post("/users", status_code=status.HTTP_201_CREATED, summary="Create a user")
def create_user(body: UserIn, session: DbSession, user: CommitteeAdmin) -> UserOut:
    """A member user needs ``member_id``; an admin ``org_id`` (a committee admin without one
    sees the whole tree, and only a whole-tree admin may create such a user)."""
    _check_scope(session, user, body.role, body.org_id, body.member_id)
    created = users.create_user(
        session,
        username=body.username,
        password=body.password,
        role=body.role,
        org_id=body.org_id,
        member_id=body.member_id,
    )
    record_audit(
        session,
        actor=user.username,
        actor_user_id=user.user_id,
        action="create_user",
        subject_member_id=body.member_id,
        detail={"user_id": created.id, "role": body.role.value, "org_id": body.org_id},
    )
    session.commit()
    return UserOut.model_validate(created)


@router.patch("/users/{user_id}", summary="Reset a password or deactivate a user")
def update_user(
    user_id: UserId, body: UserPatch, session: DbSession, user: CommitteeAdmin
) -> UserOut:
    target = _user_in_scope(session, user, user_id)
    if body.password is not None:
        users.set_password(session, user_id=target.id, password=body.password)
    if body.active is not None:
        users.update_user(session, user_id=target.id, active=body.active)
    session.commit()
    return UserOut.model_validate(target)


@router.get("/audit", summary="Read the audit log")
def read_audit(
    *,
    session: DbSession,
    user: AdminUser,
    params: Pagination,
    subject_member_id: MemberFilter = None,
    actor_user_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    action: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_]+$")] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> Page[AuditOut]:
    """Newest first. Admins read the entries about a member in their subtree; the whole log
    (any subject) is for whole-tree admins."""
    if subject_member_id is not None:
        member_in_scope(session, user, subject_member_id)
    elif not user.whole_tree:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="give subject_member_id: the whole log is for whole-tree admins",
        )
    rows = list_audit(
        session,
        subject_member_id=subject_member_id,
        actor_user_id=actor_user_id,
        action=action,
        since=since,
        until=until,
        limit=params.limit + 1,
        offset=params.offset,
    )
    return paged(AuditOut, rows, params)


class ImportKind(Enum):
    ORGS = "orgs"
    MEMBERS = "members"
    DEVICES = "devices"
    SITES = "sites"


class CoordSys(Enum):
    WGS84 = "wgs84"
    GCJ02 = "gcj02"


@router.post(
    "/import/{kind}",
    summary="Import a file",
    responses={422: {"description": "Nothing imported: every problem, with its line."}},
)
async def import_file(
    *,
    kind: ImportKind,
    session: DbSession,
    user: AdminUser,
    request: Request,
    file: Annotated[UploadFile, File(description="CSV (orgs, members, devices) or site file.")],
    coord_sys: Annotated[
        CoordSys, Query(description="Sites: gcj02 when digitised on AMap/Tencent tiles.")
    ] = CoordSys.WGS84,
    repair: Annotated[bool, Query(description="Sites: mend invalid polygons.")] = False,
    issue_tokens: Annotated[bool, Query(description="Devices: issue a new token each.")] = False,
) -> ImportOut:
    """Import organisations, members, devices (CSV) or sites (GeoJSON, GeoPackage, zipped
    Shapefile): all rows or none. Columns are in the README and :mod:`store.imports`."""
    data = await file.read(MAX_UPLOAD + 1)
    name = file.filename or kind.value
    if len(data) > MAX_UPLOAD:
        raise ImportFileError(name, [f"larger than {MAX_UPLOAD // 2**20} MiB"])

    def run() -> ImportOut:
        result = import_upload(
            session,
            user,
            kind.value,
            data,
            name,
            coord_sys=coord_sys.value,
            repair=repair,
            issue_tokens=issue_tokens,
        )
        session.commit()
        return ImportOut(**dataclasses.asdict(result))

    done = await run_in_threadpool(run)
    announce(request, Kind(kind.value))
    return done


def _check_scope(
    session: Session, user: Principal, role: Role, org_id: int | None, member_id: int | None
) -> None:
    if org_id is not None:
        org_in_scope(session, user, org_id, write=True)
    elif role is not Role.MEMBER and not user.whole_tree:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail="only a whole-tree admin creates whole-tree users"
        )
    if member_id is not None:
        member_in_scope(session, user, member_id, write=True)


def _user_in_scope(session: Session, user: Principal, user_id: int) -> User:
    target = users.get_user(session, user_id=user_id)
    try:
        _check_scope(session, user, target.role, target.org_id, target.member_id)
    except HTTPException as exc:
        raise NotFoundError("user", user_id) from exc
    return target
