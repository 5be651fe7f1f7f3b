"""The organisation tree (党委 → 党总支 → 党支部 → 党小组, any depth) as a materialised path.

Each organisation keeps ``path = "/<root id>/…/<own id>/"``. Its subtree is every path that
starts with its own: one range scan of the unique path index, ``path >= "/1/5/"`` and
``path < "/1/50"`` (``0`` is the character after ``/``), on both databases. bench/store.py
measures this against a recursive CTE over ``parent_id``.

>>> subtree_bounds("/1/5/")
('/1/5/', '/1/50')
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, String, exists, func, select, update
from sqlalchemy.orm import Session, aliased

from store.errors import ConflictError, NotFoundError
from store.models import (
    DisplayTokenRow,
    MeetingPlanRow,
    MeetingRow,
    Member,
    Organisation,
    OrgKind,
    SiteRow,
    User,
)
from store.query import SelectT, page
from store.rawsql import raw_rows


def subtree_bounds(path: str) -> tuple[str, str]:
    """The half-open text range holding ``path`` and every path below it."""
    return path, path[:-1] + chr(ord("/") + 1)


def create_organisation(
    session: Session,
    *,
    name: str,
    kind: OrgKind,
    parent_id: int | None = None,
    code: str | None = None,
) -> Organisation:
    """Add an organisation under ``parent_id`` (None: a new root)."""
    parent = get_organisation(session, org_id=parent_id) if parent_id is not None else None
    if code is not None:
        _refuse_duplicate_code(session, code)
    org = Organisation(
        parent_id=parent_id,
        # The id is only known after the INSERT; a unique placeholder holds the path till then.
        path=f"/new-{uuid.uuid4().hex}/",
        depth=0 if parent is None else parent.depth + 1,
        kind=kind,
        name=name,
        code=code,
    )
    session.add(org)
    session.flush()
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    session.flush()
    return org


def get_organisation(session: Session, *, org_id: int) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFoundError("organisation", org_id)
    return org


def find_organisation(session: Session, *, code: str) -> Organisation | None:
    return session.scalars(select(Organisation).where(Organisation.code == code)).one_or_none()


def list_children(
    session: Session, *, org_id: int | None, limit: int | None = None, offset: int = 0
) -> list[Organisation]:
    """Direct children of ``org_id``, or the roots when it is None."""
    parent = (
        Organisation.parent_id.is_(None) if org_id is None else Organisation.parent_id == org_id
    )
    stmt = select(Organisation).where(parent).order_by(Organisation.name, Organisation.id)
    return list(session.scalars(page(stmt, limit=limit, offset=offset)))


def subtree(
    session: Session, *, org_id: int, limit: int | None = None, offset: int = 0
) -> list[Organisation]:
    """``org_id`` and everything below it, parents before children (ordered by path)."""
    stmt = _join_subtree(select(Organisation), org_id).order_by(Organisation.path)
    found = list(session.scalars(page(stmt, limit=limit, offset=offset)))
    if not found and offset == 0 and limit != 0:
        raise NotFoundError("organisation", org_id)
    return found


def subtree_ids(session: Session, *, org_id: int) -> list[int]:
    """Ids of ``org_id`` and everything below it: the fast path for scope checks and filters."""
    ids = [row[0] for row in raw_rows(session, _join_subtree(select(Organisation.id), org_id))]
    if not ids:  # a subtree always holds its root
        raise NotFoundError("organisation", org_id)
    return ids


def ancestors(session: Session, *, org_id: int) -> list[Organisation]:
    """The chain from the root down to ``org_id``'s parent (breadcrumbs)."""
    org = get_organisation(session, org_id=org_id)
    ids = [int(part) for part in org.path.strip("/").split("/")[:-1]]
    if not ids:
        return []
    found = {o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(ids)))}
    return [found[i] for i in ids]


