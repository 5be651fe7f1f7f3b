"""Which of a device's fix times are already stored: what a re-sent submission checks so that
a fix committed just before a crash (and so never acknowledged) is not stored twice.

One indexed range read per submission: positions are indexed by member and fix time (and by
device and fix time for devices nobody carries), so the query names the device's member.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Position


def stored_fix_times(
    session: Session, *, device_id: int, member_id: int | None, times: Sequence[datetime]
) -> set[datetime]:
    """The times among ``times`` (aware, UTC) at which the device already has a position."""
    if not times:
        return set()
    member = Position.member_id.is_(None) if member_id is None else Position.member_id == member_id
    stmt = select(Position.fix_time).where(
        member,
        Position.device_id == device_id,
        Position.fix_time >= min(times),
        Position.fix_time <= max(times),
    )
    wanted = {t.astimezone(UTC) for t in times}
    return {t.astimezone(UTC) for t in session.scalars(stmt)} & wanted
