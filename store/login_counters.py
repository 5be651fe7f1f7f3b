"""Login attempts counted in the database: one fixed window per key, shared by every API process.

An attempt is counted with one ``INSERT … ON CONFLICT DO UPDATE … WHERE`` statement that both
checks the limit and adds the attempt, so parallel requests (on any number of workers) cannot
all see room for one more: on PostgreSQL the conflicting row is locked while the condition is
evaluated, on SQLite writers are serialised. Keys are opaque strings (callers hash what they
count by); the caller commits.
"""

from __future__ import annotations

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import LoginCounter


def count_attempt(
    session: Session, *, key: str, limit: int, window_s: float, now_s: float
) -> float:
    """Count one attempt under ``key`` if fewer than ``limit`` were counted in its window.

    Returns 0 when counted, else the seconds until the window ends (nothing counted).
    """
    c = LoginCounter.__table__.c
    insert = (
        postgresql.insert(LoginCounter)
        if session.get_bind().dialect.name == "postgresql"
        else sqlite.insert(LoginCounter)
    )
    expired = c.window_start_s <= now_s - window_s
    stmt = (
        insert.values(key=key, window_start_s=now_s, attempts=1)
        .on_conflict_do_update(
            index_elements=[c.key],
            set_={
                "window_start_s": case((expired, now_s), else_=c.window_start_s),
                "attempts": case((expired, 1), else_=c.attempts + 1),
            },
            where=or_(expired, c.attempts < limit),
        )
        .returning(c.attempts)
    )
    if session.execute(stmt).first() is not None:
        return 0.0
    start = session.scalar(select(c.window_start_s).where(c.key == key))
    return max((start or now_s) + window_s - now_s, 1.0)


def uncount_attempt(session: Session, *, key: str) -> None:
    """Take back one attempt under ``key`` (a login that succeeded)."""
    c = LoginCounter.__table__.c
    session.execute(
        update(LoginCounter).where(c.key == key, c.attempts > 0).values(attempts=c.attempts - 1)
    )


def forget(session: Session, *, key: str) -> None:
    session.execute(delete(LoginCounter).where(LoginCounter.key == key))


def purge_expired(session: Session, *, window_s: float, now_s: float) -> None:
    """Drop the windows that ended, so the table holds only keys tried lately."""
    session.execute(delete(LoginCounter).where(LoginCounter.window_start_s <= now_s - window_s))
