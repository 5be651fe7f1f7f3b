"""Statistics benchmark (三会一课, 考核) on PostGIS at the scale of the largest customer.

    python bench/stats.py            # 8,000 organisations, 140,000 members, a year of meetings
    python bench/stats.py --quick    # a tenth of it, for a smoke run

Seeds (COPY) 8,000 organisations — 1 group committee, 19 committees of about 420
organisations each, 380 general branches, 7,000 branches of 20 members, 600 party groups —
and one year of recorded meetings at the default frequencies (each branch 4 支部党员大会,
12 支委会, 4 党课 and 12 主题党日; each party group 12 党小组会): about 232,000 meetings and
4.5 million attendance rows. Then measures, p50 and p99:

* the whole tree's statistics for the year (target < 1 s), and one general branch's
  (target < 200 ms), as ``/api/v1/stats/overview`` computes them (whole months from the
  rollup, ``store.rollup``), then the same counting every meeting (no rollup), and the older
  baseline grouping the attendance rows themselves per organisation;
* the period report workbook of one committee's subtree (about 420 organisations) for a
  quarter (target < 10 s) and for the whole year.

PostGIS runs on a throwaway cluster started here (fsync off, as in the tests). The machine is
shared: compare the ratios, and read the absolute figures with the load of the moment.
"""

from __future__ import annotations

import argparse
import io
import statistics as stats_lib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from api.period_report import period_workbook  # noqa: E402
from api.statistics import overview, requirements  # noqa: E402
from devkit.services import throwaway_postgis  # noqa: E402
from partymap.settings import Settings  # noqa: E402
from store import rollup  # noqa: E402
from store.db import make_engine  # noqa: E402
from store.migrations import upgrade  # noqa: E402
from store.models import AttendanceRow, MeetingRow  # noqa: E402
from store.stats import statistics  # noqa: E402

YEAR = 2026
NOW = datetime(YEAR + 1, 1, 10, tzinfo=UTC)  # the year has ended: every period is due
CREATED = datetime(YEAR - 1, 6, 1, tzinfo=UTC)
TZ = "Asia/Shanghai"
BRANCH_MEETINGS = (  # kind, months it is held in, hour (UTC) it starts
    ("BRANCH_GENERAL_MEETING", (1, 4, 7, 10), 6),
    ("BRANCH_COMMITTEE_MEETING", tuple(range(1, 13)), 7),
    ("PARTY_LECTURE", (2, 5, 8, 11), 1),
    ("THEMED_PARTY_DAY", tuple(range(1, 13)), 2),
)
STATUSES = ("present", "late", "left_early", "absent", "excused")
SHARES = (0.85, 0.05, 0.02, 0.05, 0.03)


@dataclass(frozen=True)
class Shape:
    committees: int
    generals_per_committee: int
    branches: int
    groups: int
    members_per_branch: int


FULL = Shape(committees=19, generals_per_committee=20, branches=7000, groups=600,
             members_per_branch=20)  # fmt: skip
QUICK = Shape(committees=2, generals_per_committee=20, branches=700, groups=60,
              members_per_branch=20)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the size")
    parser.add_argument("--repeat", type=int, default=20, help="runs per measure (p50, p99)")
    args = parser.parse_args()
    shape = QUICK if args.quick else FULL
    with throwaway_postgis() as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            world = seed(engine, shape)
            measure(engine, world, args.repeat)
        finally:
            engine.dispose()


@dataclass
class World:
    root: int
    committee: int
    general: int
    organisations: int
    members: int
    meetings: int
    attendance: int


