"""A synthetic customer at the scale of DESIGN's railway builder, bulk-inserted in seconds.

    from bench.synth import synthesize
    customer = synthesize(engine)                   # 8,000 orgs, 10,000 sites, 140,000 members
    customer = synthesize(engine, scale=0.1)        # a tenth of everything, for a quick run

The tree is committee → project committees → general branches → branches → party groups
(1 + 70 + 420 + 2,100 + 5,409 = 8,000): each project committee runs a construction region
(most in China, some abroad) with about 2,000 members, and each member belongs to a branch or a
party group, carries one device and has a latest position near one of their organisation's
sites. Sites are small squares (40–300 m) and circles. ``track_members`` members also get a
day of accepted fixes every ``track_interval_s`` seconds, for track reads.

Rows go in with COPY on PostGIS and one ``executemany`` per table on SpatiaLite, ids assigned
here (sequences are moved past them), so the database is ready for reads at once. The engine
must point at a migrated, empty database.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.model import QualityThresholds, SiteParams
from store.positions import PositionBatch, write_positions
from store.query import BBox
from store.types import sqlite_timestamp

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
COMMITTEES, GENERAL_PER_COMMITTEE, BRANCHES_PER_GENERAL = 70, 6, 5
_M_PER_DEG = 111_320.0


@dataclass(frozen=True)
class Region:
    """A project committee's construction region."""

    committee_id: int
    lon: float
    lat: float
    bbox: BBox  # holds every site and latest position of the committee's members


@dataclass
class Customer:
    """What was made, for benchmarks to pick their requests from."""

    root_id: int
    regions: list[Region]
    branch_ids: list[int]  # 党支部
    group_ids: list[int]  # 党小组
    org_count: int
    site_count: int
    member_ids: np.ndarray  # every member, ordered
    member_org: np.ndarray  # their organisation, same order
    track_members: list[int] = field(default_factory=list)
    track_day: tuple[datetime, datetime] = (NOW - timedelta(days=1), NOW)

    def members_of(self, org_ids: Iterable[int]) -> np.ndarray:
        return self.member_ids[np.isin(self.member_org, list(org_ids))]


def synthesize(
    engine: Engine,
    *,
    scale: float = 1.0,
    organisations: int = 8_000,
    sites: int = 10_000,
    members: int = 140_000,
    track_members: int = 1,
    track_interval_s: float = 10.0,
    seed: int = 7,
    now: datetime = NOW,
) -> Customer:
    """Fill an empty migrated database with a customer of the given sizes (times ``scale``)."""
    rng = np.random.default_rng(seed)
    sizes = _Sizes.of(organisations, sites, members, scale)
    with Session(engine) as session:
        tree = _tree(sizes, rng)
        _copy(session, "organisations", tree.rows(now))
        site_rows, site_orgs = _sites(tree, sizes.sites, rng, now)
        _copy(session, "sites", site_rows)
        member_org = tree.member_orgs(sizes.members, rng)
        member_ids = np.arange(1, len(member_org) + 1)
        _copy(session, "members", _members(member_ids, member_org, now))
        _copy(session, "devices", _devices(member_ids, now))
        _copy(session, "latest_positions", _latest(tree, member_ids, member_org, rng, now))
        _advance_sequences(session)
        session.commit()
        tracked = [int(m) for m in rng.choice(member_ids, size=track_members, replace=False)]
        for member in tracked:
            write_positions(
                session,
                batch=_day_track(
                    member, tree.centre_of(int(member_org[member - 1])), rng, now, track_interval_s
                ),
            )
        session.commit()
    _analyze(engine)
    return Customer(
        root_id=1,
        regions=tree.regions(),
        branch_ids=tree.branches,
        group_ids=tree.groups,
        org_count=len(tree.parent),
        site_count=len(site_orgs),
        member_ids=member_ids,
        member_org=member_org,
        track_members=tracked,
        track_day=(now - timedelta(days=1), now),
    )


@dataclass(frozen=True)
class _Sizes:
    committees: int
    general: int
    branches: int
    groups: int
    sites: int
    members: int

    @classmethod
    def of(cls, organisations: int, sites: int, members: int, scale: float) -> _Sizes:
        total = max(10, round(organisations * scale))
        committees = max(1, round(COMMITTEES * total / 8_000))
        general = committees * GENERAL_PER_COMMITTEE
        branches = general * BRANCHES_PER_GENERAL
        groups = max(0, total - 1 - committees - general - branches)
        return cls(
            committees, general, branches, groups, round(sites * scale), round(members * scale)
        )


