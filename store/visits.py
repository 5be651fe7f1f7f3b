"""Visits and check-ins: what the presence step decided, with the evidence it rested on.

The geo engine emits :class:`geo.model.CheckIn` when a member's presence at a site reaches
PRESENT and :class:`geo.model.VisitEnded` when the stay ends. Both are keyed by (member, site,
first inside fix), so events replayed after a crash update the same row instead of adding one.

A check-in records what source made it (:func:`with_source_kinds`): the positions of its first
and last inside fix say by what they came, so a visit made by a JT/T 808 terminal's fixes rests
on ``terminal`` evidence and one made by a phone's on ``phone``, never on a receiver's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from geo.model import CheckIn, Evidence, EvidenceKind, Visit, VisitEnded
from gnss.model import Constellation, FixQuality
from store.errors import NotFoundError
from store.models import Member, Position, VisitRow
from store.orgs import org_scope
from store.query import in_window, matching, page

# Positions' sources whose fixes are not a receiver's NMEA, weakest last: a check-in made of
# fixes from several takes the weakest (a member's terminal and phone at the same instant).
SOURCE_KINDS = {"jt808": EvidenceKind.TERMINAL, "phone": EvidenceKind.PHONE}
_WEAKNESS = (EvidenceKind.TERMINAL, EvidenceKind.PHONE)
# Members per query: SQLite limits the number of bound parameters.
_CHUNK = 400


def with_source_kinds(session: Session, checkins: Sequence[CheckIn]) -> list[CheckIn]:
    """The check-ins with ``evidence.kind`` set from the sources of their first and last
    inside fixes' accepted positions (which the pipeline stores before its events)."""
    wanted = {
        (c.member_id, t): i for i, c in enumerate(checkins) for t in (c.time, *c.evidence.fix_times)
    }
    kinds: dict[int, EvidenceKind] = {}
    members = sorted({c.member_id for c in checkins})
    times = sorted({t for _, t in wanted})
    for lo in range(0, len(members), _CHUNK):
        rows = session.execute(
            select(Position.member_id, Position.fix_time, Position.source).where(
                Position.member_id.in_(members[lo : lo + _CHUNK]),
                Position.fix_time.in_(times),
                Position.rejections.is_(None),
            )
        )
        for member, fix_time, source in rows:
            i = None if member is None else wanted.get((member, _aware(fix_time)))
            kind = SOURCE_KINDS.get(source)
            if i is None or kind is None:
                continue
            if i not in kinds or _WEAKNESS.index(kind) > _WEAKNESS.index(kinds[i]):
                kinds[i] = kind
    return [
        replace(c, evidence=replace(c.evidence, kind=kinds[i])) if i in kinds else c
        for i, c in enumerate(checkins)
    ]


def _aware(t: datetime) -> datetime:
    # SQLite hands back naive UTC datetimes.
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def record_checkin(session: Session, *, checkin: CheckIn) -> VisitRow:
    """Open (or complete) the visit that this check-in belongs to."""
    (checkin,) = with_source_kinds(session, [checkin])
    row = _find(session, checkin.member_id, checkin.site_id, checkin.time)
    if row is None:
        row = VisitRow(member_id=checkin.member_id, site_id=checkin.site_id, start_at=checkin.time)
        session.add(row)
    row.checkin_at = checkin.time
    row.beidou_verified = checkin.beidou_verified
    row.evidence = checkin.evidence.to_json()
    session.flush()
    return row


def record_visit_end(session: Session, *, ended: VisitEnded) -> VisitRow:
    """Close the visit; a stay that never reached a check-in is recorded closed as well."""
    row = _find(session, ended.member_id, ended.site_id, ended.start)
    if row is None:
        row = VisitRow(
            member_id=ended.member_id,
            site_id=ended.site_id,
            start_at=ended.start,
            beidou_verified=False,
        )
        session.add(row)
    if ended.checked_in and row.checkin_at is None:
        row.checkin_at = ended.start  # a check-in is timed at the first inside fix
    row.end_at = ended.end
    session.flush()
    return row


def record_presence_events(session: Session, *, events: Iterable[CheckIn | VisitEnded]) -> int:
    """Record a batch of presence events in order; returns how many there were."""
    count = 0
    for event in events:
        if isinstance(event, CheckIn):
            record_checkin(session, checkin=event)
        else:
            record_visit_end(session, ended=event)
        count += 1
    return count


def get_visit(session: Session, *, visit_id: int) -> VisitRow:
    row = session.get(VisitRow, visit_id)
    if row is None:
        raise NotFoundError("visit", visit_id)
    return row


