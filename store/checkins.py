"""Check-ins made at a meeting from a member's phone: its position or the meeting's code.

One per member and meeting, claimed with ``INSERT … ON CONFLICT DO NOTHING``, so any number of
API processes answering the same member at once record it once. They count for attendance
beside the member's visits (:func:`meeting_visits`), as far as the site's evidence policy
(:class:`geo.model.EvidencePolicy`) admits them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from geo.model import EvidenceKind, EvidencePolicy, Visit
from store.errors import ConflictError, NotFoundError
from store.models import MeetingCheckinRow, SiteRow
from store.query import page


@dataclass(frozen=True, slots=True)
class MeetingCheckin:
    id: int
    meeting_id: int
    member_id: int
    site_id: int
    device_id: int | None
    evidence: EvidenceKind
    at: datetime
    received_at: datetime
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    detail: dict[str, Any] | None


def site_policy(session: Session, *, site_id: int) -> EvidencePolicy:
    """The site's evidence policy (its own, else its kind's default)."""
    row = session.get(SiteRow, site_id)
    if row is None:
        raise NotFoundError("site", site_id)
    if row.evidence_policy is not None:
        return EvidencePolicy(row.evidence_policy)
    return EvidencePolicy.default_for(row.kind)


def site_policies(session: Session, *, site_ids: Collection[int]) -> dict[int, EvidencePolicy]:
    """The evidence policy of each of these sites, in one query."""
    if not site_ids:
        return {}
    rows = session.execute(
        select(SiteRow.id, SiteRow.kind, SiteRow.evidence_policy).where(
            SiteRow.id.in_(list(site_ids))
        )
    )
    return {
        r.id: EvidencePolicy(r.evidence_policy)
        if r.evidence_policy is not None
        else EvidencePolicy.default_for(r.kind)
        for r in rows
    }


def set_site_policy(session: Session, *, site_id: int, policy: EvidencePolicy | None) -> None:
    """Set (None: reset to its kind's default) the site's evidence policy; the caller commits."""
    row = session.get(SiteRow, site_id)
    if row is None or row.deleted_at is not None:
        raise NotFoundError("site", site_id)
    row.evidence_policy = None if policy is None else policy.value
    session.flush()


def record_meeting_checkin(
    session: Session,
    *,
    meeting_id: int,
    member_id: int,
    site_id: int,
    evidence: EvidenceKind,
    at: datetime,
    received_at: datetime,
    device_id: int | None = None,
    lat: float | None = None,
    lon: float | None = None,
    accuracy_m: float | None = None,
    detail: dict[str, Any] | None = None,
) -> MeetingCheckin:
    """Record the member's check-in at the meeting; :class:`ConflictError` if they have one."""
    values = {
        "meeting_id": meeting_id,
        "member_id": member_id,
        "site_id": site_id,
        "device_id": device_id,
        "evidence": evidence,
        "at": at,
        "received_at": received_at,
        "lat": lat,
        "lon": lon,
        "accuracy_m": accuracy_m,
        "detail": detail,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    c = MeetingCheckinRow.__table__.c
    stmt = (
        insert(MeetingCheckinRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[c.meeting_id, c.member_id])
        .returning(c.id)
    )
    new_id = session.execute(stmt).scalar()
    if new_id is None:
        raise ConflictError(f"member {member_id} has already checked in at meeting {meeting_id}")
    return MeetingCheckin(id=new_id, **values)  # type: ignore[arg-type]


def _of(row: MeetingCheckinRow) -> MeetingCheckin:
    return MeetingCheckin(
        row.id,
        row.meeting_id,
        row.member_id,
        row.site_id,
        row.device_id,
        row.evidence,
        row.at,
        row.received_at,
        row.lat,
        row.lon,
        row.accuracy_m,
        row.detail,
    )


def list_meeting_checkins(
    session: Session,
    *,
    member_id: int | None = None,
    meeting_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[MeetingCheckin]:
    """Newest first."""
    stmt = select(MeetingCheckinRow)
    if member_id is not None:
        stmt = stmt.where(MeetingCheckinRow.member_id == member_id)
    if meeting_id is not None:
        stmt = stmt.where(MeetingCheckinRow.meeting_id == meeting_id)
    stmt = stmt.order_by(MeetingCheckinRow.at.desc(), MeetingCheckinRow.id.desc())
    return [_of(r) for r in session.scalars(page(stmt, limit=limit, offset=offset))]


def meeting_visits(
    session: Session, *, meeting_id: int, site_id: int, member_ids: Collection[int]
) -> list[Visit]:
    """The meeting's phone and code check-ins the site's policy admits, as visits that
    begin at the check-in and go on (a code proves arrival, not departure)."""
    if not member_ids:
        return []
    policy = site_policy(session, site_id=site_id)
    rows = session.scalars(
        select(MeetingCheckinRow).where(
            MeetingCheckinRow.meeting_id == meeting_id,
            MeetingCheckinRow.member_id.in_(list(member_ids)),
        )
    )
    return [
        Visit(r.member_id, site_id, r.at, None, r.at, False, r.evidence)
        for r in rows
        if policy.admits(r.evidence)
    ]
