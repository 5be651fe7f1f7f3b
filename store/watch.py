"""What the committee is alerted to: organisations whose last whole period passed without a
required meeting (逾期未开展), members absent from N recorded meetings in a row (连续缺席),
recorded meetings below an attendance rate (出席率偏低).

Each is one query over the subtree; the API lists them, and the meeting task raises the new
ones as alerts on the live stream (:mod:`store.alerts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from geo.meetings.recurrence import period_of, zone
from geo.model import MeetingKind
from store.meetings import Summary
from store.models import AbsenceRunRow, MeetingRow, MeetingStatus, Member, Organisation
from store.orgs import org_scope
from store.stats import Requirement, local_midnight


@dataclass(frozen=True, slots=True)
class Overdue:
    org_id: int
    org_name: str
    org_path: str
    kind: MeetingKind
    period_start: date
    period_end: date  # exclusive
    held: int
    required: int


def overdue(
    session: Session,
    *,
    root_id: int | None,
    requirements: Sequence[Requirement],
    tz: str,
    now: datetime,
    grace: timedelta = timedelta(0),
) -> list[Overdue]:
    """Organisations whose last whole period (ended at least ``grace`` ago) held fewer
    meetings of a required kind than required, by kind then path."""
    found: list[Overdue] = []
    for req in requirements:
        period = last_period(req.period, tz, now - grace)
        lo, hi = local_midnight(period[0], tz), local_midnight(period[1], tz)
        m = MeetingRow
        held = func.count(m.id)
        stmt = (
            select(Organisation.id, Organisation.name, Organisation.path, held)
            .outerjoin(
                m,
                and_(
                    m.org_id == Organisation.id,
                    m.kind == req.kind,
                    m.start_at >= lo,
                    m.start_at < hi,
                    m.status == MeetingStatus.SCHEDULED,
                    m.end_at <= now,
                ),
            )
            .where(
                Organisation.kind.in_(sorted(req.org_kinds, key=lambda k: k.value)),
                Organisation.created_at <= lo,
            )
            .group_by(Organisation.id, Organisation.name, Organisation.path)
            .having(held < req.count)
            .order_by(Organisation.path)
        )
        if root_id is not None:
            stmt = stmt.where(org_scope(session, Organisation.id, within_org_id=root_id))
        found += [
            Overdue(org_id, name, path, req.kind, period[0], period[1], int(n), req.count)
            for org_id, name, path, n in session.execute(stmt).all()
        ]
    return found


def last_period(period: str, tz: str, now: datetime) -> tuple[date, date]:
    """The whole period before the one holding ``now`` (local dates)."""
    today = now.astimezone(zone(tz)).date()
    lo, _ = period_of(today, period)
    return period_of(lo - timedelta(days=1), period)


@dataclass(frozen=True, slots=True)
class Streak:
    member_id: int
    name: str
    org_id: int
    org_path: str
    absent_run: int
    last_meeting_id: int | None


def absent_streaks(
    session: Session,
    *,
    root_id: int | None,
    at_least: int,
    limit: int | None = None,
    offset: int = 0,
) -> list[Streak]:
    """Active members whose latest ``at_least`` (or more) recorded meetings were all absences,
    longest run first."""
    stmt = (
        select(
            Member.id,
            Member.name,
            Member.org_id,
            Organisation.path,
            AbsenceRunRow.absent_run,
            AbsenceRunRow.last_meeting_id,
        )
        .join(Member, Member.id == AbsenceRunRow.member_id)
        .join(Organisation, Organisation.id == Member.org_id)
        .where(AbsenceRunRow.absent_run >= at_least, Member.active.is_(True))
        .order_by(AbsenceRunRow.absent_run.desc(), Member.id)
        .offset(offset)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    if root_id is not None:
        stmt = stmt.where(org_scope(session, Member.org_id, within_org_id=root_id))
    return [Streak(*row) for row in session.execute(stmt).all()]


@dataclass(frozen=True, slots=True)
class LowMeeting:
    meeting_id: int
    org_id: int
    org_path: str
    kind: MeetingKind
    title: str
    start: datetime
    tz: str
    attendance: Summary


def low_attendance(
    session: Session,
    *,
    root_id: int | None,
    below: float,
    start: datetime,
    end: datetime,
    limit: int | None = None,
    offset: int = 0,
) -> list[LowMeeting]:
    """Recorded meetings starting in [start, end) whose 实到 / 应到 is below ``below``,
    newest first."""
    m = MeetingRow
    attended = m.present_n + m.late_n + m.left_early_n
    stmt = (
        select(m, Organisation.path)
        .join(Organisation, Organisation.id == m.org_id)
        .where(
            m.recorded_at.is_not(None),
            m.status == MeetingStatus.SCHEDULED,
            m.expected_n > 0,
            attended < m.expected_n * below,
            m.start_at >= start,
            m.start_at < end,
        )
        .order_by(m.start_at.desc(), m.id.desc())
        .offset(offset)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    if root_id is not None:
        stmt = stmt.where(org_scope(session, m.org_id, within_org_id=root_id))
    return [
        LowMeeting(
            meeting_id=row.id,
            org_id=row.org_id,
            org_path=path,
            kind=row.kind,
            title=row.title,
            start=row.start_at,
            tz=row.tz,
            attendance=Summary(
                expected=row.expected_n or 0,
                present=row.present_n or 0,
                late=row.late_n or 0,
                left_early=row.left_early_n or 0,
                absent=row.absent_n or 0,
                excused=row.excused_n or 0,
            ),
        )
        for row, path in session.execute(stmt).all()
    ]
