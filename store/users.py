"""Users who log in to the API and map: argon2id password hashes, a role and a scope.

A member user sees themselves (``member_id``); a branch admin their organisation's subtree and a
committee admin the subtree of theirs (``org_id``; None for a committee admin: the whole tree).
"""

from __future__ import annotations

import functools
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.errors import DuplicateKeyError, InvalidValueError, NotFoundError
from store.members import get_member
from store.models import Role, User
from store.orgs import get_organisation, org_scope
from store.query import page
from store.types import utcnow

MIN_PASSWORD_LENGTH = 8
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@functools.cache
def _dummy_hash() -> str:
    # Verified against when the username is unknown, so both failures cost the same time.
    return _hasher.hash("partymap: no such user")


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    org_id: int | None = None,
    member_id: int | None = None,
) -> User:
    if find_user(session, username=username) is not None:
        raise DuplicateKeyError("user", "username", username)
    _check_scope(session, role, org_id, member_id)
    user = User(
        username=username,
        password_hash=_hash(password),
        role=role,
        org_id=org_id,
        member_id=member_id,
        active=True,
    )
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, *, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError("user", user_id)
    return user


def find_user(session: Session, *, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).one_or_none()


def list_users(
    session: Session,
    *,
    within_org_id: int | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[User]:
    """Users ordered by id; ``within_org_id`` keeps those scoped inside that subtree."""
    stmt = select(User).order_by(User.id)
    if within_org_id is not None:
        stmt = stmt.where(org_scope(session, User.org_id, within_org_id=within_org_id))
    return list(session.scalars(page(stmt, limit=limit, offset=offset)))


def authenticate_user(
    session: Session, *, username: str, password: str, now: datetime | None = None
) -> User | None:
    """The active user with this username and password, else None (same cost either way).

    A hash made with older argon2 parameters is upgraded on the way.
    """
    user = find_user(session, username=username)
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hash(password)
    user.last_login_at = now or utcnow()
    session.flush()
    return user


def set_password(session: Session, *, user_id: int, password: str) -> User:
    user = get_user(session, user_id=user_id)
    user.password_hash = _hash(password)
    session.flush()
    return user


def update_user(
    session: Session,
    *,
    user_id: int,
    role: Role | None = None,
    org_id: int | None = None,
    member_id: int | None = None,
    active: bool | None = None,
) -> User:
    """Change role, scope or active flag (None leaves a field as it is)."""
    user = get_user(session, user_id=user_id)
    new_role = role or user.role
    new_org = org_id if org_id is not None else user.org_id
    new_member = member_id if member_id is not None else user.member_id
    _check_scope(session, new_role, new_org, new_member)
    user.role, user.org_id, user.member_id = new_role, new_org, new_member
    if active is not None:
        user.active = active
    session.flush()
    return user


def _hash(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def _check_scope(session: Session, role: Role, org_id: int | None, member_id: int | None) -> None:
    if org_id is not None:
        get_organisation(session, org_id=org_id)
    if member_id is not None:
        get_member(session, member_id=member_id)
    if role is Role.MEMBER and member_id is None:
        raise InvalidValueError("a user with role member needs member_id")
    if role is Role.BRANCH_ADMIN and org_id is None:
        raise InvalidValueError("a branch admin needs org_id, the root of what they administer")
