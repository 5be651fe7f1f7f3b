"""Organisation bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.schemas.common import Code, Id, In, Name, Out
from store.models import OrgKind


class OrgOut(Out):
    id: int
    parent_id: int | None
    path: str = Field(description="Materialised path: ids from the root down.", examples=["/1/5/"])
    depth: int = Field(description="0 for a root.")
    kind: OrgKind
    name: str = Field(examples=["第一党支部"])
    code: str | None = Field(description="External code used by imports.", examples=["ZB-001"])
    created_at: datetime


class OrgIn(In):
    name: Name = Field(examples=["第一党支部"])
    kind: OrgKind = Field(examples=[OrgKind.BRANCH])
    parent_id: Id | None = Field(default=None, description="None makes a root (whole-tree admins).")
    code: Code | None = None


class OrgPatch(In):
    name: Name | None = None
    kind: OrgKind | None = None
    code: Code | None = None


class OrgMove(In):
    parent_id: Id | None = Field(description="The new parent; null makes it a root.", examples=[5])
