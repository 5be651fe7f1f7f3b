"""Meetings counted per (organisation, kind, month of the reporting zone), kept as they change.

The statistics of a year of a large tree would otherwise group every meeting of the year; for
the months that are over they read :class:`store.models.MeetingRollupRow` instead (see
:mod:`store.stats`). A rollup row holds what the statistics sum: the meetings not cancelled,
how many are recorded, and their attendance numbers. Months are ``year × 12 + month − 1`` in
the zone recorded in ``meeting_rollup_zone``; with no zone (never built, or built for another
zone) the statistics count the meetings themselves.

Upkeep: every flush that adds, changes or deletes a meeting row through the ORM recounts the
rows of its month, before and after the change (:func:`_collect`, :func:`_recount`); the few
bulk statements on meetings call :func:`refresh` themselves. A recount locks its rollup row
first, so two transactions recounting one month never lose each other's meeting.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import chain
from typing import Any

from sqlalchemy import Connection, delete, event, func, inspect, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from geo.meetings.recurrence import to_utc, zone
from geo.model import MeetingKind
from store.models import MeetingRollupRow, MeetingRollupZone, MeetingRow, MeetingStatus

# (organisation, kind, UTC start) of a meeting whose month is to be recounted.
Key = tuple[int, MeetingKind, datetime]
_PENDING = "partymap_rollup_keys"
SUMS = ("expected", "present", "late", "left_early", "absent", "excused")


def month_index(when: datetime, tz: str) -> int:
    """The month of the instant ``when`` in ``tz``: year × 12 + month − 1."""
    local = when.astimezone(zone(tz))
    return local.year * 12 + local.month - 1


def month_start(index: int, tz: str) -> datetime:
    """The UTC instant month ``index`` begins in ``tz``."""
    year, month = divmod(index, 12)
    return to_utc(datetime(year, month + 1, 1), tz, strict=False)


def built_zone(session: Session | Connection) -> str | None:
    """The zone the rollup counts months in (None: not built)."""
    return session.execute(select(MeetingRollupZone.tz).limit(1)).scalar_one_or_none()


def ensure(session: Session, tz: str) -> int | None:
    """Build the rollup in ``tz`` unless it is already (the rows made, or None). Processes
    starting together build it once: the second waits, then finds it built."""
    _lock(session)
    if built_zone(session) == tz:
        return None
    return rebuild(session, tz)


def _lock(session: Session) -> None:
    # Meetings cannot change until the caller commits (none is missed), and one rebuild at a
    # time (this mode conflicts with itself).
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE meetings IN SHARE ROW EXCLUSIVE MODE"))


def rebuild(session: Session, tz: str) -> int:
    """Count every meeting again, in months of ``tz``; returns the rows made. Meetings are
    locked against changes until the caller commits, so none is missed."""
    _lock(session)
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    connection.execute(delete(MeetingRollupRow))
    connection.execute(delete(MeetingRollupZone))
    m = MeetingRow
    if postgres:
        local = func.timezone(tz, m.start_at)
        month = (func.extract("year", local) * 12 + func.extract("month", local) - 1).cast(
            MeetingRollupRow.month.type
        )
        grouped = (
            select(
                m.org_id,
                m.kind,
                month,
                func.count(),
                func.count(m.recorded_at),
                *(func.coalesce(func.sum(getattr(m, f"{s}_n")), 0) for s in SUMS),
            )
            .where(m.status == MeetingStatus.SCHEDULED)
            .group_by(m.org_id, m.kind, month)
        )
        columns = ["org_id", "kind", "month", "n", "recorded", *SUMS]
        connection.execute(postgresql.insert(MeetingRollupRow).from_select(columns, grouped))
        made = connection.execute(select(func.count()).select_from(MeetingRollupRow)).scalar()
    else:
        rows: dict[tuple[int, MeetingKind, int], list[int]] = {}
        for org_id, kind, start, recorded_at, *sums in connection.execute(
            select(
                m.org_id, m.kind, m.start_at, m.recorded_at, *(getattr(m, f"{s}_n") for s in SUMS)
            ).where(m.status == MeetingStatus.SCHEDULED)
        ):
            row = rows.setdefault((org_id, kind, month_index(start, tz)), [0] * 8)
            row[0] += 1
            row[1] += recorded_at is not None
            for i, value in enumerate(sums):
                row[2 + i] += value or 0
        if rows:
            connection.execute(
                sqlite.insert(MeetingRollupRow),
                [
                    {"org_id": o, "kind": k, "month": mo, **dict(zip(_COUNTS, v, strict=True))}
                    for (o, k, mo), v in rows.items()
                ],
            )
        made = len(rows)
    connection.execute(
        sqlite.insert(MeetingRollupZone) if not postgres else postgresql.insert(MeetingRollupZone),
        [{"tz": tz, "built_at": datetime.now(UTC)}],
    )
    return int(made or 0)


_COUNTS = ("n", "recorded", *SUMS)


def refresh(session: Session | Connection, keys: Iterable[Key]) -> None:
    """Recount the months of the meetings ``keys`` (no-op when the rollup is not built)."""
    connection = session.connection() if isinstance(session, Session) else session
    keys = list(keys)
    if not keys:
        return
    tz = built_zone(connection)
    if tz is None:
        return
    months = sorted(
        {(org, MeetingKind(kind), month_index(start, tz)) for org, kind, start in keys},
        key=lambda k: (k[0], k[1].value, k[2]),  # one order everywhere: no lock cycles
    )
    for org_id, kind, month in months:
        _recount(connection, org_id, kind, month, tz)


def _recount(connection: Connection, org_id: int, kind: MeetingKind, month: int, tz: str) -> None:
    r, m = MeetingRollupRow, MeetingRow
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(
        insert(r)
        .values(org_id=org_id, kind=kind, month=month, **dict.fromkeys(_COUNTS, 0))
        .on_conflict_do_nothing(index_elements=["org_id", "kind", "month"])
    )
    mine = (r.org_id == org_id, r.kind == kind, r.month == month)
    # Wait for whoever recounts this month now: once they commit, our count sees their meeting.
    connection.execute(select(r.n).where(*mine).with_for_update())
    counted = connection.execute(
        select(
            func.count(),
            func.count(m.recorded_at),
            *(func.coalesce(func.sum(getattr(m, f"{s}_n")), 0) for s in SUMS),
        ).where(
            m.org_id == org_id,
            m.kind == kind,
            m.status == MeetingStatus.SCHEDULED,
            m.start_at >= month_start(month, tz),
            m.start_at < month_start(month + 1, tz),
        )
    ).one()
    if counted[0]:
        values = dict(zip(_COUNTS, (int(v) for v in counted), strict=True))
        connection.execute(update(r).where(*mine).values(**values))
    else:
        connection.execute(delete(r).where(*mine))


def _key(row: MeetingRow, old: bool) -> Key | None:
    state: Any = inspect(row)
    values = []
    for name in ("org_id", "kind", "start_at"):
        history = state.attrs[name].history
        if old and history.deleted:
            values.append(history.deleted[0])
        else:
            values.append(getattr(row, name))
    if any(v is None for v in values):
        return None
    return (values[0], values[1], values[2])


@event.listens_for(Session, "before_flush")
def _collect(session: Session, _context: Any, _instances: Any) -> None:
    """Note the months of the meetings this flush writes: where they were and where they go."""
    found: set[Key] = session.info.setdefault(_PENDING, set())
    for row in chain(session.new, session.dirty, session.deleted):
        if not isinstance(row, MeetingRow):
            continue
        if row in session.dirty and not session.is_modified(row):
            continue
        for old in (True, False):
            if (key := _key(row, old)) is not None:
                found.add(key)


@event.listens_for(Session, "after_flush_postexec")
def _recount_noted(session: Session, _context: Any) -> None:
    keys = session.info.pop(_PENDING, None)
    if keys:
        refresh(session.connection(), keys)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
