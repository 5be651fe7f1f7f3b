"""Statistics of 三会一课 for the committee's assessment (考核), and the alerts it watches for.

For a subtree and a date range, per organisation: meetings held against meetings required per
kind, and the recorded attendance in numbers (应到, 实到, 请假, 缺席, 迟到, 早退, 出席率); the
branches ranked; a trend by month. Set-based: everything comes from the meetings table (each
recorded meeting carries its attendance summary), two grouped scans whatever the size of the
subtree; organisations are folded in Python.

What is required (:class:`Requirement`): ``count`` meetings of a kind per calendar ``period``
(month, quarter, year, in the reporting zone) from organisations of the given kinds. Only
whole periods inside the range that have ended count, and only those that began after the
organisation was created. A meeting is *held* once it has ended without being cancelled; a
period is *met* when it held ``count`` meetings of the kind.

The alerts watched for are in :mod:`store.watch`, members' own figures in
:mod:`store.member_stats`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, select
from sqlalchemy.orm import Session

from geo.model import MeetingKind
from geo.recurrence import months_between, periods_within, to_utc
from store.meetings import Summary
from store.models import (
    MeetingRow,
    MeetingStatus,
    Organisation,
    OrgKind,
)
from store.orgs import org_scope


@dataclass(frozen=True, slots=True)
class Requirement:
    """``count`` meetings of ``kind`` per ``period`` (month, quarter, year) from each
    organisation of ``org_kinds``."""

    kind: MeetingKind
    period: str
    count: int
    org_kinds: frozenset[OrgKind]


@dataclass(frozen=True, slots=True)
class KindFigures:
    """One kind of meeting at one organisation (or summed over many)."""

    held: int = 0
    required: int = 0  # periods due × count (0: not required here)
    met: int = 0  # periods that held enough

    def __add__(self, other: KindFigures) -> KindFigures:
        return KindFigures(
            self.held + other.held, self.required + other.required, self.met + other.met
        )


ZERO = Summary(expected=0, present=0, late=0, left_early=0, absent=0, excused=0)


def add(a: Summary, b: Summary) -> Summary:
    return Summary(
        expected=a.expected + b.expected,
        present=a.present + b.present,
        late=a.late + b.late,
        left_early=a.left_early + b.left_early,
        absent=a.absent + b.absent,
        excused=a.excused + b.excused,
    )


@dataclass(frozen=True, slots=True)
class OrgFigures:
    """An organisation's own meetings (or, for rollups, those of a whole subtree)."""

    org_id: int
    name: str
    kind: OrgKind
    path: str
    parent_id: int | None
    held: int
    recorded: int
    attendance: Summary
    by_kind: Mapping[MeetingKind, KindFigures]

    @property
    def required(self) -> int:
        """Required meetings over all kinds: periods due × count."""
        return sum(k.required for k in self.by_kind.values())

    @property
    def met(self) -> int:
        """How many of the required periods were met (each counted with its count)."""
        return sum(k.met for k in self.by_kind.values())

    @property
    def compliance(self) -> float | None:
        """Required meetings held (each period counted up to its requirement) / required."""
        return round(self.met / self.required, 4) if self.required else None


@dataclass(frozen=True, slots=True)
class MonthFigures:
    month: str  # "2026-07"
    held: int
    attendance: Summary


@dataclass(frozen=True, slots=True)
class StatsReport:
    root_id: int | None
    start: date
    end: date  # exclusive
    tz: str
    orgs: list[OrgFigures]  # each organisation's own meetings, in path order
    total: OrgFigures  # the whole subtree
    branches: list[OrgFigures]  # each branch with its party groups, best first
    months: list[MonthFigures]
    requirements: Sequence[Requirement] = field(default=())


def statistics(
    session: Session,
    *,
    root_id: int | None,
    start: date,
    end: date,
    tz: str,
    now: datetime,
    requirements: Sequence[Requirement],
) -> StatsReport:
    """The figures of ``root_id``'s subtree (None: the whole tree) for meetings starting on
    local dates [start, end)."""
    lo, hi = local_midnight(start, tz), local_midnight(end, tz)
    orgs = _organisations(session, root_id)
    due = _due_periods(requirements, start, end, tz, now)
    counts = {req.kind: req.count for req in requirements}
    rows = _grouped(session, root_id=root_id, lo=lo, hi=hi, now=now, due=due, counts=counts)
    own: dict[int, dict[str, Any]] = {}
    for org_id, kind, held, recorded, summary, met in rows:
        slot = own.setdefault(org_id, {"held": 0, "recorded": 0, "att": ZERO, "kinds": {}})
        slot["held"] += held
        slot["recorded"] += recorded
        slot["att"] = add(slot["att"], summary)
        slot["kinds"][kind] = (held, met)
    figures = [_org_figures(o, own.get(o.id), due, requirements) for o in orgs]
    total = _sum_figures(figures, root_id)
    return StatsReport(
        root_id=root_id,
        start=start,
        end=end,
        tz=tz,
        orgs=figures,
        total=total,
        branches=rank(_branches(figures)),
        months=_months(session, root_id=root_id, start=start, end=end, tz=tz, now=now),
        requirements=requirements,
    )


