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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    and_,
    case,
    extract,
    false,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from geo.meetings.recurrence import months_between, periods_within, to_utc
from geo.model import MeetingKind
from store.meetings import Summary
from store.models import (
    MeetingRollupRow,
    MeetingRow,
    MeetingStatus,
    Organisation,
    OrgKind,
)
from store.orgs import org_scope
from store.rollup import SUMS, built_zone, month_start


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


KINDS = tuple(MeetingKind)
WORK_MEM = "64MB"
# Columns of the per-organisation figures: held, recorded, the six attendance numbers, then
# per kind of meeting: held, required, met, and whether the organisation is subject to it.
HELD, RECORDED, ATT = 0, 1, 2
_PER_KIND = 4
COLUMNS = 8 + _PER_KIND * len(KINDS)


def _kcol(kind: int, what: int) -> int:
    return 8 + _PER_KIND * kind + what


@dataclass(frozen=True, slots=True)
class StatsReport:
    """The figures of a subtree as columns (one row per organisation, in path order), turned
    into :class:`OrgFigures` only for what is shown: an organisation's own meetings
    (:meth:`own`), its subtree's (:meth:`subtree`), a branch's with its party groups."""

    root_id: int | None
    start: date
    end: date  # exclusive
    tz: str
    ids: list[int]
    names: list[str]
    kinds: list[OrgKind]
    paths: list[str]
    parents: list[int | None]
    own_figures: np.ndarray  # (organisations, COLUMNS)
    subtree_figures: np.ndarray
    branch_rows: np.ndarray  # rows of the branches
    branch_figures: np.ndarray  # (branches, COLUMNS): each branch with its party groups
    months: list[MonthFigures]
    requirements: Sequence[Requirement] = field(default=())

    @property
    def orgs(self) -> list[OrgFigures]:
        """Each organisation's own meetings, in path order."""
        return [self.own(i) for i in range(len(self.ids))]

    def own(self, row: int) -> OrgFigures:
        return self._figures(row, self.own_figures[row])

    def subtree(self, row: int) -> OrgFigures:
        return self._figures(row, self.subtree_figures[row])

    @property
    def total(self) -> OrgFigures:
        """The whole subtree (the root's, or every root's added up)."""
        if self.root_id is not None and self.ids:
            return self.subtree(0)
        roots = [i for i, p in enumerate(self.parents) if p is None]
        summed = self.subtree_figures[roots].sum(axis=0) if roots else np.zeros(COLUMNS)
        return _figures(
            summed, org_id=0, name="", kind=OrgKind.PARTY_COMMITTEE, path="/", parent=None
        )

    def children(self, org_id: int | None) -> list[OrgFigures]:
        """Each organisation directly below ``org_id`` (None: the roots), with its subtree."""
        return [self.subtree(i) for i, p in enumerate(self.parents) if p == org_id]

    @property
    def branches(self) -> list[OrgFigures]:
        """Each branch with its party groups, best first (:func:`rank`)."""
        made = [
            self._figures(int(row), self.branch_figures[n])
            for n, row in enumerate(self.branch_rows)
        ]
        return rank(made)

    def _figures(self, row: int, values: np.ndarray) -> OrgFigures:
        return _figures(
            values,
            org_id=self.ids[row],
            name=self.names[row],
            kind=self.kinds[row],
            path=self.paths[row],
            parent=self.parents[row],
        )


def _figures(
    v: np.ndarray, *, org_id: int, name: str, kind: OrgKind, path: str, parent: int | None
) -> OrgFigures:
    by_kind = {
        k: KindFigures(
            held=int(v[_kcol(n, 0)]), required=int(v[_kcol(n, 1)]), met=int(v[_kcol(n, 2)])
        )
        for n, k in enumerate(KINDS)
        if v[_kcol(n, 0)] or v[_kcol(n, 3)]
    }
    return OrgFigures(
        org_id=org_id,
        name=name,
        kind=kind,
        path=path,
        parent_id=parent,
        held=int(v[HELD]),
        recorded=int(v[RECORDED]),
        attendance=Summary(*(int(x) for x in v[ATT : ATT + 6])),
        by_kind=by_kind,
    )