def is_within(session: Session, *, org_id: int, root_id: int) -> bool:
    """Whether ``org_id`` is ``root_id`` or below it: the scope check of every admin request."""
    rows = session.execute(
        select(Organisation.id, Organisation.path).where(Organisation.id.in_((org_id, root_id)))
    )
    paths = {org: path for org, path in rows}
    if org_id not in paths or root_id not in paths:
        return False
    return paths[org_id].startswith(paths[root_id])


def org_scope(session: Session, org_column: Any, *, within_org_id: int) -> ColumnElement[bool]:
    """A filter keeping rows whose ``org_column`` lies in ``within_org_id``'s subtree (none
    when that organisation does not exist)."""
    scope: ColumnElement[bool] = org_column.in_(
        _join_subtree(select(Organisation.id), within_org_id)
    )
    return scope


def update_organisation(
    session: Session,
    *,
    org_id: int,
    name: str | None = None,
    kind: OrgKind | None = None,
    code: str | None = None,
) -> Organisation:
    """Change the given fields (None leaves a field as it is)."""
    org = get_organisation(session, org_id=org_id)
    if code is not None and code != org.code:
        _refuse_duplicate_code(session, code)
        org.code = code
    if name is not None:
        org.name = name
    if kind is not None:
        org.kind = kind
    session.flush()
    return org


def move_organisation(session: Session, *, org_id: int, new_parent_id: int | None) -> Organisation:
    """Move ``org_id`` with its whole subtree under ``new_parent_id`` (None: make it a root)."""
    org = get_organisation(session, org_id=org_id)
    if new_parent_id is None:
        new_prefix, new_depth = "/", 0
    else:
        parent = get_organisation(session, org_id=new_parent_id)
        if parent.path.startswith(org.path):
            raise ConflictError(
                f"cannot move organisation {org_id} under {new_parent_id}: it is in its subtree"
            )
        new_prefix, new_depth = parent.path, parent.depth + 1
    old_path = org.path
    new_path = f"{new_prefix}{org.id}/"
    if new_path == old_path:
        return org
    lo, hi = subtree_bounds(old_path)
    session.execute(
        update(Organisation)
        .where(Organisation.path >= lo, Organisation.path < hi)
        .values(
            path=new_path + func.substr(Organisation.path, len(old_path) + 1),
            depth=Organisation.depth + (new_depth - org.depth),
        )
        .execution_options(synchronize_session="fetch")
    )
    org.parent_id = new_parent_id
    session.flush()
    session.refresh(org)
    return org


def delete_organisation(session: Session, *, org_id: int) -> None:
    """Delete an empty leaf; refuse while children, members, sites, meetings, meeting plans,
    display tokens or users remain."""
    org = get_organisation(session, org_id=org_id)
    for what, column in (
        ("child organisations", Organisation.parent_id),
        ("members", Member.org_id),
        ("sites", SiteRow.org_id),
        ("meetings", MeetingRow.org_id),
        ("meeting plans", MeetingPlanRow.org_id),
        ("display tokens", DisplayTokenRow.org_id),
        ("users", User.org_id),
    ):
        if session.scalar(select(exists().where(column == org_id))):
            raise ConflictError(f"organisation {org_id} still has {what}")
    session.delete(org)
    session.flush()


def _join_subtree(stmt: SelectT, root_id: int) -> SelectT:
    """Restrict ``stmt`` over organisations to ``root_id``'s subtree, in one statement: the
    root's path is looked up by primary key and bounds a range scan of the path index."""
    root = aliased(Organisation)
    upper = func.substr(root.path, 1, func.length(root.path) - 1, type_=String) + "0"
    return stmt.join(root, (Organisation.path >= root.path) & (Organisation.path < upper)).where(
        root.id == root_id
    )


def _refuse_duplicate_code(session: Session, code: str) -> None:
    if find_organisation(session, code=code) is not None:
        raise ConflictError(f"an organisation with code {code!r} already exists")
