"""Replay offsets: how far each source's stream is safely stored.

The ingestion pipeline writes a batch of positions and the offset just past the last line
they came from in one transaction. After a crash the replay resumes from the committed offset:
no fix is lost and none is stored twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.errors import InvalidValueError
from store.models import ReplayOffset
from store.types import utcnow


def get_replay_offset(session: Session, *, source: str) -> int | None:
    """The committed offset of ``source``, or None if nothing of it was stored yet."""
    return session.scalar(select(ReplayOffset.offset).where(ReplayOffset.source == source))


def set_replay_offset(
    session: Session, *, source: str, offset: int, now: datetime | None = None
) -> None:
    """Record that ``source`` is stored up to ``offset``; commit it with those positions."""
    if offset < 0:
        raise InvalidValueError(f"offset {offset} of {source!r} is negative")
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(ReplayOffset).values(source=source, offset=offset, updated_at=now or utcnow())
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[ReplayOffset.source],
            set_={"offset": stmt.excluded.offset, "updated_at": stmt.excluded.updated_at},
        )
    )