def list_visits(
    session: Session,
    *,
    within_org_id: int | None = None,
    member_id: int | None = None,
    site_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    checked_in: bool | None = None,
    limit: int | None = 100,
    offset: int = 0,
) -> list[VisitRow]:
    """Visits overlapping [start, end) (ongoing ones included), newest first."""
    conditions = _scope(session, within_org_id, member_id, site_id)
    if start is not None:
        conditions.append(VisitRow.end_at.is_(None) | (VisitRow.end_at > start))
    if end is not None:
        conditions.append(VisitRow.start_at < end)
    if checked_in is not None:
        has = VisitRow.checkin_at.is_not(None)
        conditions.append(has if checked_in else ~has)
    stmt = select(VisitRow).where(*conditions).order_by(VisitRow.start_at.desc(), VisitRow.id)
    return list(session.scalars(page(stmt, limit=limit, offset=offset)))


def list_checkins(
    session: Session,
    *,
    within_org_id: int | None = None,
    member_id: int | None = None,
    site_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    beidou_verified: bool | None = None,
    limit: int | None = 100,
    offset: int = 0,
) -> list[VisitRow]:
    """Visits that reached a check-in in [start, end), newest first (see :func:`as_checkin`)."""
    conditions = _scope(session, within_org_id, member_id, site_id)
    conditions += [
        VisitRow.checkin_at.is_not(None),
        *in_window(VisitRow.checkin_at, start, end),
        *matching((VisitRow.beidou_verified, beidou_verified)),
    ]
    stmt = select(VisitRow).where(*conditions).order_by(VisitRow.checkin_at.desc(), VisitRow.id)
    return list(session.scalars(page(stmt, limit=limit, offset=offset)))


def visits_overlapping(
    session: Session, *, site_id: int, member_ids: Sequence[int], start: datetime, end: datetime
) -> list[Visit]:
    """The members' visits to the site overlapping [start, end): a meeting's evidence."""
    if not member_ids:
        return []
    stmt = (
        select(VisitRow)
        .where(
            VisitRow.site_id == site_id,
            VisitRow.member_id.in_(list(member_ids)),
            VisitRow.start_at < end,
            VisitRow.end_at.is_(None) | (VisitRow.end_at > start),
        )
        .order_by(VisitRow.member_id, VisitRow.start_at)
    )
    return [as_visit(row) for row in session.scalars(stmt)]


def open_visits(session: Session, *, member_ids: Sequence[int] | None = None) -> list[Visit]:
    """Visits still going on: presence state to restore when the daemon starts."""
    stmt = select(VisitRow).where(VisitRow.end_at.is_(None)).order_by(VisitRow.id)
    if member_ids is not None:
        stmt = stmt.where(VisitRow.member_id.in_(list(member_ids)))
    return [as_visit(row) for row in session.scalars(stmt)]


def as_visit(row: VisitRow) -> Visit:
    return Visit(
        member_id=row.member_id,
        site_id=row.site_id,
        start=row.start_at,
        end=row.end_at,
        checkin_at=row.checkin_at,
        beidou_verified=row.beidou_verified,
        evidence=_kind(row.evidence),
    )


def _kind(evidence: dict[str, Any] | None) -> EvidenceKind | None:
    kind = (evidence or {}).get("kind")
    return None if kind is None else EvidenceKind(kind)


def as_checkin(row: VisitRow) -> CheckIn | None:
    """The check-in of a visit with its evidence, or None if the visit never reached one."""
    if row.checkin_at is None:
        return None
    evidence = evidence_from_json(row.evidence) if row.evidence else Evidence()
    return CheckIn(
        member_id=row.member_id, site_id=row.site_id, time=row.checkin_at, evidence=evidence
    )


def evidence_from_json(data: dict[str, Any]) -> Evidence:
    """The inverse of :meth:`geo.model.Evidence.to_json` (``beidou_verified`` is derived)."""
    return Evidence(
        fix_times=tuple(datetime.fromisoformat(t) for t in data.get("fix_times", ())),
        quality=FixQuality(data.get("quality", 0)),
        hdop=data.get("hdop"),
        accuracy_m=data.get("accuracy_m"),
        sats_used_by_system={
            Constellation(name): n for name, n in data.get("sats_used_by_system", {}).items()
        },
        rule_results=dict(data.get("rule_results", {})),
        fix_count=data.get("fix_count", 0),
        kind=_kind(data),
    )


def _find(session: Session, member_id: int, site_id: int, start: datetime) -> VisitRow | None:
    return session.scalars(
        select(VisitRow).where(
            VisitRow.member_id == member_id,
            VisitRow.site_id == site_id,
            VisitRow.start_at == start,
        )
    ).one_or_none()


def _scope(
    session: Session, within_org_id: int | None, member_id: int | None, site_id: int | None
) -> list[ColumnElement[bool]]:
    conditions = matching((VisitRow.member_id, member_id), (VisitRow.site_id, site_id))
    if within_org_id is not None:
        members = select(Member.id).where(
            org_scope(session, Member.org_id, within_org_id=within_org_id)
        )
        conditions.append(VisitRow.member_id.in_(members))
    return conditions
