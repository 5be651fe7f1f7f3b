"""User, audit and import bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from api.schemas.common import Flag, Id, In, Out
from store.models import Role

Username = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]


class UserOut(Out):
    id: int
    username: str
    role: Role
    org_id: int | None = Field(description="Scope root (admins); null: the whole tree.")
    member_id: int | None = Field(description="The member a member user is.")
    active: bool
    created_at: datetime
    last_login_at: datetime | None


class UserIn(In):
    username: Username = Field(examples=["li.secretary"])
    password: Password = Field(examples=["correct horse battery"])
    role: Role
    org_id: Id | None = None
    member_id: Id | None = None


class UserPatch(In):
    password: Password | None = None
    active: Flag | None = None


class AuditOut(Out):
    id: int
    at: datetime
    actor: str
    actor_user_id: int | None
    action: str = Field(examples=["read_track"])
    subject_member_id: int | None
    detail: dict[str, Any] | None


class ImportOut(Out):
    kind: str
    created: int
    updated: int
    notes: list[str]
    tokens: dict[str, str] = Field(description="Device uid → its new token, shown once.")
    site_ids: dict[int, int] = Field(
        description="Sites: each feature's ``id`` in the file → the stored site's id."
    )
