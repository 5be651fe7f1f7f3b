"""``POST /api/v1/auth/token`` (OAuth2 password flow) and ``GET /api/v1/auth/me``."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from api.auth import COOKIE_NAME, LoginThrottle, client_address, create_access_token
from api.deps import AppSettings, CurrentUser, DbSession
from api.routes import API_PREFIX
from store.users import authenticate_user

router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = Field(examples=["bearer"])
    expires_in: int = Field(description="Seconds until the token expires.", examples=[1800])


class Me(BaseModel):
    user_id: int
    username: str
    role: str = Field(examples=["branch_admin"])
    org_id: int | None = Field(description="Scope root (admins) or own organisation (members).")
    org_path: str | None = Field(examples=["/1/5/"])
    member_id: int | None


@router.post(
    "/token",
    response_model=Token,
    summary="Log in",
    responses={
        401: {"description": "Wrong username or password."},
        429: {
            "description": "Too many attempts from this address (for this username, or in "
            "all): wait `Retry-After` seconds."
        },
    },
)
async def login(
    request: Request,
    response: Response,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: DbSession,
    settings: AppSettings,
) -> Token:
    """Exchange a username and password for an access token.

    The token comes back in the body (send it as ``Authorization: Bearer``) and as an HttpOnly,
    SameSite=Strict cookie that GET requests from the map page and its EventSource use.
    """
    throttle: LoginThrottle = request.app.state.login_throttle
    address = client_address(request, settings.trusted_proxies)
    # Counted (and committed) before the password is checked: parallel guesses past the
    # limit are refused, on every worker, since the counters are in the database.
    wait = await run_in_threadpool(throttle.begin, session, form.username, address)
    if wait:
        seconds = math.ceil(wait)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many login attempts: try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
    # argon2 is deliberately slow: keep it off the event loop.
    user = await run_in_threadpool(
        authenticate_user, session, username=form.username, password=form.password
    )
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="wrong username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    throttle.succeeded(session, form.username, address)
    # The counters, the last login time, and a rehashed password if argon2's parameters moved.
    session.commit()
    token, seconds = create_access_token(
        settings, user_id=user.id, password_hash=user.password_hash
    )
    secure = settings.cookie_secure
    if secure is None:
        secure = settings.environment != "development"
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=seconds,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return Token(access_token=token, token_type="bearer", expires_in=seconds)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Log out")
def logout(response: Response) -> None:
    """Clear the session cookie (a Bearer token stays valid until it expires)."""
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")


@router.get("/me", response_model=Me, summary="Who am I")
def me(user: CurrentUser) -> Me:
    """The caller's role and scope."""
    return Me(
        user_id=user.user_id,
        username=user.username,
        role=user.role.value,
        org_id=user.org_id,
        org_path=user.org_path,
        member_id=user.member_id,
    )