def seed(engine: Engine, shape: Shape) -> World:
    started = time.perf_counter()
    rng = np.random.default_rng(15)
    orgs: list[tuple[int, int | None, str, int, str]] = [(1, None, "/1/", 0, "party_committee")]
    next_id = 2
    committees, generals = [], []
    for _ in range(shape.committees):
        orgs.append((next_id, 1, f"/1/{next_id}/", 1, "party_committee"))
        committees.append(next_id)
        next_id += 1
    for c in committees:
        for _ in range(shape.generals_per_committee):
            orgs.append((next_id, c, f"/1/{c}/{next_id}/", 2, "general_branch"))
            generals.append((next_id, f"/1/{c}/{next_id}/"))
            next_id += 1
    branches = []
    for n in range(shape.branches):
        g, path = generals[n % len(generals)]
        orgs.append((next_id, g, f"{path}{next_id}/", 3, "branch"))
        branches.append((next_id, f"{path}{next_id}/"))
        next_id += 1
    groups = []
    for n in range(shape.groups):
        b, path = branches[n * len(branches) // shape.groups]
        orgs.append((next_id, b, f"{path}{next_id}/", 4, "party_group"))
        groups.append((next_id, b))
        next_id += 1
    members: list[tuple[int, int]] = []  # (member id, org id)
    group_of = {b: g for g, b in groups}
    roll: dict[int, list[int]] = {}  # org → member ids on its meetings' roll
    member_id = 1
    for b, _ in branches:
        ids = list(range(member_id, member_id + shape.members_per_branch))
        member_id += shape.members_per_branch
        roll[b] = ids
        in_group = ids[:2] if b in group_of else []
        if in_group:
            roll[group_of[b]] = in_group
        members += [(m, group_of[b] if m in in_group else b) for m in ids]
    meetings: list[tuple[int, int, str, datetime]] = []
    for b, _ in branches:
        for kind, months, hour in BRANCH_MEETINGS:
            for month in months:
                day = 1 + (b + month) % 25
                meetings.append(
                    (len(meetings) + 1, b, kind, datetime(YEAR, month, day, hour, tzinfo=UTC))
                )
    for g, _ in groups:
        for month in range(1, 13):
            meetings.append((len(meetings) + 1, g, "GROUP_MEETING",
                             datetime(YEAR, month, 3 + g % 20, 8, tzinfo=UTC)))  # fmt: skip
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            _copy(
                cursor,
                "organisations",
                ("id", "parent_id", "path", "depth", "kind", "name", "created_at"),
                ((i, p, path, d, k, f"{k}-{i}", CREATED) for i, p, path, d, k in orgs),
            )
            _copy(
                cursor,
                "members",
                ("id", "org_id", "name", "code", "active", "created_at"),
                ((m, o, f"党员{m}", f"M{m:06d}", True, CREATED) for m, o in members),
            )
            rows = _attendance_and_meetings(cursor, meetings, roll, rng)
            for table in ("organisations", "members", "meetings"):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT max(id) FROM {table}))")  # fmt: skip
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    print(
        f"seed: {len(orgs):,} organisations, {len(members):,} members, {len(meetings):,} "
        f"meetings, {rows:,} attendance rows in {time.perf_counter() - started:.0f} s"
    )
    t0 = time.perf_counter()
    with Session(engine) as session:
        made = rollup.rebuild(session, TZ)
        session.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE meeting_rollup"))
    print(f"rollup: {made:,} (organisation, kind, month) rows in {time.perf_counter() - t0:.1f} s")
    committee = committees[0]
    general = generals[0][0]
    return World(1, committee, general, len(orgs), len(members), len(meetings), rows)


def _attendance_and_meetings(
    cursor: Any,
    meetings: list[tuple[int, int, str, datetime]],
    roll: dict[int, list[int]],
    rng: np.random.Generator,
) -> int:
    """COPY the attendance of every meeting and the meetings with their summaries."""
    status_of = np.array(STATUSES)
    meeting_rows = []
    total = 0
    buffer = io.StringIO()
    columns = ("meeting_id", "member_id", "outcome", "status", "evidence", "first_checkin_at",
               "computed_at")  # fmt: skip
    for meeting_id, org, kind, start in meetings:
        ids = roll[org]
        picks = status_of[rng.choice(len(STATUSES), size=len(ids), p=SHARES)]
        counts = {s: 0 for s in STATUSES}
        for member, status in zip(ids, picks.tolist(), strict=True):
            counts[status] += 1
            came = status in ("present", "late", "left_early")
            evidence = "beidou" if came else "\\N"
            checkin = (start - timedelta(minutes=5)).isoformat() if came else "\\N"
            buffer.write(f"{meeting_id}\t{member}\t{status}\t{status}\t{evidence}\t{checkin}\t"
                         f"{start.isoformat()}\n")  # fmt: skip
        total += len(ids)
        end = start + timedelta(minutes=90)
        meeting_rows.append((meeting_id, org, kind, "", "", TZ, start, end, 1800.0, 300.0, 600.0,
                             "scheduled", False, end + timedelta(minutes=15), len(ids),
                             counts["present"], counts["late"], counts["left_early"],
                             counts["absent"], counts["excused"], start, start))  # fmt: skip
        if buffer.tell() > 50_000_000:
            _flush_attendance(cursor, columns, buffer, meeting_rows)
            buffer, meeting_rows = io.StringIO(), []
    _flush_attendance(cursor, columns, buffer, meeting_rows)
    return total