class _Tree:
    """Ids, parents, kinds and paths of every organisation, built level by level."""

    def __init__(self) -> None:
        self.parent: dict[int, int | None] = {}
        self.kind: dict[int, str] = {}
        self.path: dict[int, str] = {}
        self.centre: dict[int, tuple[float, float]] = {}
        self.committees: list[int] = []
        self.branches: list[int] = []
        self.groups: list[int] = []

    def add(self, kind: str, parent: int | None, centre: tuple[float, float]) -> int:
        org = len(self.parent) + 1
        self.parent[org] = parent
        self.kind[org] = kind
        self.path[org] = f"{self.path[parent] if parent else '/'}{org}/"
        self.centre[org] = centre
        return org

    def region_of(self, org: int) -> int:
        """The project committee above ``org``: the second id of its path."""
        return int(self.path[org].split("/")[2])

    def centre_of(self, org: int) -> tuple[float, float]:
        return self.centre[org]

    def rows(self, now: datetime) -> list[dict[str, Any]]:
        return [
            {
                "id": org,
                "parent_id": self.parent[org],
                "path": self.path[org],
                "depth": self.path[org].count("/") - 2,
                "kind": self.kind[org],
                "name": _NAMES[self.kind[org]].format(org),
                "code": f"ORG-{org:05d}",
                "created_at": now,
            }
            for org in self.parent
        ]

    def member_orgs(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """Members spread evenly over committees, then over their branches and groups."""
        holders = np.array(self.branches + self.groups)
        regions = np.array([self.region_of(o) for o in holders])
        per_region = {r: holders[regions == r] for r in self.committees}
        order = np.array(self.committees)[np.arange(count) % len(self.committees)]
        return np.array([rng.choice(per_region[r]) for r in order], dtype=np.int64)

    def regions(self) -> list[Region]:
        found = []
        for committee in self.committees:
            lon, lat = self.centre[committee]
            half = _REGION_KM * 1000 / _M_PER_DEG * 1.6
            half_lon = half / math.cos(math.radians(lat))
            box = BBox(lon - half_lon, lat - half, lon + half_lon, lat + half)
            found.append(Region(committee, lon, lat, box))
        return found


_NAMES = {
    "party_committee": "第{}党委",
    "general_branch": "第{}党总支",
    "branch": "第{}党支部",
    "party_group": "第{}党小组",
}
_REGION_KM = 40.0  # a region's organisations lie within this distance of its centre
# Where project committees work: most in China, some along overseas lines.
_CHINA = (97.0, 122.0, 22.0, 45.0)
_ABROAD = ((36.8, -1.3), (38.7, 9.0), (46.7, 24.7), (106.8, -6.2), (102.6, 18.0), (3.0, 36.7))


def _tree(sizes: _Sizes, rng: np.random.Generator) -> _Tree:
    tree = _Tree()
    root = tree.add("party_committee", None, (114.3, 30.6))
    for n in range(sizes.committees):
        if n % 7 == 6:
            lon, lat = _ABROAD[n % len(_ABROAD)]
            centre = (lon + rng.uniform(-1, 1), lat + rng.uniform(-1, 1))
        else:
            west, east, south, north = _CHINA
            centre = (rng.uniform(west, east), rng.uniform(south, north))
        tree.committees.append(tree.add("party_committee", root, centre))
    generals = [
        tree.add("general_branch", committee, _near(tree.centre[committee], _REGION_KM, rng))
        for committee in tree.committees
        for _ in range(GENERAL_PER_COMMITTEE)
    ]
    for general in generals:
        for _ in range(BRANCHES_PER_GENERAL):
            centre = _near(tree.centre[general], _REGION_KM / 4, rng)
            tree.branches.append(tree.add("branch", general, centre))
    for n in range(sizes.groups):
        branch = tree.branches[n % len(tree.branches)]
        tree.groups.append(tree.add("party_group", branch, tree.centre[branch]))
    return tree


def _near(centre: tuple[float, float], km: float, rng: np.random.Generator) -> tuple[float, float]:
    lon, lat = centre
    dy = rng.uniform(-km, km) * 1000 / _M_PER_DEG
    dx = rng.uniform(-km, km) * 1000 / (_M_PER_DEG * math.cos(math.radians(lat)))
    return (lon + dx, lat + dy)


def _sites(
    tree: _Tree, count: int, rng: np.random.Generator, now: datetime
) -> tuple[list[dict[str, Any]], list[int]]:
    owners = tree.branches + [o for o in tree.parent if tree.kind[o] == "general_branch"]
    params = json.dumps(asdict(SiteParams()))
    quality = json.dumps(asdict(QualityThresholds()))
    rows, orgs = [], []
    for n in range(count):
        org = owners[n % len(owners)]
        lon, lat = _near(tree.centre[org], 3.0, rng)
        half_m = float(rng.uniform(20, 150))
        dlat = half_m / _M_PER_DEG
        dlon = half_m / (_M_PER_DEG * math.cos(math.radians(lat)))
        circle = n % 4 == 3
        if circle:
            ewkt = f"SRID=4326;POINT({lon} {lat})"
        else:
            ring = [
                (lon - dlon, lat - dlat),
                (lon + dlon, lat - dlat),
                (lon + dlon, lat + dlat),
                (lon - dlon, lat + dlat),
                (lon - dlon, lat - dlat),
            ]
            ewkt = "SRID=4326;POLYGON((" + ", ".join(f"{x} {y}" for x, y in ring) + "))"
        rows.append(
            {
                "id": n + 1,
                "org_id": org,
                "name": f"工地 {n + 1}",
                "kind": "meeting_room" if circle else "project_worksite",
                "geom": ewkt,
                "radius_m": half_m if circle else None,
                "min_lon": lon - dlon,
                "min_lat": lat - dlat,
                "max_lon": lon + dlon,
                "max_lat": lat + dlat,
                "tz": "Asia/Shanghai" if lon > 73 else "Africa/Nairobi",
                "params": params,
                "quality": quality,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
        orgs.append(org)
    return rows, orgs


def _members(ids: np.ndarray, orgs: np.ndarray, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "id": int(m),
            "org_id": int(o),
            "name": f"党员{m}",
            "code": f"DY{m:07d}",
            "active": True,
            "created_at": now,
        }
        for m, o in zip(ids, orgs, strict=True)
    ]


def _devices(ids: np.ndarray, now: datetime) -> list[dict[str, Any]]:
    return [
        {"id": int(m), "uid": f"86{m:013d}", "member_id": int(m), "active": True, "created_at": now}
        for m in ids
    ]


def _latest(
    tree: _Tree, ids: np.ndarray, orgs: np.ndarray, rng: np.random.Generator, now: datetime
) -> list[dict[str, Any]]:
    rows = []
    ages = rng.uniform(0, 3600, size=len(ids))
    for m, o, age in zip(ids, orgs, ages, strict=True):
        lon, lat = _near(tree.centre[int(o)], 3.0, rng)
        at = now - timedelta(seconds=float(age))
        rows.append(
            {
                "member_id": int(m),
                "org_id": int(o),
                "device_id": int(m),
                "received_at": at,
                "fix_time": at,
                "lat": lat,
                "lon": lon,
                "alt_m": 30.0,
                "mode": 3,
                "quality": 1,
                "hdop": 0.9,
                "sats_used": 14,
                "sats_beidou": 8,
                "accuracy_m": 3.0,
                "speed_mps": 0.5,
                "course_deg": 90.0,
            }
        )
    return rows


def _day_track(
    member: int,
    centre: tuple[float, float],
    rng: np.random.Generator,
    now: datetime,
    interval_s: float,
) -> PositionBatch:
    """A day of fixes walking around ``centre``."""
    n = int(86_400 / interval_s)
    start = now - timedelta(days=1)
    steps = rng.normal(0, 2.0, size=(n, 2)).cumsum(axis=0) / _M_PER_DEG
    times = [start + timedelta(seconds=i * interval_s) for i in range(n)]
    batch = PositionBatch()
    batch.device_id = [member] * n
    batch.member_id = [member] * n
    batch.received_at = times
    batch.fix_time = times
    batch.lat = (centre[1] + steps[:, 1]).tolist()
    batch.lon = (centre[0] + steps[:, 0]).tolist()
    for name, value in (
        ("alt_m", 30.0),
        ("hdop", 0.9),
        ("pdop", 1.5),
        ("accuracy_m", 3.0),
        ("speed_mps", 1.0),
        ("course_deg", 0.0),
    ):
        setattr(batch, name, [value] * n)
    batch.mode, batch.quality = [3] * n, [1] * n
    batch.sats_used, batch.sats_beidou, batch.sats_gps = [14] * n, [8] * n, [6] * n
    for name in ("sats_glonass", "sats_galileo", "sats_qzss", "sats_navic", "sats_sbas"):
        setattr(batch, name, [None] * n)
    batch.source, batch.rejections = ["tcp"] * n, [None] * n
    return batch


def _copy(session: Session, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys) as fast as the backend allows."""
    if not rows:
        return
    columns = list(rows[0])
    connection = session.connection()
    dbapi = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join(_pg_text(row[c]) for c in columns) + "\n")
        with (
            dbapi.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            copy.write(buffer.getvalue())
        return
    marks = ", ".join("GeomFromEWKT(?)" if c == "geom" else "?" for c in columns)
    dbapi.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
        [tuple(_sqlite_value(row[c]) for c in columns) for row in rows],
    )


def _pg_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _sqlite_value(value: Any) -> Any:
    return sqlite_timestamp(value) if isinstance(value, datetime) else value


def _advance_sequences(session: Session) -> None:
    session.execute(text("UPDATE counters SET value = value + 1 WHERE name = 'site_set'"))
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite's rowids carry on from the largest id by themselves
    for table in ("organisations", "sites", "members", "devices"):
        session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        )


def _analyze(engine: Engine) -> None:
    # Fresh statistics, so the planner sees 140,000 rows and not an empty table.
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
