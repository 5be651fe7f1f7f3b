"""Request dependencies: the database session, the caller, roles, pages, and the audit helper.

Routes declare what they need with these ``Annotated`` aliases::

    @router.get("/members/{member_id}")
    def read_member(member_id: int, session: DbSession, user: CurrentUser) -> MemberOut: ...

    @router.post("/orgs")
    def create_org(body: OrgIn, session: DbSession, admin: AdminUser) -> OrgOut: ...

``DbSession`` is one session per request, closed before the response is sent; the route
commits (repositories never do). Every read of a member's positions, track, visits or
check-ins goes through :func:`audit_member_read` in the same transaction as the read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from api.auth import COOKIE_NAME, decode_access_token, principal_for
from api.principal import ADMIN_ROLES, Principal
from api.schemas.common import PageParams
from partymap.settings import Settings
from store.audit import record_audit_many
from store.db import end_read_snapshot
from store.models import Role

__all__ = [
    "ADMIN_ROLES",
    "AdminUser",
    "AppSettings",
    "CommitteeAdmin",
    "CurrentUser",
    "DbSession",
    "PageParams",
    "Pagination",
    "Principal",
    "audit_member_read",
    "current_user",
    "require_role",
]

MAX_PAGE = 1000
# The OpenAPI security scheme (the "Authorize" button); tokens are read by current_user.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
_COOKIE_METHODS = frozenset({"GET", "HEAD"})
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(get_settings)]


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; whatever the route did not commit is rolled back on close.

    Requests that change data begin as writers (on SQLite they wait for the write lock rather
    than fail when the ingestion daemon commits between their read and their write).
    """
    state = request.app.state
    factory = state.sessionmaker if request.method in _READ_METHODS else state.write_sessionmaker
    with factory() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"}
    )


Bearer = Annotated[str | None, Depends(oauth2_scheme)]


def request_token(request: Request, bearer: str | None) -> str | None:
    """The token a request carries: a Bearer token, or on GET/HEAD the session cookie."""
    if bearer is None and request.method in _COOKIE_METHODS:
        return request.cookies.get(COOKIE_NAME)
    return bearer


def current_user(
    request: Request, session: DbSession, settings: AppSettings, bearer: Bearer
) -> Principal:
    """The authenticated user: a Bearer token, or on GET/HEAD the session cookie."""
    token = request_token(request, bearer)
    if not token:
        raise _unauthorized("not authenticated: log in at POST /api/v1/auth/token")
    claims = decode_access_token(settings, token)
    principal = principal_for(session, settings, claims) if claims is not None else None
    if principal is None:
        raise _unauthorized("the access token is invalid or expired: log in again")
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


def require_role(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency letting through only users with one of ``roles`` (403 for the others)."""
    allowed = frozenset(roles)
    names = " or ".join(sorted(r.value for r in allowed))

    def check(user: CurrentUser) -> Principal:
        if user.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"this needs the role {names}")
        return user

    check.roles = allowed  # type: ignore[attr-defined]  # read by api.openapi (403)
    return check


AdminUser = Annotated[Principal, Depends(require_role(*ADMIN_ROLES))]
CommitteeAdmin = Annotated[Principal, Depends(require_role(Role.COMMITTEE_ADMIN))]


def pagination(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page.")] = 100,
    offset: Annotated[
        int, Query(ge=0, le=10_000_000, description="Items to skip (see `next_offset`).")
    ] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


Pagination = Annotated[PageParams, Depends(pagination)]


def audit_member_read(
    session: Session,
    principal: Principal,
    member_ids: Iterable[int],
    what: str,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Log that ``principal`` read ``what`` ("read_positions", "read_track"…) of each member.

    One entry per member (who, whom, when, what): commit it before the response leaves, so a
    read that was served is never missing from the log. A reading session's transaction ends
    first (:func:`store.db.end_read_snapshot`). Returns the number of entries.
    """
    end_read_snapshot(session)
    return record_audit_many(
        session,
        actor=principal.username,
        actor_user_id=principal.user_id or None,
        action=what,
        subject_member_ids=sorted(set(member_ids)),
        detail=detail,
    )
