"""Users: argon2id hashes, authentication, role scopes."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from store import members, users
from store.errors import ConflictError, InvalidValueError
from store.models import Role
from tests.store.helpers import T0, tree


def test_passwords_are_stored_as_argon2id_and_checked(db: Session) -> None:
    t = tree(db)
    user = users.create_user(
        db,
        username="secretary",
        password="correct horse",
        role=Role.BRANCH_ADMIN,
        org_id=t.general.id,
    )
    db.commit()
    assert user.password_hash.startswith("$argon2id$")
    assert "correct horse" not in user.password_hash
    found = users.authenticate_user(db, username="secretary", password="correct horse", now=T0)
    assert found is user and user.last_login_at == T0
    assert users.authenticate_user(db, username="secretary", password="wrong horse") is None
    assert users.authenticate_user(db, username="nobody", password="correct horse") is None
    users.set_password(db, user_id=user.id, password="battery staple")
    assert users.authenticate_user(db, username="secretary", password="correct horse") is None
    assert users.authenticate_user(db, username="secretary", password="battery staple") is user
    users.update_user(db, user_id=user.id, active=False)
    assert users.authenticate_user(db, username="secretary", password="battery staple") is None


def test_roles_need_their_scope(db: Session) -> None:
    t = tree(db)
    member = members.create_member(db, org_id=t.branch_a.id, name="张三")
    with pytest.raises(InvalidValueError, match="member_id"):
        users.create_user(db, username="m", password="12345678", role=Role.MEMBER)
    with pytest.raises(InvalidValueError, match="org_id"):
        users.create_user(db, username="b", password="12345678", role=Role.BRANCH_ADMIN)
    with pytest.raises(InvalidValueError, match="8 characters"):
        users.create_user(db, username="c", password="short", role=Role.COMMITTEE_ADMIN)
    self_only = users.create_user(
        db, username="zhang", password="12345678", role=Role.MEMBER, member_id=member.id
    )
    everything = users.create_user(
        db, username="root", password="12345678", role=Role.COMMITTEE_ADMIN
    )
    with pytest.raises(ConflictError):
        users.create_user(db, username="root", password="12345678", role=Role.COMMITTEE_ADMIN)
    promoted = users.update_user(
        db, user_id=self_only.id, role=Role.BRANCH_ADMIN, org_id=t.branch_a.id
    )
    assert (promoted.role, promoted.org_id) == (Role.BRANCH_ADMIN, t.branch_a.id)
    assert [u.id for u in users.list_users(db, within_org_id=t.committee.id)] == [self_only.id]
    assert [u.id for u in users.list_users(db)] == [self_only.id, everything.id]
    assert users.find_user(db, username="root") is everything
