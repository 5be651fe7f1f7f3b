"""Presence events written in bulk: the ingestion pipeline's path to visits and check-ins.

:func:`store.visits.record_presence_events` finds and updates one visit row per event through
the ORM — clear, and the definition of what an event does to a visit. When thousands of members
check in within seconds (a shift starting at a worksite) that is a round trip per event, so the
pipeline writes a batch's events with two ``executemany`` upserts on the visit key (member,
site, first inside fix) instead, with the same outcome (tests compare both).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Table, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from geo.model import CheckIn, VisitEnded
from store.models import VisitRow
from store.visits import with_source_kinds

_TABLE = cast(Table, VisitRow.__table__)
_KEY = [_TABLE.c.member_id, _TABLE.c.site_id, _TABLE.c.start_at]


def write_presence_events(session: Session, *, events: Iterable[CheckIn | VisitEnded]) -> int:
    """Record a batch of events (check-ins before visit ends); returns how many there were."""
    checkins: dict[tuple[Any, ...], dict[str, Any]] = {}
    ends: dict[tuple[Any, ...], dict[str, Any]] = {}
    count = 0
    events = list(events)
    made = iter(with_source_kinds(session, [e for e in events if isinstance(e, CheckIn)]))
    for event in events:
        count += 1
        if isinstance(event, CheckIn):
            c = next(made)
            checkins[(c.member_id, c.site_id, c.time)] = {
                "member_id": c.member_id,
                "site_id": c.site_id,
                "start_at": c.time,
                "checkin_at": c.time,
                "beidou_verified": c.beidou_verified,
                "evidence": c.evidence.to_json(),
            }
        else:
            ends[(event.member_id, event.site_id, event.start)] = {
                "member_id": event.member_id,
                "site_id": event.site_id,
                "start_at": event.start,
                "end_at": event.end,
                # A check-in is timed at the first inside fix.
                "checkin_at": event.start if event.checked_in else None,
                "beidou_verified": False,
                "evidence": None,
            }
    if checkins:
        _upsert(session, list(checkins.values()), "checkin_at", "beidou_verified", "evidence")
    if ends:
        # A visit closed after its check-in keeps the check-in's time.
        _upsert(session, list(ends.values()), "end_at", keep="checkin_at")
    return count


def _upsert(
    session: Session, rows: list[dict[str, Any]], *replace: str, keep: str | None = None
) -> None:
    """Insert visits; a visit already there takes the ``replace`` columns from the new row,
    and the ``keep`` column only where it has none yet."""
    dialect = session.get_bind().dialect.name
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_TABLE)
    changes: dict[str, Any] = {name: stmt.excluded[name] for name in replace}
    if keep is not None:
        changes[keep] = func.coalesce(_TABLE.c[keep], stmt.excluded[keep])
    session.execute(stmt.on_conflict_do_update(index_elements=_KEY, set_=changes), rows)