def statistics(
    session: Session,
    *,
    root_id: int | None,
    start: date,
    end: date,
    tz: str,
    now: datetime,
    requirements: Sequence[Requirement],
    rollup: bool = True,
) -> StatsReport:
    """The figures of ``root_id``'s subtree (None: the whole tree) for meetings starting on
    local dates [start, end). ``rollup``: read the months that are over from
    :mod:`store.rollup` when it counts in ``tz`` (False: count every meeting; the figures are
    the same)."""
    lo, hi = local_midnight(start, tz), local_midnight(end, tz)
    if root_id is not None and _only_root(session, root_id):
        root_id_filter: int | None = None  # its subtree is everything: no filter to apply
    else:
        root_id_filter = root_id
    orgs = _organisations(session, root_id_filter)
    due = _due_periods(requirements, start, end, tz, now)
    counts = {req.kind: req.count for req in requirements}
    covered = covered_months(session, start=start, end=end, tz=tz, now=now) if rollup else None
    rows = _grouped(
        session,
        root_id=root_id_filter,
        lo=lo,
        hi=hi,
        now=now,
        due=due,
        counts=counts,
        covered=covered,
        due_months=_due_months(requirements, start, end, due),
        tz=tz,
    )
    index = {o.id: n for n, o in enumerate(orgs)}
    kind_index = {k: n for n, k in enumerate(KINDS)}
    own = np.zeros((len(orgs), COLUMNS), dtype=np.int64)
    met_found = np.zeros((len(orgs), len(KINDS)), dtype=np.int64)
    found = rows[np.isin(rows[:, 0], np.array(list(index), dtype=np.int64))]
    if len(found):
        at = np.array([index[o] for o in found[:, 0].tolist()])
        kinds = found[:, 1]
        np.add.at(own[:, HELD], at, found[:, 2])
        np.add.at(own[:, RECORDED], at, found[:, 3])
        np.add.at(own, (at[:, None], np.arange(ATT, ATT + 6)[None, :]), found[:, 4:10])
        np.add.at(own, (at, 8 + _PER_KIND * kinds), found[:, 2])
        np.add.at(met_found, (at, kinds), found[:, 10])
    created = np.array([o.created_s for o in orgs], dtype=np.float64)
    for req in requirements:
        k = kind_index[req.kind]
        starts = np.array([a.timestamp() for a, _ in due.get(req.kind, ())])
        subject = np.array([o.kind in req.org_kinds for o in orgs], dtype=bool)
        periods = (starts[None, :] >= created[:, None]).sum(axis=1) if len(starts) else 0
        required = np.where(subject, periods * req.count, 0)
        own[:, _kcol(k, 1)] = required
        own[:, _kcol(k, 2)] = np.minimum(met_found[:, k], required)
        own[:, _kcol(k, 3)] = subject
    parents = [index.get(o.parent_id, -1) if o.parent_id is not None else -1 for o in orgs]
    subtree = own.copy()
    for row in range(len(orgs) - 1, -1, -1):  # children come after their parent by path
        if parents[row] >= 0:
            subtree[parents[row]] += subtree[row]
    branch_rows, branch_figures = _branch_rollup(orgs, parents, own)
    return StatsReport(
        root_id=root_id,
        start=start,
        end=end,
        tz=tz,
        ids=[o.id for o in orgs],
        names=[o.name for o in orgs],
        kinds=[o.kind for o in orgs],
        paths=[o.path for o in orgs],
        parents=[o.parent_id if index.get(o.parent_id or 0) is not None else None for o in orgs],
        own_figures=own,
        subtree_figures=subtree,
        branch_rows=branch_rows,
        branch_figures=branch_figures,
        months=_months(
            session,
            root_id=root_id_filter,
            start=start,
            end=end,
            tz=tz,
            now=now,
            covered=covered,
        ),
        requirements=requirements,
    )


