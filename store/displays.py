"""Display tokens: read-only access for an activity centre's big screen (大屏), bound to a
subtree of the organisation.

A token is 256 random bits shown once (``pmd_…``) and kept only as its sha256, looked up by
that hash (a lookup that reveals nothing: the hash of an unguessable secret). Revoking keeps
the row. A display's reads are audited under its own name (:attr:`Display.actor`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.errors import ConflictError, NotFoundError
from store.models import DisplayTokenRow, Organisation
from store.orgs import get_organisation, org_scope
from store.query import page
from store.types import utcnow

PREFIX = "pmd_"
# A display reads every few seconds: its last use is written at most this often.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Display:
    id: int
    name: str
    org_id: int | None
    org_path: str | None  # None: the whole tree
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def actor(self) -> str:
        """How its reads appear in the audit log."""
        return f"display:{self.id}:{self.name}"[:100]


def create_display(
    session: Session, *, name: str, org_id: int | None, created_by: str
) -> tuple[Display, str]:
    """A new display token for ``org_id``'s subtree (None: the whole tree); the token itself
    is returned once and never stored."""
    if org_id is not None:
        get_organisation(session, org_id=org_id)
    token = PREFIX + secrets.token_urlsafe(32)
    row = DisplayTokenRow(
        name=name,
        org_id=org_id,
        token_hash=_hash(token),
        created_at=utcnow(),
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return _display(session, row), token


def get_display(session: Session, *, display_id: int) -> Display:
    return _display(session, _row(session, display_id))


def list_displays(
    session: Session, *, within_org_id: int | None = None, limit: int | None = 100, offset: int = 0
) -> list[Display]:
    """Displays of the subtree (with None: every display, whole-tree ones included)."""
    stmt = select(DisplayTokenRow).order_by(DisplayTokenRow.id)
    if within_org_id is not None:
        stmt = stmt.where(org_scope(session, DisplayTokenRow.org_id, within_org_id=within_org_id))
    return [_display(session, r) for r in session.scalars(page(stmt, limit=limit, offset=offset))]


def revoke_display(session: Session, *, display_id: int, now: datetime | None = None) -> Display:
    row = _row(session, display_id)
    if row.revoked_at is not None:
        raise ConflictError(f"display token {display_id} is already revoked")
    row.revoked_at = now or utcnow()
    session.flush()
    return _display(session, row)


def display_for_token(
    session: Session, *, token: str, now: datetime | None = None
) -> Display | None:
    """The live display a token belongs to, or None (unknown, malformed or revoked)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = session.scalars(
        select(DisplayTokenRow).where(DisplayTokenRow.token_hash == _hash(token))
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    stamp = now or utcnow()
    if row.last_used_at is None or stamp - row.last_used_at > TOUCH_EVERY:
        row.last_used_at = stamp
        session.flush()
    return _display(session, row)


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _row(session: Session, display_id: int) -> DisplayTokenRow:
    row = session.get(DisplayTokenRow, display_id)
    if row is None:
        raise NotFoundError("display token", display_id)
    return row


def _display(session: Session, row: DisplayTokenRow) -> Display:
    path = None
    if row.org_id is not None:
        org = session.get(Organisation, row.org_id)
        path = org.path if org is not None else None
    return Display(
        id=row.id,
        name=row.name,
        org_id=row.org_id,
        org_path=path,
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )
