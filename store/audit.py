"""The audit log: every read of a member's positions or track, and other sensitive actions.

Location is personal data (DESIGN §6). The caller writes the entry in the same transaction as
the read it reports, so a read that happened is never missing from the log.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from store.models import AuditEntry
from store.query import in_window, matching, page
from store.types import UTCDateTime, json_type, utcnow


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    subject_member_id: int | None = None,
    actor_user_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Log that ``actor`` did ``action`` to ``subject_member_id``'s data."""
    entry = AuditEntry(
        at=at or utcnow(),
        actor=actor,
        actor_user_id=actor_user_id,
        action=action,
        subject_member_id=subject_member_id,
        detail=dict(detail) if detail is not None else None,
    )
    session.add(entry)
    session.flush()
    return entry


def record_audit_many(
    session: Session,
    *,
    actor: str,
    action: str,
    subject_member_ids: Iterable[int],
    actor_user_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> int:
    """One entry per subject for a read that returned many members (a branch's positions).

    Returns the number of entries written. The entries go in with one statement whatever
    their number (the subjects travel as one array), so auditing the 2,000 members of a map
    view costs about what one entry does.
    """
    ids = [int(m) for m in subject_member_ids]
    if not ids:
        return 0
    postgres = session.get_bind().dialect.name == "postgresql"
    subjects = "unnest(CAST(:ids AS integer[])) AS s(value)" if postgres else "json_each(:ids) AS s"
    stmt = text(
        "INSERT INTO audit_log (at, actor, actor_user_id, action, subject_member_id, detail) "
        f"SELECT :at, :actor, :actor_user_id, :action, s.value, :detail FROM {subjects}"
    ).bindparams(
        bindparam("at", type_=UTCDateTime()),
        bindparam("detail", type_=json_type()),
    )
    session.execute(
        stmt,
        {
            "at": at or utcnow(),
            "actor": actor,
            "actor_user_id": actor_user_id,
            "action": action,
            "detail": dict(detail) if detail is not None else None,
            "ids": ids if postgres else json.dumps(ids),
        },
    )
    return len(ids)


def list_audit(
    session: Session,
    *,
    subject_member_id: int | None = None,
    actor_user_id: int | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = 100,
    offset: int = 0,
) -> list[AuditEntry]:
    """Entries newest first, filtered by subject, actor, action and [since, until)."""
    stmt = (
        select(AuditEntry)
        .where(
            *matching(
                (AuditEntry.subject_member_id, subject_member_id),
                (AuditEntry.actor_user_id, actor_user_id),
                (AuditEntry.action, action),
            ),
            *in_window(AuditEntry.at, since, until),
        )
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    )
    return list(session.scalars(page(stmt, limit=limit, offset=offset)))
