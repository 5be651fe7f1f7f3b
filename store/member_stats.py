"""Members' own attendance: each member's figures over a range, and their history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from geo.model import AttendanceOutcome, EvidenceKind, MeetingKind
from store.meetings import Summary
from store.models import AttendanceRow, MeetingRow, Member
from store.orgs import org_scope


@dataclass(frozen=True, slots=True)
class MemberFigures:
    member_id: int
    name: str
    org_id: int
    attendance: Summary


def member_figures(
    session: Session,
    *,
    root_id: int | None,
    start: datetime,
    end: datetime,
    limit: int | None = 100,
    offset: int = 0,
) -> list[MemberFigures]:
    """Each member of the subtree (as placed now) with the recorded statuses of meetings
    starting in [start, end), by member id."""
    a, m = AttendanceRow, MeetingRow

    def of(status: AttendanceOutcome) -> Any:
        return func.sum(case((a.status == status, 1), else_=0))

    stmt = (
        select(
            Member.id,
            Member.name,
            Member.org_id,
            func.count(),
            of(AttendanceOutcome.PRESENT),
            of(AttendanceOutcome.LATE),
            of(AttendanceOutcome.LEFT_EARLY),
            of(AttendanceOutcome.ABSENT),
            of(AttendanceOutcome.EXCUSED),
        )
        .join(a, a.member_id == Member.id)
        .join(m, m.id == a.meeting_id)
        .where(m.start_at >= start, m.start_at < end)
        .group_by(Member.id, Member.name, Member.org_id)
        .order_by(Member.id)
        .offset(offset)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    if root_id is not None:
        stmt = stmt.where(org_scope(session, Member.org_id, within_org_id=root_id))
    return [
        MemberFigures(member_id, name, org_id, Summary(*(int(x or 0) for x in counts)))
        for member_id, name, org_id, *counts in session.execute(stmt).all()
    ]


@dataclass(frozen=True, slots=True)
class HistoryLine:
    meeting_id: int
    org_id: int
    kind: MeetingKind
    title: str
    start: datetime
    tz: str
    status: AttendanceOutcome
    outcome: AttendanceOutcome
    evidence: EvidenceKind | None
    corrected: bool


def member_history(
    session: Session,
    *,
    member_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = 100,
    offset: int = 0,
) -> list[HistoryLine]:
    """A member's recorded attendance, newest meeting first."""
    a, m = AttendanceRow, MeetingRow
    stmt = (
        select(
            m.id,
            m.org_id,
            m.kind,
            m.title,
            m.start_at,
            m.tz,
            a.status,
            a.outcome,
            a.evidence,
            a.correction_id,
        )
        .join(m, m.id == a.meeting_id)
        .where(a.member_id == member_id)
        .order_by(m.start_at.desc(), m.id.desc())
        .offset(offset)
    )
    if start is not None:
        stmt = stmt.where(m.start_at >= start)
    if end is not None:
        stmt = stmt.where(m.start_at < end)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [
        HistoryLine(
            meeting_id=i, org_id=org, kind=kind, title=title, start=at, tz=tz, status=status,
            outcome=outcome,
            evidence=EvidenceKind.MANUAL if corrected is not None else evidence,
            corrected=corrected is not None,
        )
        for i, org, kind, title, at, tz, status, outcome, evidence, corrected in session.execute(
            stmt
        ).all()
    ]  # fmt: skip