def _flush_attendance(cursor: Any, columns: tuple[str, ...], buffer: io.StringIO,
                      meeting_rows: list[tuple[Any, ...]]) -> None:  # fmt: skip
    _copy(cursor, "meetings", ("id", "org_id", "kind", "title", "topic", "tz", "start_at",
                               "end_at", "early_s", "late_grace_s", "left_early_margin_s",
                               "status", "plan_detached", "recorded_at", "expected_n",
                               "present_n", "late_n", "left_early_n", "absent_n", "excused_n",
                               "created_at", "updated_at"), meeting_rows)  # fmt: skip
    with cursor.copy(f"COPY attendance ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(buffer.getvalue())


def _copy(cursor: Any, table: str, columns: tuple[str, ...], rows: Any) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def measure(engine: Engine, world: World, repeat: int) -> None:
    settings = Settings(meetings_tz=TZ)
    first, last = date(YEAR, 1, 1), date(YEAR + 1, 1, 1)

    def stats_of(root: int, use_rollup: bool = True) -> Callable[[], object]:
        def run() -> object:
            with Session(engine) as session:
                found = statistics(session, root_id=root, start=first, end=last, tz=TZ, now=NOW,
                                   requirements=requirements(settings),
                                   rollup=use_rollup)  # fmt: skip
                return overview(found, root)

        return run

    def baseline(root: int) -> Callable[[], object]:
        def run() -> object:  # the former way: count attendance rows per organisation
            with Session(engine) as session:
                scope = (
                    select(text("id"))
                    .select_from(text("organisations o"))
                    .where(text(f"o.path LIKE '{_path(session, root)}%'"))
                )
                return session.execute(
                    select(MeetingRow.org_id, AttendanceRow.status, func.count())
                    .join(MeetingRow, MeetingRow.id == AttendanceRow.meeting_id)
                    .where(MeetingRow.org_id.in_(scope))
                    .group_by(MeetingRow.org_id, AttendanceRow.status)
                ).all()

        return run

    print(f"\nstatistics for {YEAR} (p50 / p99 over {repeat} runs):")
    for label, root, target in (
        ("whole tree", world.root, 1000.0),
        ("one general branch", world.general, 200.0),
    ):
        assert stats_of(root)() == stats_of(root, use_rollup=False)()  # the same figures
        # Turn about, so that both meet the same load of the (shared) machine.
        ours, direct = _paired(stats_of(root), stats_of(root, use_rollup=False), repeat)
        theirs = _timings(baseline(root), max(3, repeat // 4))
        p50, p99 = _pct(ours, 50), _pct(ours, 99)
        ratio = stats_lib.median(theirs) / p50 if p50 else float("nan")
        print(f"  {label:<20} {p50:8.1f} / {p99:8.1f} ms   target < {target:.0f} ms: "
              f"{_verdict(p99 < target)}\n  {'':<20} without the rollup (every meeting) "
              f"{_pct(direct, 50):8.1f} / {_pct(direct, 99):8.1f} ms; baseline (count "
              f"attendance rows) {stats_lib.median(theirs):8.1f} ms (baseline / ours "
              f"{ratio:.2f})")  # fmt: skip
    with Session(engine) as session:
        size = session.scalar(
            text("SELECT count(*) FROM organisations WHERE path LIKE :p").bindparams(
                p=f"{_path(session, world.committee)}%"
            )
        )
    print(f"\nperiod workbook of a committee's subtree ({size} organisations):")
    for label, start, end, target in (
        ("a quarter", date(YEAR, 4, 1), date(YEAR, 7, 1), 10.0),
        ("the year", first, last, None),
    ):
        runs = []
        made = None
        for _ in range(3):
            t0 = time.perf_counter()
            with Session(engine) as session:
                made = period_workbook(session, settings, root_id=world.committee, start=start,
                                       end=end, lang="zh-CN", now=NOW)  # fmt: skip
            runs.append(time.perf_counter() - t0)
        assert made is not None
        best = stats_lib.median(runs)
        verdict = f"target < {target:.0f} s: {_verdict(best < target)}" if target else ""
        print(f"  {label:<10} {best:6.1f} s (median of 3)  {made.meetings:,} meetings, "
              f"{made.sheets:,} sheets, {len(made.data) / 1e6:.1f} MB   {verdict}")  # fmt: skip


def _path(session: Session, org_id: int) -> str:
    return str(
        session.scalar(text("SELECT path FROM organisations WHERE id = :i").bindparams(i=org_id))
    )


def _timings(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm the caches and the plans
    found = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        found.append((time.perf_counter() - t0) * 1000)
    return found


def _paired(
    a: Callable[[], object], b: Callable[[], object], repeat: int
) -> tuple[list[float], list[float]]:
    a(), b()  # warm the caches and the plans
    found: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for fn, into in ((a, found[0]), (b, found[1])):
            t0 = time.perf_counter()
            fn()
            into.append((time.perf_counter() - t0) * 1000)
    return found


def _pct(values: list[float], q: int) -> float:
    return float(np.percentile(values, q))


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    main()