def rank(found: list[OrgFigures]) -> list[OrgFigures]:
    """Best first: attendance rate, then compliance, then name (no rate: last)."""

    def key(f: OrgFigures) -> tuple[float, float, str]:
        rate = f.attendance.rate
        return (-(rate if rate is not None else -1.0), -(f.compliance or 0.0), f.name)

    return sorted(found, key=key)


# -- the two grouped scans ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Org:
    id: int
    parent_id: int | None
    path: str
    kind: OrgKind
    name: str
    created_at: datetime


def _organisations(session: Session, root_id: int | None) -> list[_Org]:
    stmt = select(
        Organisation.id,
        Organisation.parent_id,
        Organisation.path,
        Organisation.kind,
        Organisation.name,
        Organisation.created_at,
    ).order_by(Organisation.path)
    if root_id is not None:
        stmt = stmt.where(org_scope(session, Organisation.id, within_org_id=root_id))
    return [_Org(*row) for row in session.execute(stmt).all()]


# Per required kind: its whole periods in the range that have ended, as UTC bounds.
_Due = dict[MeetingKind, list[tuple[datetime, datetime]]]


def _due_periods(
    requirements: Sequence[Requirement], start: date, end: date, tz: str, now: datetime
) -> _Due:
    due: _Due = {}
    for req in requirements:
        bounds = [
            (local_midnight(a, tz), local_midnight(b, tz))
            for a, b in periods_within(start, end, req.period)
        ]
        due[req.kind] = [(a, b) for a, b in bounds if b <= now]
    return due


def _held(now: datetime) -> list[ColumnElement[bool]]:
    m = MeetingRow
    return [m.status == MeetingStatus.SCHEDULED, m.end_at <= now]


def _grouped(
    session: Session,
    *,
    root_id: int | None,
    lo: datetime,
    hi: datetime,
    now: datetime,
    due: _Due,
    counts: Mapping[MeetingKind, int],
) -> list[tuple[int, MeetingKind, int, int, Summary, int]]:
    """Per (organisation, kind): meetings held, recorded, their attendance summed, and the
    due periods that held enough (one scan of the meetings table)."""
    m = MeetingRow
    whens = [
        (and_(m.kind == kind, m.start_at >= a, m.start_at < b), literal(f"{kind.value}:{i}"))
        for kind, bounds in due.items()
        for i, (a, b) in enumerate(bounds)
    ]
    period = case(*whens, else_=literal(None)) if whens else literal(None)
    recorded = case((m.recorded_at.is_not(None), 1), else_=0)
    inner = (
        select(
            m.org_id.label("org_id"),
            m.kind.label("kind"),
            period.label("period"),
            func.count().label("n"),
            func.sum(recorded).label("recorded"),
            func.coalesce(func.sum(m.expected_n), 0).label("expected"),
            func.coalesce(func.sum(m.present_n), 0).label("present"),
            func.coalesce(func.sum(m.late_n), 0).label("late"),
            func.coalesce(func.sum(m.left_early_n), 0).label("left_early"),
            func.coalesce(func.sum(m.absent_n), 0).label("absent"),
            func.coalesce(func.sum(m.excused_n), 0).label("excused"),
        )
        .where(*_held(now), m.start_at >= lo, m.start_at < hi)
        .group_by(m.org_id, m.kind, period)
    )
    if root_id is not None:
        inner = inner.where(org_scope(session, m.org_id, within_org_id=root_id))
    sub = inner.subquery()
    # A period's meetings count up to what it requires ("met" sums min(n, count)).
    need = case(*((sub.c.kind == k, literal(c)) for k, c in counts.items()), else_=literal(0))
    met = case(
        (sub.c.period.is_(None), 0),
        (sub.c.n >= need, need),
        else_=sub.c.n,
    )
    outer = select(
        sub.c.org_id,
        sub.c.kind,
        func.sum(sub.c.n),
        func.sum(sub.c.recorded),
        func.sum(sub.c.expected),
        func.sum(sub.c.present),
        func.sum(sub.c.late),
        func.sum(sub.c.left_early),
        func.sum(sub.c.absent),
        func.sum(sub.c.excused),
        func.sum(met) if counts else literal(0),
    ).group_by(sub.c.org_id, sub.c.kind)
    out = []
    for org_id, kind, n, rec, exp, pre, lat, lef, abs_, exc, met_n in session.execute(outer).all():
        summary = Summary(int(exp), int(pre), int(lat), int(lef), int(abs_), int(exc))
        out.append(
            (
                int(org_id),
                MeetingKind(kind) if isinstance(kind, str) else kind,
                int(n),
                int(rec),
                summary,
                int(met_n or 0),
            )
        )
    return out


