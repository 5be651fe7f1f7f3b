"""Alerts raised once each, for the live stream: overdue meetings, absence streaks, meetings
below the attendance threshold.

An alert is a row with a unique ``key`` (``low_attendance:42``): whoever raises it first
inserts it, and raising it again does nothing, so any number of server processes may run
the same checks. Every process tails the table (:func:`alerts_since`) and publishes the rows
it has not published yet on its own live feed, so each stream sees each alert once whatever
process raised it. (The tail reads a time window rather than "ids above the last": on
PostgreSQL a smaller id may commit after a larger one.)
The alert lists of the API are computed from the data itself (:mod:`store.stats`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import AlertRow, Organisation
from store.types import utcnow

OVERDUE = "overdue"  # 逾期未开展
ABSENT_STREAK = "absent_streak"  # 连续缺席
LOW_ATTENDANCE = "low_attendance"  # 出席率偏低
KINDS = (OVERDUE, ABSENT_STREAK, LOW_ATTENDANCE)


@dataclass(frozen=True, slots=True)
class AlertRules:
    """When to raise: ``absent_streak`` meetings missed in a row, attendance below
    ``min_rate`` (a share, 0–1)."""

    absent_streak: int = 3
    min_rate: float = 0.8


@dataclass(frozen=True, slots=True)
class RaisedAlert:
    id: int
    kind: str
    org_id: int
    org_path: str | None
    member_id: int | None
    meeting_id: int | None
    raised_at: datetime
    detail: dict[str, Any]

    def event(self) -> dict[str, Any]:
        """The live feed's event (``type`` ``alert``), filtered by ``org_path`` per caller."""
        return {
            "type": "alert",
            "alert": self.kind,
            "id": self.id,
            "org_id": self.org_id,
            "org_path": self.org_path,
            "member_id": self.member_id,
            "meeting_id": self.meeting_id,
            "time": self.raised_at.isoformat(),
            **self.detail,
        }


def raise_alert(
    session: Session,
    *,
    kind: str,
    key: str,
    org_id: int,
    member_id: int | None = None,
    meeting_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> bool:
    """Insert the alert unless one with ``key`` exists; whether it was new."""
    values = {
        "kind": kind,
        "key": key,
        "org_id": org_id,
        "member_id": member_id,
        "meeting_id": meeting_id,
        "raised_at": now or utcnow(),
        "detail": dict(detail or {}),
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(AlertRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(AlertRow.id)
    )
    return session.execute(stmt).scalar() is not None


def alerts_since(session: Session, *, since: datetime, limit: int = 10_000) -> list[RaisedAlert]:
    """Alerts raised at or after ``since``, oldest first, with their organisation's current
    path."""
    rows = session.execute(
        select(AlertRow, Organisation.path)
        .outerjoin(Organisation, Organisation.id == AlertRow.org_id)
        .where(AlertRow.raised_at >= since)
        .order_by(AlertRow.id)
        .limit(limit)
    )
    return [
        RaisedAlert(
            id=a.id,
            kind=a.kind,
            org_id=a.org_id,
            org_path=path,
            member_id=a.member_id,
            meeting_id=a.meeting_id,
            raised_at=a.raised_at,
            detail=dict(a.detail or {}),
        )
        for a, path in rows
    ]
