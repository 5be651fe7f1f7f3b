"""Store benchmark: writes and reads on SpatiaLite and PostGIS, with same-run baselines.

    python bench/store.py            # full sizes: 8,000 organisations, 140,000 members
    python bench/store.py --quick    # smaller, for a smoke run

Per backend it prints positions written per second through the batch path (and through a
plain per-row ORM insert, the baseline), the latest position of every member (latest table
against a scan of the history), and the subtree of the whole tree (materialised path against a
recursive CTE). PostGIS runs on a throwaway cluster started here (fsync off, as in the tests);
the machine is shared, so compare the ratios, not the absolute figures, between runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from geoalchemy2 import WKTElement
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session

# Run as a script, this file's directory heads sys.path and its name would shadow the store
# package: take the directory off before importing it.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from devkit.services import throwaway_postgis  # noqa: E402
from store import latest, orgs  # noqa: E402
from store.db import make_engine  # noqa: E402
from store.migrations import upgrade  # noqa: E402
from store.models import Member, OrgKind, Position  # noqa: E402
from store.positions import POSITION_COLUMNS, PositionBatch, write_positions  # noqa: E402

T0 = datetime(2026, 5, 1, tzinfo=UTC)
LEVELS = (  # 1 + 39 + 160 + 1,600 + 6,200 = 8,000 organisations
    (OrgKind.PARTY_COMMITTEE, 1),
    (OrgKind.PARTY_COMMITTEE, 39),
    (OrgKind.GENERAL_BRANCH, 160),
    (OrgKind.BRANCH, 1600),
    (OrgKind.PARTY_GROUP, 6200),
)


@dataclass(frozen=True)
class Sizes:
    organisations_scale: float
    members: int
    devices_streaming: int  # members reporting in the write benchmark
    batch: int
    batches: int
    orm_rows: int


FULL = Sizes(1.0, 140_000, 10_000, 20_000, 20, 20_000)
QUICK = Sizes(0.1, 14_000, 2_000, 5_000, 4, 3_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a smoke run")
    parser.add_argument("--backend", choices=["spatialite", "postgis", "both"], default="both")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.backend in ("spatialite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
            run("SpatiaLite", url, sizes, target_write=50_000, target_latest_ms=None)
    if args.backend in ("postgis", "both"):
        with throwaway_postgis() as url:
            run("PostGIS", url, sizes, target_write=150_000, target_latest_ms=200)


def run(
    name: str, url: str, sizes: Sizes, *, target_write: float, target_latest_ms: float | None
) -> None:
    engine = make_engine(url)
    upgrade(engine)
    print(f"\n== {name} ==")
    try:
        with Session(engine) as session:
            started = time.perf_counter()
            tree = build_tree(session, sizes.organisations_scale)
            print(
                f"seed: {len(tree.all)} organisations via create_organisation in "
                f"{time.perf_counter() - started:.1f} s"
            )
            member_ids = seed_members(session, tree.leaves, sizes.members)
        analyze(engine)
        writes(engine, member_ids, sizes, target_write)
        latest_reads(engine, target_latest_ms)
        subtrees(engine, tree)
    finally:
        engine.dispose()


# --- seeding -------------------------------------------------------------------------------


@dataclass
class Tree:
    all: list[int]
    root: int
    committee: int  # a second-level committee, about 1/39 of the tree
    leaves: list[int]


def build_tree(session: Session, scale: float) -> Tree:
    levels: list[list[int]] = []
    for kind, count in LEVELS:
        parents = levels[-1] if levels else [None]
        n = max(1, round(count * scale)) if levels else 1
        level = [
            orgs.create_organisation(
                session, name=f"{kind.value}-{i}", kind=kind, parent_id=parents[i % len(parents)]
            ).id
            for i in range(n)
        ]
        levels.append(level)
    session.commit()
    return Tree(
        all=[o for level in levels for o in level],
        root=levels[0][0],
        committee=levels[1][0],
        leaves=levels[-2] + levels[-1],
    )


def seed_members(session: Session, org_ids: list[int], count: int) -> list[int]:
    rows = [
        {"org_id": org_ids[i % len(org_ids)], "name": f"member-{i}", "active": True}
        for i in range(count)
    ]
    for start in range(0, count, 20_000):
        session.execute(insert(Member), rows[start : start + 20_000])
    session.commit()
    return list(session.scalars(select(Member.id).order_by(Member.id)))


def analyze(engine: Engine) -> None:
    # As a running database would have: statistics of the seeded tables.
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()


def fixes(
    member_ids: list[int], count: int, first: int, rng: random.Random, *, rejected: bool = True
) -> PositionBatch:
    """``count`` fixes of ``member_ids`` in turn, from receivers around Wuhan; 2 % rejected
    unless ``rejected`` is False."""
    batch = PositionBatch()
    for k in range(first, first + count):
        member = member_ids[k % len(member_ids)]
        when = T0 + timedelta(milliseconds=100 * k)
        rejected_here = rejected and k % 50 == 0
        batch.device_id.append(member)
        batch.member_id.append(member)
        batch.received_at.append(when + timedelta(milliseconds=300))
        batch.fix_time.append(when)
        batch.lat.append(30.4 + rng.random() * 0.4)
        batch.lon.append(114.1 + rng.random() * 0.4)
        batch.alt_m.append(22.0)
        batch.mode.append(3)
        batch.quality.append(1)
        batch.hdop.append(9.5 if rejected_here else 0.9)
        batch.pdop.append(1.6)
        batch.sats_used.append(14)
        for column, n in (("sats_gps", 5), ("sats_beidou", 8), ("sats_galileo", 1)):
            getattr(batch, column).append(n)
        for column in ("sats_glonass", "sats_qzss", "sats_navic", "sats_sbas"):
            getattr(batch, column).append(None)
        batch.accuracy_m.append(2.6)
        batch.speed_mps.append(0.3)
        batch.course_deg.append(180.0)
        batch.source.append("bench")
        batch.rejections.append("hdop_too_high" if rejected_here else None)
    return batch


# --- measurements --------------------------------------------------------------------------


def writes(engine: Engine, member_ids: list[int], sizes: Sizes, target: float) -> None:
    rng = random.Random(4)
    streaming = member_ids[: sizes.devices_streaming]
    rows = sizes.batch * sizes.batches
    only = _write_rate(engine, streaming, sizes, rng, first=0, refresh_latest=False)
    with_latest = _write_rate(engine, streaming, sizes, rng, first=rows, refresh_latest=True)
    # Every member once, so each row of a batch moves a different latest position (and every
    # member has one for the reads below).
    every = fixes(member_ids, len(member_ids), 2 * rows, rng, rejected=False)
    started = time.perf_counter()
    for start in range(0, len(member_ids), sizes.batch):
        with Session(engine) as session:
            write_positions(session, batch=_slice(every, start, start + sizes.batch))
            session.commit()
    spread = len(member_ids) / (time.perf_counter() - started)
    orm = orm_baseline(engine, streaming, sizes.orm_rows, rng)
    shape = f"{sizes.batches} batches of {sizes.batch:,} from {len(streaming):,} devices"
    print(
        f"positions, batch path ({shape}): {only:,.0f} rows/s "
        f"[target ≥ {target:,.0f}: {_verdict(only >= target)}] = {only / orm:.1f}× ORM"
    )
    print(
        f"positions, batch path + latest refreshed per batch: {with_latest:,.0f} rows/s "
        f"= {with_latest / orm:.1f}× ORM"
    )
    print(
        f"positions, batch path + latest, every row a different member: {spread:,.0f} rows/s "
        f"= {spread / orm:.1f}× ORM"
    )
    print(f"positions, per-row ORM baseline ({sizes.orm_rows:,} rows): {orm:,.0f} rows/s")


def _write_rate(
    engine: Engine,
    member_ids: list[int],
    sizes: Sizes,
    rng: random.Random,
    *,
    first: int,
    refresh_latest: bool,
) -> float:
    batches = [
        fixes(member_ids, sizes.batch, first + i * sizes.batch, rng) for i in range(sizes.batches)
    ]
    elapsed = 0.0
    for batch in batches:
        with Session(engine) as session:
            started = time.perf_counter()
            write_positions(session, batch=batch, refresh_latest=refresh_latest)
            session.commit()
            elapsed += time.perf_counter() - started
    return sizes.batch * sizes.batches / elapsed


def orm_baseline(engine: Engine, member_ids: list[int], count: int, rng: random.Random) -> float:
    batch = fixes(member_ids, count, 10_000_000, rng)
    columns = batch.columns()
    objects = []
    for i in range(count):
        values = {c: columns[c][i] for c in POSITION_COLUMNS}
        values["geom"] = WKTElement(f"POINT({values['lon']} {values['lat']})", srid=4326)
        objects.append(values)
    started = time.perf_counter()
    with Session(engine) as session:
        for values in objects:
            session.add(Position(**values))
        session.commit()
    return count / (time.perf_counter() - started)


def latest_reads(engine: Engine, target_ms: float | None) -> None:
    with Session(engine) as session:
        columns_ms = _median_ms(lambda: latest.latest_position_columns(session), 5)
        count = len(latest.latest_position_columns(session))
        tuples_ms = _median_ms(lambda: latest.latest_positions(session), 3)
        scan_ms = _median_ms(lambda: history_scan(session), 3)
        history = session.scalar(select(text("count(*)")).select_from(Position.__table__))
    verdict = ""
    if target_ms is not None:
        verdict = f" [target < {target_ms:.0f} ms: {_verdict(columns_ms < target_ms)}]"
    print(f"latest position of {count:,} members, columns: {columns_ms:.0f} ms{verdict}")
    print(f"latest position of {count:,} members, as tuples: {tuples_ms:.0f} ms")
    print(
        f"latest position by scanning the {history:,}-row history instead: {scan_ms:.0f} ms"
        f" — latest table is {scan_ms / columns_ms:.1f}× faster"
    )


def history_scan(session: Session) -> list[Any]:
    """The latest position without the latest table: the newest accepted row per member."""
    if session.get_bind().dialect.name == "postgresql":
        sql = (
            "SELECT DISTINCT ON (member_id) member_id, fix_time, lat, lon, accuracy_m "
            "FROM positions WHERE rejections IS NULL AND lat IS NOT NULL "
            "ORDER BY member_id, fix_time DESC"
        )
    else:
        sql = (
            "SELECT member_id, max(fix_time), lat, lon, accuracy_m FROM positions "
            "WHERE rejections IS NULL AND lat IS NOT NULL GROUP BY member_id"
        )
    return list(session.execute(text(sql)))


def subtrees(engine: Engine, tree: Tree) -> None:
    with Session(engine) as session:
        for label, org_id in (("whole tree", tree.root), ("one committee", tree.committee)):
            found = len(orgs.subtree_ids(session, org_id=org_id))
            path_ms = _median_ms(lambda o=org_id: orgs.subtree_ids(session, org_id=o), 20)
            cte_ms = _median_ms(lambda o=org_id: recursive_subtree(session, o), 20)
            assert sorted(recursive_subtree(session, org_id)) == sorted(
                orgs.subtree_ids(session, org_id=org_id)
            )
            verdict = f" [target < 20 ms: {_verdict(path_ms < 20)}]" if org_id == tree.root else ""
            print(
                f"subtree, {label} ({found:,} of {len(tree.all):,}): materialised path "
                f"{path_ms:.1f} ms, recursive CTE {cte_ms:.1f} ms "
                f"({cte_ms / path_ms:.1f}×){verdict}"
            )


def recursive_subtree(session: Session, org_id: int) -> list[int]:
    return list(
        session.scalars(
            text(
                "WITH RECURSIVE sub(id) AS (SELECT id FROM organisations WHERE id = :root "
                "UNION ALL SELECT o.id FROM organisations o JOIN sub ON o.parent_id = sub.id) "
                "SELECT id FROM sub"
            ),
            {"root": org_id},
        )
    )


def _slice(batch: PositionBatch, start: int, stop: int) -> PositionBatch:
    return PositionBatch(**{c: values[start:stop] for c, values in batch.columns().items()})


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm caches
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


if __name__ == "__main__":
    main()
