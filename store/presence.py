"""Presence as the map shows it: which members are arriving at, present at or leaving a site.

The ingestion pipeline keeps the presence state machine in memory and, with every batch that
changes it, saves the pairs that moved here in the same transaction as their positions and
events. A pair back to OUTSIDE is deleted: no row means "not at that site". The map combines
this with the latest positions: present (a present or leaving row), arriving, outside (a fresh
fix and no row) or stale (the latest fix is too old).

The daemon also keeps the rest of its tracker's state with each row (:class:`TrackedPresence`:
when LEAVING began, the check-in evidence gathered so far), so that after a restart it carries on
exactly where the last committed batch left it.

>>> from datetime import UTC, datetime
>>> row = PresenceRow(member_id=7, site_id=3, state="arriving",
...                   since=datetime(2026, 5, 1, 8, 0, tzinfo=UTC), checkin_at=None)
>>> row.key
(7, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.errors import InvalidValueError
from store.models import Member, PresenceStateRow
from store.orgs import org_scope
from store.query import matching
from store.rawsql import raw_rows
from store.types import utcnow

STATES = ("arriving", "present", "leaving")

_TABLE = cast(Table, PresenceStateRow.__table__)


@dataclass(frozen=True, slots=True)
class PresenceRow:
    """One (member, site) pair that is not OUTSIDE; ``since`` is the stay's first inside fix."""

    member_id: int
    site_id: int
    state: str  # "arriving" | "present" | "leaving"
    since: datetime
    checkin_at: datetime | None

    @property
    def key(self) -> tuple[int, int]:
        return (self.member_id, self.site_id)


@dataclass(frozen=True, slots=True)
class TrackedPresence:
    """A row with the tracker state behind it (what the ingestion daemon saves and restores)."""

    row: PresenceRow
    leaving_at: datetime | None = None  # the first outside fix, while LEAVING
    evidence: dict[str, Any] | None = None  # the check-in evidence so far; opaque to the store


def save_presence(
    session: Session,
    *,
    rows: Sequence[PresenceRow | TrackedPresence],
    cleared: Sequence[tuple[int, int]],
    now: datetime | None = None,
) -> None:
    """Upsert ``rows`` and delete the ``cleared`` (member_id, site_id) pairs (back to OUTSIDE).

    Deletions run first, so a pair that left and came back within one batch ends up with its
    row. Of several rows for one pair the last one wins. A plain :class:`PresenceRow` is
    saved without tracker state.
    """
    if cleared:
        gone = delete(_TABLE).where(
            _TABLE.c.member_id == bindparam("m"), _TABLE.c.site_id == bindparam("s")
        )
        session.execute(gone, [{"m": m, "s": s} for m, s in dict.fromkeys(cleared)])
    if not rows:
        return
    updated_at = now or utcnow()
    tracked = [row if isinstance(row, TrackedPresence) else TrackedPresence(row) for row in rows]
    latest = {t.row.key: t for t in tracked}
    values = [_values(t, updated_at) for t in latest.values()]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(_TABLE)
    changed = ("state", "since", "checkin_at", "updated_at", "leaving_at", "evidence")
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[_TABLE.c.member_id, _TABLE.c.site_id],
            set_={name: stmt.excluded[name] for name in changed},
        ),
        values,
    )


def list_presence(
    session: Session,
    *,
    within_org_id: int | None = None,
    member_ids: Sequence[int] | None = None,
    site_id: int | None = None,
) -> list[PresenceRow]:
    """Pairs not OUTSIDE, by member then site; filters combine (None: no filter)."""
    t = PresenceStateRow
    conditions = matching((t.site_id, site_id))
    if member_ids is not None:
        conditions.append(t.member_id.in_(list(member_ids)))
    if within_org_id is not None:
        members = select(Member.id).where(
            org_scope(session, Member.org_id, within_org_id=within_org_id)
        )
        conditions.append(t.member_id.in_(members))
    stmt = (
        select(t.member_id, t.site_id, t.state, t.since, t.checkin_at)
        .where(*conditions)
        .order_by(t.member_id, t.site_id)
    )
    # Raw rows: the whole tree's presence can run to many thousands of rows.
    rows = raw_rows(session, cast(Select[Any], stmt), sqlite_time_columns=(3, 4))
    return [PresenceRow(*r) for r in rows]


def load_tracked_presence(session: Session) -> list[TrackedPresence]:
    """Every pair not OUTSIDE with its tracker state: what a starting daemon restores."""
    t = PresenceStateRow
    stmt = select(
        t.member_id, t.site_id, t.state, t.since, t.checkin_at, t.leaving_at, t.evidence
    ).order_by(t.member_id, t.site_id)
    return [
        TrackedPresence(PresenceRow(*r[:5]), leaving_at=r.leaving_at, evidence=r.evidence)
        for r in session.execute(stmt)
    ]


def _values(tracked: TrackedPresence, updated_at: datetime) -> dict[str, object]:
    row = tracked.row
    if row.state not in STATES:
        raise InvalidValueError(f"presence state {row.state!r} is not one of {STATES}")
    return {
        "member_id": row.member_id,
        "site_id": row.site_id,
        "state": row.state,
        "since": row.since,
        "checkin_at": row.checkin_at,
        "updated_at": updated_at,
        "leaving_at": tracked.leaving_at,
        "evidence": tracked.evidence,
    }