def _branch_rollup(
    orgs: list[_Org], parents: list[int], own: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each branch's figures with those of every organisation below it (its party groups)."""
    branch_of = np.full(len(orgs), -1)
    for row, o in enumerate(orgs):  # parents first: a row inherits its parent's branch
        if o.kind is OrgKind.BRANCH:
            branch_of[row] = row
        elif parents[row] >= 0:
            branch_of[row] = branch_of[parents[row]]
    branch_rows = np.flatnonzero([o.kind is OrgKind.BRANCH for o in orgs])
    position = np.full(len(orgs), -1)
    position[branch_rows] = np.arange(len(branch_rows))
    figures = np.zeros((len(branch_rows), COLUMNS), dtype=np.int64)
    under = branch_of >= 0
    np.add.at(figures, position[branch_of[under]], own[under])
    return branch_rows, figures


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
    created_s: float  # when it was created, in seconds since the epoch


def _only_root(session: Session, root_id: int) -> bool:
    """Whether ``root_id`` is the one root of the tree (its subtree is every organisation)."""
    roots = session.scalars(
        select(Organisation.id).where(Organisation.parent_id.is_(None)).limit(2)
    ).all()
    return list(roots) == [root_id]


def _organisations(session: Session, root_id: int | None) -> list[_Org]:
    stmt = select(
        Organisation.id,
        Organisation.parent_id,
        Organisation.path,
        Organisation.kind,
        Organisation.name,
        # Thousands of rows: PostgreSQL gives the seconds, sparing a datetime each.
        func.extract("epoch", Organisation.created_at)
        if session.get_bind().dialect.name == "postgresql"
        else Organisation.created_at,
    ).order_by(Organisation.path)
    if root_id is not None:
        stmt = stmt.where(org_scope(session, Organisation.id, within_org_id=root_id))
    return [
        _Org(i, p, path, k, n, _seconds(c)) for i, p, path, k, n, c in session.execute(stmt).all()
    ]


def _seconds(created: Any) -> float:
    return created.timestamp() if isinstance(created, datetime) else float(created)


# A due period's key: 1000 × the kind's place among the requirements + the period's index.
_KIND_STEP = 1000


def _period_key(due: _Due, *, postgres: bool) -> ColumnElement[Any]:
    """The due period a meeting falls in (NULL: none), as a small integer so that groups stay
    narrow. PostgreSQL finds it with one ``width_bucket`` per row (a binary search over the
    period bounds of the meeting's kind); SQLite with a CASE over every period."""
    m = MeetingRow
    if not any(due.values()):
        return literal(None)
    if not postgres:
        return case(
            *(
                (and_(m.kind == kind, m.start_at >= a, m.start_at < b), literal(n * _KIND_STEP + i))
                for n, (kind, bounds) in enumerate(due.items())
                for i, (a, b) in enumerate(bounds)
            ),
            else_=literal(None),
        )
    epoch = extract("epoch", m.start_at)
    whens = []
    for n, (kind, bounds) in enumerate(due.items()):
        if not bounds:
            continue
        # Periods are consecutive: thresholds a0, b0 (= a1), …, b_last; buckets 1…len are
        # inside, 0 and len + 1 outside (NULL).
        edges = [bounds[0][0].timestamp(), *(b.timestamp() for _, b in bounds)]
        bucket = func.width_bucket(epoch, postgresql.array(edges, type_=Float))
        inside = func.nullif(func.nullif(bucket, 0), len(edges))
        whens.append((m.kind == kind, inside + (n * _KIND_STEP - 1)))
    return case(*whens, else_=literal(None))


def _rollup_period_key(due_months: _DueMonths) -> ColumnElement[Any]:
    """As :func:`_period_key`, for a rollup row: the due period its month lies in."""
    r = MeetingRollupRow
    whens = [
        (
            and_(r.kind == kind, r.month >= first, r.month < first + length * periods),
            literal(n * _KIND_STEP) + (r.month - first) // length,
        )
        for n, (kind, (first, length, periods)) in enumerate(due_months.items())
        if periods
    ]
    return case(*whens, else_=literal(None)) if whens else literal(None)


# Per required kind: its whole periods in the range that have ended, as UTC bounds.
_Due = dict[MeetingKind, list[tuple[datetime, datetime]]]
# The same as months of the reporting zone: (first month, months per period, periods).
_DueMonths = dict[MeetingKind, tuple[int, int, int]]


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


def _due_months(
    requirements: Sequence[Requirement], start: date, end: date, due: _Due
) -> _DueMonths:
    found: _DueMonths = {}
    for req in requirements:
        periods = periods_within(start, end, req.period)
        if not periods:
            found[req.kind] = (0, 1, 0)
            continue
        a, b = periods[0]
        found[req.kind] = (_month(a), _month(b) - _month(a), len(due[req.kind]))
    return found


def _month(day: date) -> int:
    return day.year * 12 + day.month - 1


def covered_months(
    session: Session, *, start: date, end: date, tz: str, now: datetime
) -> tuple[int, int] | None:
    """The whole months of [start, end) the rollup answers for (first, end as month
    indices), or None: those that are over by a day (a meeting lasts at most a day, so every
    meeting that started in them has ended), when the rollup counts in ``tz``."""
    first = _month(start) + (0 if start.day == 1 else 1)
    last = _month(end)
    while last > first and month_start(last, tz) + timedelta(days=1) > now:
        last -= 1
    if last <= first or built_zone(session) != tz:
        return None
    return first, last


def _held(now: datetime) -> list[ColumnElement[bool]]:
    m = MeetingRow
    return [m.status == MeetingStatus.SCHEDULED, m.end_at <= now]


def _uncovered(
    covered: tuple[int, int] | None, lo: datetime, hi: datetime, tz: str
) -> list[tuple[datetime, datetime]]:
    """The parts of [lo, hi) outside the ``covered`` months (counted from the meetings)."""
    if covered is None:
        return [(lo, hi)]
    clo, chi = month_start(covered[0], tz), month_start(covered[1], tz)
    return [(a, b) for a, b in ((lo, min(hi, clo)), (max(lo, chi), hi)) if a < b]


def _starting_in(ranges: list[tuple[datetime, datetime]]) -> ColumnElement[bool]:
    m = MeetingRow
    if not ranges:
        return false()
    return or_(*(and_(m.start_at >= a, m.start_at < b) for a, b in ranges))


def _grouped(
    session: Session,
    *,
    root_id: int | None,
    lo: datetime,
    hi: datetime,
    now: datetime,
    due: _Due,
    counts: Mapping[MeetingKind, int],
    covered: tuple[int, int] | None = None,
    due_months: _DueMonths | None = None,
    tz: str = "UTC",
) -> np.ndarray:
    """Per (organisation, kind): organisation id, kind (index in :data:`KINDS`), meetings
    held, recorded, their six attendance numbers summed, and what the due periods held up to
    their requirement. One scan of the meetings of the range — of those outside the
    ``covered`` months, whose rollup rows are read instead."""
    m, r = MeetingRow, MeetingRollupRow
    period = _period_key(due, postgres=session.get_bind().dialect.name == "postgresql")
    uncovered = _uncovered(covered, lo, hi, tz)
    direct = select(
        m.org_id.label("org_id"),
        m.kind.label("kind"),
        period.label("period"),
        literal(1).label("n"),
        case((m.recorded_at.is_not(None), 1), else_=0).label("recorded"),
        *(func.coalesce(getattr(m, f"{c}_n"), 0).label(c) for c in SUMS),
    ).where(*_held(now), _starting_in(uncovered))
    if root_id is not None:
        direct = direct.where(org_scope(session, m.org_id, within_org_id=root_id))
    parts: list[Select[Any]] = [direct] if uncovered else []
    if covered is not None:
        rolled = select(
            r.org_id,
            r.kind,
            _rollup_period_key(due_months or {}).label("period"),
            r.n,
            r.recorded,
            *(getattr(r, c) for c in SUMS),
        ).where(r.month >= covered[0], r.month < covered[1], r.n > 0)
        if root_id is not None:
            rolled = rolled.where(org_scope(session, r.org_id, within_org_id=root_id))
        parts.append(rolled)
    u = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    sums = [func.sum(u.c[c]) for c in ("n", "recorded", *SUMS)]
    if all(c == 1 for c in counts.values()):
        # One meeting a period is required (the rules' default): a due period is met when
        # it holds any, so one grouping counts the distinct periods instead of two.
        single = select(u.c.org_id, u.c.kind, *sums, func.count(u.c.period.distinct())).group_by(
            u.c.org_id, u.c.kind
        )
        return _rows(session, single)
    inner = (
        select(
            u.c.org_id,
            u.c.kind,
            u.c.period,
            *(s.label(c) for s, c in zip(sums, ("n", "recorded", *SUMS), strict=True)),
        )
        .group_by(u.c.org_id, u.c.kind, u.c.period)
        .subquery()
    )
    # A period's meetings count up to what it requires ("met" sums min(n, count)).
    need = case(*((inner.c.kind == k, literal(c)) for k, c in counts.items()), else_=literal(0))
    met = case(
        (inner.c.period.is_(None), 0),
        (inner.c.n >= need, need),
        else_=inner.c.n,
    )
    outer = select(
        inner.c.org_id,
        inner.c.kind,
        *(func.sum(inner.c[c]) for c in ("n", "recorded", *SUMS)),
        func.sum(met) if counts else literal(0),
    ).group_by(inner.c.org_id, inner.c.kind)
    return _rows(session, outer)


def _rows(session: Session, stmt: Select[*tuple[Any, ...]]) -> np.ndarray:
    """The grouped rows as integers, one row each: organisation id, kind (its index in
    :data:`KINDS`), then the figures."""
    kind_index = {k: n for n, k in enumerate(KINDS)}
    if session.get_bind().dialect.name == "postgresql":
        # A year of a large tree groups some 150,000 (organisation, kind, period) rows: give
        # this transaction's aggregates the memory to do it without spilling to disk.
        session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    found = session.execute(stmt).all()
    if not found:
        return np.zeros((0, 11), dtype=np.int64)
    out = np.array([row[2:] for row in found], dtype=np.int64)  # PostgreSQL's sums: Decimal
    ids = np.array([row[0] for row in found], dtype=np.int64)
    kinds = np.array([kind_index[MeetingKind(row[1])] for row in found], dtype=np.int64)
    return np.column_stack([ids, kinds, out])


def _months(
    session: Session,
    *,
    root_id: int | None,
    start: date,
    end: date,
    tz: str,
    now: datetime,
    covered: tuple[int, int] | None = None,
) -> list[MonthFigures]:
    m, r = MeetingRow, MeetingRollupRow
    buckets = [
        (a, local_midnight(a, tz), local_midnight(b, tz)) for a, b in months_between(start, end)
    ]
    if not buckets:
        return []
    uncovered = _uncovered(covered, buckets[0][1], buckets[-1][2], tz)
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
            *(func.coalesce(func.sum(getattr(m, f"{c}_n")), 0) for c in SUMS),
        )
        .where(
            *_held(now),
            _starting_in(uncovered),
        )
        .group_by(month)
    )
    if root_id is not None:
        stmt = stmt.where(org_scope(session, m.org_id, within_org_id=root_id))
    found: dict[int, list[int]] = {}
    for i, *row in session.execute(stmt).all() if uncovered else ():
        if i is not None:
            found[int(i)] = [int(x) for x in row]
    if covered is not None:
        rolled = (
            select(
                r.month - _month(start),
                func.sum(r.n),
                *(func.sum(getattr(r, c)) for c in SUMS),
            )
            .where(r.month >= covered[0], r.month < covered[1])
            .group_by(r.month)
        )
        if root_id is not None:
            rolled = rolled.where(org_scope(session, r.org_id, within_org_id=root_id))
        for i, *row in session.execute(rolled).all():
            have = found.setdefault(int(i), [0] * 7)
            found[int(i)] = [x + int(y or 0) for x, y in zip(have, row, strict=True)]
    out = []
    for i, (first, _, _) in enumerate(buckets):
        n, *att = found.get(i, [0] * 7)
        out.append(MonthFigures(f"{first:%Y-%m}", n, Summary(*att)))
    return out


def local_midnight(day: date, tz: str) -> datetime:
    """The UTC instant a local date begins in ``tz``."""
    return to_utc(datetime.combine(day, time(0, 0)), tz, strict=False)