def _months(
    session: Session, *, root_id: int | None, start: date, end: date, tz: str, now: datetime
) -> list[MonthFigures]:
    m = MeetingRow
    buckets = [
        (a, local_midnight(a, tz), local_midnight(b, tz)) for a, b in months_between(start, end)
    ]
    if not buckets:
        return []
    month = case(
        *(
            (and_(m.start_at >= lo, m.start_at < hi), literal(i))
            for i, (_, lo, hi) in enumerate(buckets)
        ),
        else_=literal(None),
    )
    stmt = (
        select(
            month,
            func.count(),
            func.coalesce(func.sum(m.expected_n), 0),
            func.coalesce(func.sum(m.present_n), 0),
            func.coalesce(func.sum(m.late_n), 0),
            func.coalesce(func.sum(m.left_early_n), 0),
            func.coalesce(func.sum(m.absent_n), 0),
            func.coalesce(func.sum(m.excused_n), 0),
        )
        .where(*_held(now), m.start_at >= buckets[0][1], m.start_at < buckets[-1][2])
        .group_by(month)
    )
    if root_id is not None:
        stmt = stmt.where(org_scope(session, m.org_id, within_org_id=root_id))
    found = {int(i): row for i, *row in session.execute(stmt).all() if i is not None}
    out = []
    for i, (first, _, _) in enumerate(buckets):
        n, *att = found.get(i, (0, 0, 0, 0, 0, 0, 0))
        out.append(MonthFigures(f"{first:%Y-%m}", int(n), Summary(*(int(x) for x in att))))
    return out


# -- folding ----------------------------------------------------------------------------------


def _org_figures(
    org: _Org,
    own: dict[str, Any] | None,
    due: _Due,
    requirements: Sequence[Requirement],
) -> OrgFigures:
    kinds: dict[MeetingKind, KindFigures] = {}
    found = own["kinds"] if own else {}
    for req in requirements:
        if org.kind not in req.org_kinds:
            continue
        periods = sum(1 for a, _ in due.get(req.kind, ()) if a >= org.created_at)
        held, met = found.get(req.kind, (0, 0))
        required = periods * req.count
        kinds[req.kind] = KindFigures(held=held, required=required, met=min(met, required))
    for kind, (held, _) in found.items():
        kinds.setdefault(kind, KindFigures(held=held))
    return OrgFigures(
        org_id=org.id,
        name=org.name,
        kind=org.kind,
        path=org.path,
        parent_id=org.parent_id,
        held=own["held"] if own else 0,
        recorded=own["recorded"] if own else 0,
        attendance=own["att"] if own else ZERO,
        by_kind=kinds,
    )


def rollup(figures: Sequence[OrgFigures], head: OrgFigures) -> OrgFigures:
    """``head`` with everything of ``figures`` (its subtree) added up."""
    held = recorded = 0
    attendance = ZERO
    kinds: dict[MeetingKind, KindFigures] = defaultdict(KindFigures)
    for f in figures:
        held += f.held
        recorded += f.recorded
        attendance = add(attendance, f.attendance)
        for kind, k in f.by_kind.items():
            kinds[kind] = kinds[kind] + k
    return OrgFigures(
        org_id=head.org_id,
        name=head.name,
        kind=head.kind,
        path=head.path,
        parent_id=head.parent_id,
        held=held,
        recorded=recorded,
        attendance=attendance,
        by_kind=dict(kinds),
    )


def subtree_totals(figures: Sequence[OrgFigures], org_id: int) -> OrgFigures:
    """An organisation's figures with its whole subtree's added in."""
    head = next(f for f in figures if f.org_id == org_id)
    return rollup([f for f in figures if f.path.startswith(head.path)], head)


def _sum_figures(figures: list[OrgFigures], root_id: int | None) -> OrgFigures:
    if root_id is not None and figures:
        return rollup(figures, figures[0])
    head = OrgFigures(0, "", OrgKind.PARTY_COMMITTEE, "/", None, 0, 0, ZERO, {})
    return rollup(figures, head)


def _branches(figures: list[OrgFigures]) -> list[OrgFigures]:
    """Each branch with the party groups (any organisation) below it."""
    branches = [f for f in figures if f.kind is OrgKind.BRANCH]
    by_branch: dict[str, list[OrgFigures]] = {b.path: [] for b in branches}
    for f in figures:
        parts = f.path.strip("/").split("/")
        for depth in range(len(parts), 0, -1):
            prefix = "/" + "/".join(parts[:depth]) + "/"
            if prefix in by_branch:
                by_branch[prefix].append(f)
                break
    return [rollup(by_branch[b.path], b) for b in branches]


def local_midnight(day: date, tz: str) -> datetime:
    """The UTC instant a local date begins in ``tz``."""
    return to_utc(datetime.combine(day, time(0, 0)), tz, strict=False)
