"""Party members (党员): who belongs to which organisation, and transfers between them."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from store.errors import DuplicateKeyError, NotFoundError
from store.models import LatestPosition, Member
from store.orgs import get_organisation, org_scope
from store.query import SelectT, matching, page


def create_member(
    session: Session,
    *,
    org_id: int,
    name: str,
    code: str | None = None,
    phone: str | None = None,
) -> Member:
    get_organisation(session, org_id=org_id)
    if code is not None:
        _refuse_duplicate_code(session, code)
    member = Member(org_id=org_id, name=name, code=code, phone=phone, active=True)
    session.add(member)
    session.flush()
    return member


def get_member(session: Session, *, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None:
        raise NotFoundError("member", member_id)
    return member


def find_member(session: Session, *, code: str) -> Member | None:
    return session.scalars(select(Member).where(Member.code == code)).one_or_none()


def list_members(
    session: Session,
    *,
    within_org_id: int | None = None,
    org_id: int | None = None,
    active: bool | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Member]:
    """Members ordered by id, filtered by subtree, direct organisation and active flag."""
    stmt = _filtered(select(Member), session, within_org_id, org_id, active).order_by(Member.id)
    return list(session.scalars(page(stmt, limit=limit, offset=offset)))


def count_members(
    session: Session,
    *,
    within_org_id: int | None = None,
    org_id: int | None = None,
    active: bool | None = None,
) -> int:
    stmt = _filtered(select(func.count(Member.id)), session, within_org_id, org_id, active)
    return int(session.scalar(stmt) or 0)


def member_ids(session: Session, *, org_id: int, include_subtree: bool = False) -> list[int]:
    """Ids of the active members of ``org_id`` (a meeting's roll), or of its whole subtree."""
    stmt = _filtered(
        select(Member.id),
        session,
        org_id if include_subtree else None,
        None if include_subtree else org_id,
        True,
    )
    return list(session.scalars(stmt.order_by(Member.id)))


def member_names(session: Session, *, member_ids: Sequence[int]) -> dict[int, str]:
    """Names of the given members by id (the labels of a map view of thousands of members).

    The ids travel as one array parameter, not one parameter each.
    """
    ids = [int(m) for m in member_ids]
    if not ids:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        stmt = text("SELECT id, name FROM members WHERE id = ANY(CAST(:ids AS integer[]))")
        rows = session.execute(stmt, {"ids": ids})
    else:
        stmt = text("SELECT id, name FROM members WHERE id IN (SELECT value FROM json_each(:ids))")
        rows = session.execute(stmt, {"ids": json.dumps(ids)})
    return {member_id: name for member_id, name in rows}


def member_paths(session: Session, *, member_ids: Sequence[int]) -> dict[int, str]:
    """The materialised path of each given member's organisation as it is now (what decides
    who may see them: a transfer moves it at once)."""
    ids = [int(m) for m in member_ids]
    if not ids:
        return {}
    where = "m.id = ANY(CAST(:ids AS integer[]))"
    if session.get_bind().dialect.name != "postgresql":
        where = "m.id IN (SELECT value FROM json_each(:ids))"
    stmt = text(
        f"SELECT m.id, o.path FROM members m JOIN organisations o ON o.id = m.org_id WHERE {where}"
    )
    params = {"ids": ids if session.get_bind().dialect.name == "postgresql" else json.dumps(ids)}
    return {member_id: path for member_id, path in session.execute(stmt, params)}


def update_member(
    session: Session,
    *,
    member_id: int,
    name: str | None = None,
    code: str | None = None,
    phone: str | None = None,
    active: bool | None = None,
) -> Member:
    """Change the given fields (None leaves a field as it is)."""
    member = get_member(session, member_id=member_id)
    if code is not None and code != member.code:
        _refuse_duplicate_code(session, code)
        member.code = code
    if name is not None:
        member.name = name
    if phone is not None:
        member.phone = phone
    if active is not None:
        member.active = active
    session.flush()
    return member


def transfer_member(session: Session, *, member_id: int, org_id: int) -> Member:
    """组织关系转接: move a member to another organisation. Their history stays theirs."""
    member = get_member(session, member_id=member_id)
    get_organisation(session, org_id=org_id)
    member.org_id = org_id
    # latest_positions keeps a copy of the organisation for the map's subtree filter.
    session.execute(
        update(LatestPosition).where(LatestPosition.member_id == member_id).values(org_id=org_id)
    )
    session.flush()
    return member


def _filtered(
    stmt: SelectT,
    session: Session,
    within_org_id: int | None,
    org_id: int | None,
    active: bool | None,
) -> SelectT:
    stmt = stmt.where(*matching((Member.org_id, org_id), (Member.active, active)))
    if within_org_id is not None:
        stmt = stmt.where(org_scope(session, Member.org_id, within_org_id=within_org_id))
    return stmt


def _refuse_duplicate_code(session: Session, code: str) -> None:
    if find_member(session, code=code) is not None:
        raise DuplicateKeyError("member", "code", code)
