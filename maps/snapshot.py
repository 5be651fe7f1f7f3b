"""The whole organisation as columns: organisations, members with their state, and sites.

The map's overview and tree counts read one :class:`Roster` instead of querying per request: for
140,000 members it is a handful of whole-table reads (latest positions come packed from the
store as numpy columns) and a few vectorised passes; a caller's scope is a mask over the same
columns. Its :class:`Structure` (who belongs where) changes seldom and is kept across reads of
the states (:mod:`maps.cache`).

A member's state on the map:

=========  ==============================================================================
present    checked in at a site (a ``present`` or ``leaving`` presence row)
arriving   inside a site, not yet there long enough to check in
outside    a fix newer than ``stale_after`` and at no site
stale      the newest fix is older than ``stale_after`` and the member is at no site
none       no position ever received
=========  ==============================================================================

>>> MemberState.PRESENT.name.lower(), STATE_NAMES[int(MemberState.STALE)]
('present', 'stale')
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.orm import Session

from geo.model import SiteKind
from store.latest import latest_position_columns
from store.models import Member, Organisation, OrgKind, PresenceStateRow, SiteRow
from store.rawsql import raw_rows

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class MemberState(enum.IntEnum):
    """Ordered from least to most: where several apply, the highest wins."""

    NONE = 0
    STALE = 1
    OUTSIDE = 2
    ARRIVING = 3
    PRESENT = 4


STATE_NAMES = tuple(s.name.lower() for s in MemberState)
SITE_KINDS = tuple(SiteKind)
ORG_KINDS = tuple(OrgKind)
_PRESENCE_STATE = {
    "arriving": MemberState.ARRIVING,
    "present": MemberState.PRESENT,
    "leaving": MemberState.PRESENT,  # still checked in until the visit ends
}


@dataclass(frozen=True, slots=True)
class Scope:
    """What a caller may see: the subtree of ``org_id`` (path ``org_path``; both None: the whole
    tree) or, for a member (``member_id`` set), their own organisation and only themselves."""

    org_id: int | None = None
    org_path: str | None = None
    member_id: int | None = None

    def covers(self, path: str) -> bool:
        if self.org_path is None:
            return True
        if self.member_id is not None:
            return path == self.org_path
        return path.startswith(self.org_path)

    def sees_member(self, member_id: int, org_path: str) -> bool:
        return self.covers(org_path) and self.member_id in (None, member_id)


@dataclass(frozen=True, slots=True)
class Orgs:
    """Every organisation, ordered by path (parents before children)."""

    id: IntArray
    parent: IntArray  # index of the parent in these columns, -1 for a root
    depth: IntArray
    kind: IntArray  # index into ORG_KINDS
    path: npt.NDArray[np.str_]
    name: list[str]
    index: dict[int, int]  # organisation id → row

    def rows_of(self, org_ids: Sequence[int] | IntArray) -> IntArray:
        """Rows of many organisation ids at once (each must exist)."""
        wanted = np.asarray(org_ids, dtype=np.int64)
        lookup = np.full(int(self.id.max(initial=0)) + 1, -1, dtype=np.int64)
        lookup[self.id] = np.arange(len(self.id))
        return lookup[wanted] if len(wanted) else np.empty(0, dtype=np.int64)

    def in_scope(self, scope: Scope) -> npt.NDArray[np.bool_]:
        if scope.org_path is None:
            return np.ones(len(self.id), dtype=bool)
        if scope.member_id is not None:  # a member sees their own organisation only
            own: npt.NDArray[np.bool_] = self.path == scope.org_path
            return own
        below: npt.NDArray[np.bool_] = np.char.startswith(self.path, scope.org_path)
        return below

    def subtree_mask(self, row: int) -> npt.NDArray[np.bool_]:
        """The organisation at ``row`` and everything below it."""
        return np.char.startswith(self.path, str(self.path[row]))

    def roll_up(self, direct: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Per-organisation values (rows of ``direct``) summed over each subtree."""
        total = direct.copy()
        for depth in range(int(self.depth.max(initial=0)), 0, -1):
            rows = np.flatnonzero((self.depth == depth) & (self.parent >= 0))
            np.add.at(total, self.parent[rows], total[rows])
        return total


@dataclass(frozen=True, slots=True)
class Members:
    """Every active member, ordered by id, with their newest position and state."""

    id: IntArray
    org: IntArray  # row in Orgs
    name: list[str]
    lon: FloatArray  # NaN without a position
    lat: FloatArray
    accuracy_m: FloatArray  # NaN when unknown
    fix_time: npt.NDArray[np.datetime64]  # NaT without a position
    state: npt.NDArray[np.int8]  # MemberState
    site_id: IntArray  # the site of an arriving/present state, else -1

    def row(self, member_id: int) -> int | None:
        """The row of a member, or None for one that is not (or no longer) active."""
        row = int(np.searchsorted(self.id, member_id))
        return row if row < len(self.id) and self.id[row] == member_id else None

    def in_scope(self, scope: Scope, orgs_in_scope: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        mask = orgs_in_scope[self.org]
        if scope.member_id is not None:
            mask &= self.id == scope.member_id
        return mask


@dataclass(frozen=True, slots=True)
class SitePoints:
    """Every live site: a representative point (the centre of its bounds) and its bounds."""

    id: IntArray
    org: IntArray  # row in Orgs
    kind: IntArray  # index into SITE_KINDS
    name: list[str]
    tz: list[str]  # IANA time zone: times at a site are shown in its own
    lon: FloatArray
    lat: FloatArray
    bounds: FloatArray  # (n, 4): west, south, east, north


@dataclass(frozen=True, slots=True)
class Structure:
    """Who belongs where: organisations, active members (ids, names, organisations), sites.
    It changes with the tree; positions and presence change all the time."""

    orgs: Orgs
    member_id: IntArray  # sorted
    member_org: IntArray  # row in Orgs
    member_name: list[str]
    sites: SitePoints


@dataclass(frozen=True, slots=True)
class Roster:
    orgs: Orgs
    members: Members
    sites: SitePoints
    taken_at: datetime
    structure: Structure


def load_structure(session: Session) -> Structure:
    orgs = _load_orgs(session)
    rows = raw_rows(
        session,
        select(Member.id, Member.org_id, Member.name)
        .where(Member.active.is_(True))
        .order_by(Member.id),
    )
    return Structure(
        orgs=orgs,
        member_id=np.array([r[0] for r in rows], dtype=np.int64),
        member_org=orgs.rows_of([r[1] for r in rows]),
        member_name=[r[2] for r in rows],
        sites=_load_sites(session, orgs),
    )


def load_roster(
    session: Session,
    *,
    now: datetime,
    stale_after: timedelta,
    structure: Structure | None = None,
) -> Roster:
    """Each member's position and state as of ``now`` over ``structure`` (read it too when
    None)."""
    structure = structure if structure is not None else load_structure(session)
    return Roster(
        orgs=structure.orgs,
        members=_member_states(session, structure, now=now, stale_after=stale_after),
        sites=structure.sites,
        taken_at=now,
        structure=structure,
    )


def _load_orgs(session: Session) -> Orgs:
    o = Organisation
    rows = raw_rows(
        session, select(o.id, o.parent_id, o.depth, o.kind, o.path, o.name).order_by(o.path)
    )
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    index = {int(i): k for k, i in enumerate(ids)}
    kinds = {k.value: n for n, k in enumerate(ORG_KINDS)}
    return Orgs(
        id=ids,
        parent=np.array([index.get(r[1], -1) if r[1] is not None else -1 for r in rows], np.int64),
        depth=np.array([r[2] for r in rows], dtype=np.int64),
        kind=np.array([kinds[r[3]] for r in rows], dtype=np.int64),
        path=np.array([r[4] for r in rows], dtype=np.str_),
        name=[r[5] for r in rows],
        index=index,
    )


def _member_states(
    session: Session, structure: Structure, *, now: datetime, stale_after: timedelta
) -> Members:
    ids = structure.member_id
    n = len(ids)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    accuracy = np.full(n, np.nan)
    fix_time = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    latest = latest_position_columns(session)
    # Both are ordered by member id: positions of inactive members simply find no row.
    at, found = _rows_of(ids, latest.member_id)
    lon[at], lat[at] = latest.lon[found], latest.lat[found]
    accuracy[at] = latest.accuracy_m[found]
    fix_time[at] = latest.fix_time[found]

    fresh_since = np.datetime64(now.astimezone(UTC).replace(tzinfo=None) - stale_after, "us")
    state = np.where(
        np.isnat(fix_time),
        MemberState.NONE,
        np.where(fix_time >= fresh_since, MemberState.OUTSIDE, MemberState.STALE),
    ).astype(np.int8)
    site_id = np.full(n, -1, dtype=np.int64)
    p = PresenceStateRow
    presence = raw_rows(session, select(p.member_id, p.site_id, p.state))
    if presence:
        member = np.array([r[0] for r in presence], dtype=np.int64)
        site = np.array([r[1] for r in presence], dtype=np.int64)
        code = np.array([_PRESENCE_STATE[r[2]] for r in presence], dtype=np.int8)
        row, known = _rows_of(ids, member)
        site, code = site[known], code[known]
        # The strongest state wins; its site is the one shown (any one of equals).
        np.maximum.at(state, row, code)
        strongest = code == state[row]
        site_id[row[strongest]] = site[strongest]
    return Members(
        id=ids,
        org=structure.member_org,
        name=structure.member_name,
        lon=lon,
        lat=lat,
        accuracy_m=accuracy,
        fix_time=fix_time,
        state=state,
        site_id=site_id,
    )


def _rows_of(ids: IntArray, wanted: IntArray) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """Rows of ``wanted`` in the sorted ``ids`` and which of ``wanted`` are there at all."""
    if len(ids) == 0:
        return np.empty(0, dtype=np.int64), np.zeros(len(wanted), dtype=bool)
    rows = np.minimum(np.searchsorted(ids, wanted), len(ids) - 1)
    found = ids[rows] == wanted
    return rows[found], found


def _load_sites(session: Session, orgs: Orgs) -> SitePoints:
    s = SiteRow
    rows = raw_rows(
        session,
        select(s.id, s.org_id, s.kind, s.name, s.min_lon, s.min_lat, s.max_lon, s.max_lat, s.tz)
        .where(s.deleted_at.is_(None))
        .order_by(s.id),
    )
    kinds = {k.value: n for n, k in enumerate(SITE_KINDS)}
    bounds = np.array([r[4:8] for r in rows], dtype=np.float64).reshape(len(rows), 4)
    return SitePoints(
        id=np.array([r[0] for r in rows], dtype=np.int64),
        org=orgs.rows_of([r[1] for r in rows]),
        kind=np.array([kinds[r[2]] for r in rows], dtype=np.int64),
        name=[r[3] for r in rows],
        tz=[r[8] for r in rows],
        lon=(bounds[:, 0] + bounds[:, 2]) / 2,
        lat=(bounds[:, 1] + bounds[:, 3]) / 2,
        bounds=bounds,
    )


def tree_fingerprint(session: Session) -> tuple[int, ...]:
    """A value that changes whenever the tree's shape, a member's organisation or active flag,
    or a site's organisation does: a few aggregate scans, far cheaper than a roster load.

    Positions and presence may be a refresh period old on the map; who belongs where may not
    (it decides what a caller may see), so the cache is keyed by this.
    """
    big = BigInteger

    def weighted(a: Any, b: Any) -> Any:
        return func.coalesce(func.sum(cast(a, big) * cast(b, big)), 0)

    o, m, s = Organisation, Member, SiteRow
    active = m.active.is_(True)
    live = s.deleted_at.is_(None)
    parts = [
        select(func.count()).select_from(o),
        select(weighted(o.id, func.coalesce(o.parent_id, 0))),
        select(weighted(o.id, o.depth)),
        select(func.count()).select_from(m).where(active),
        select(weighted(m.id, m.org_id)).where(active),
        select(weighted(s.id, s.org_id)).where(live),
    ]
    row = session.execute(select(*(part.scalar_subquery() for part in parts))).one()
    return tuple(int(v) for v in row)
