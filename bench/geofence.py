"""Geofence benchmark: membership and membership + presence against shapely's STRtree.

10,000 sites (convex and concave polygons and circles, 30–500 m across) clustered around
Chinese cities and overseas worksites, and fixes from 140,000 members: 40 % near a site
boundary, 20 % inside, the rest elsewhere in town. Three kinds of tracks:

* *anchored*: each member stays put and its fixes scatter with its receiver's accuracy; every
  member sends about as many fixes, spread over the minutes its own period takes;
* *scattered*: every fix drawn anew, so the evidence changes at almost every fix (the worst
  case for presence);
* *stream*: the anchored places as a real stream — each member reports every 1, 5, 15 or
  30 s, so fast reporters send most of the fixes, and the 1M fixes are the next ~22 s of the
  whole organisation after a warm-up (``make_stream``). The first two keep every member
  sending equally, which a real window never does; they stay for comparison.

Prints fixes per CPU second (the machine is shared, so wall time says little) for

* shapely ``STRtree.query(points, predicate="intersects")`` in one bulk call (the baseline),
* ``SiteIndex.memberships`` (accuracy margins and hysteresis included),
* membership + ``PresenceTracker.step`` (events as columns), in the steady state (after the
  window before) and from empty state (every member arriving at once), in batches of
  ``--batch`` fixes, and the steady state again in the pipeline's micro-batches (``--micro``:
  ~50 ms of the stream, where fixed costs per batch count),

each as a ratio to the baseline measured in the same run; the presence state's memory; the
CPU time of the first presence step in a fresh process (numba compiling its loop, or loading
it from the cache); and the load average seen.

    python bench/geofence.py                 # 1,000,000 fixes
    python bench/geofence.py --fixes 100000  # a quick run
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import Point, Polygon

from geo.coords import LocalFrame
from geo.model import Site, SiteKind
from geo.presence.batch import PresenceTracker
from geo.presence.kernel import step_epochs
from geo.sites.kernel import find_memberships
from geo.sites.membership import SiteIndex
from gnss.fixtable import FixTable
from gnss.jit import cache_report

COMPILED = (find_memberships, step_epochs)

FloatArray = npt.NDArray[np.float64]

# (lon, lat, IANA zone): Chinese cities, then overseas worksites.
CITIES = [
    (116.40, 39.90, "Asia/Shanghai"),
    (121.47, 31.23, "Asia/Shanghai"),
    (114.30, 30.59, "Asia/Shanghai"),
    (113.26, 23.13, "Asia/Shanghai"),
    (104.07, 30.67, "Asia/Shanghai"),
    (108.94, 34.34, "Asia/Shanghai"),
    (126.64, 45.76, "Asia/Shanghai"),
    (87.62, 43.83, "Asia/Urumqi"),
    (102.71, 25.04, "Asia/Shanghai"),
    (117.20, 39.13, "Asia/Shanghai"),
    (36.82, -1.29, "Africa/Nairobi"),
    (38.75, 9.03, "Africa/Addis_Ababa"),
    (3.06, 36.75, "Africa/Algiers"),
    (46.72, 24.69, "Asia/Riyadh"),
    (55.27, 25.20, "Asia/Dubai"),
    (106.85, -6.21, "Asia/Jakarta"),
    (101.69, 3.14, "Asia/Kuala_Lumpur"),
    (102.63, 17.97, "Asia/Vientiane"),
]
OVERSEAS_FROM = 10
CITY_SPREAD_DEG = 0.08


@dataclass(frozen=True, slots=True)
class SiteSet:
    sites: list[Site]
    frames: list[LocalFrame]
    outlines: list[FloatArray]  # local metres, closed ring; circles as their radius only
    radii: FloatArray  # NaN for polygons
    city: npt.NDArray[np.int64]


def make_sites(n: int, rng: np.random.Generator) -> SiteSet:
    """``n`` sites: 30 % circles, 40 % convex polygons, 30 % concave (star) polygons."""
    sites, frames, outlines = [], [], []
    radii = np.full(n, np.nan)
    city = np.where(
        rng.uniform(size=n) < 0.85,
        rng.integers(0, OVERSEAS_FROM, n),
        rng.integers(OVERSEAS_FROM, len(CITIES), n),
    )
    for i in range(n):
        lon_c, lat_c, tz = CITIES[city[i]]
        frame = LocalFrame.at(
            lon=lon_c + rng.normal(0, CITY_SPREAD_DEG), lat=lat_c + rng.normal(0, CITY_SPREAD_DEG)
        )
        r = rng.uniform(15.0, 250.0)  # 30–500 m across
        kind = rng.uniform()
        if kind < 0.3:
            radii[i] = r
            geom: Point | Polygon = Point(frame.lon0, frame.lat0)
            outline = np.zeros((0, 2))
        else:
            concave = kind >= 0.7
            m = int(rng.integers(8, 17) if concave else rng.integers(4, 11))
            ang = np.sort(rng.uniform(0, 2 * math.pi, m))
            rad = r * rng.uniform(0.8, 1.0, m)
            if concave:
                rad[::2] *= rng.uniform(0.35, 0.7)
            xy = np.c_[rad * np.cos(ang), rad * np.sin(ang)]
            if not concave:
                xy = np.asarray(shapely.convex_hull(shapely.multipoints(xy)).exterior.coords)[:-1]
            outline = np.vstack([xy, xy[:1]])
            geom = Polygon([frame.to_lonlat(x, y) for x, y in xy])
            if not geom.is_valid:  # nearly equal angles can fold a star; use its hull
                outline = np.asarray(shapely.convex_hull(shapely.multipoints(xy)).exterior.coords)
                geom = Polygon([frame.to_lonlat(x, y) for x, y in outline])
        kind_name = SiteKind.MEETING_ROOM if r < 30 else SiteKind.PROJECT_WORKSITE
        sites.append(
            Site(
                id=i + 1,
                org_id=1 + i % 997,
                name=f"site {i + 1}",
                geometry=geom,
                radius_m=None if np.isnan(radii[i]) else float(r),
                kind=kind_name,
                tz=tz,
            )
        )
        frames.append(frame)
        outlines.append(outline)
    return SiteSet(sites, frames, outlines, radii, city.astype(np.int64))


@dataclass(frozen=True, slots=True)
class FixSet:
    member: npt.NDArray[np.int64]
    time_s: FloatArray
    lat: FloatArray
    lon: FloatArray
    accuracy_m: FloatArray


def _places(
    site_set: SiteSet, site: npt.NDArray[np.int64], rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(lon, lat, kx, ky) per entry: 40 % within ~±25 m of the site's boundary, 20 % inside,
    40 % elsewhere in its town; kx, ky are metres per degree there."""
    n = len(site)
    category = rng.uniform(size=n)
    lengths = np.array([max(len(o) - 1, 0) for o in site_set.outlines])
    starts = np.concatenate([[0], np.cumsum([len(o) for o in site_set.outlines])[:-1]])
    vertices = np.vstack([o for o in site_set.outlines if len(o)])
    r = site_set.radii[site]
    theta = rng.uniform(0, 2 * math.pi, n)
    bx, by = r * np.cos(theta), r * np.sin(theta)
    poly = np.isnan(r)
    edge = starts[site[poly]] + (rng.uniform(size=poly.sum()) * lengths[site[poly]]).astype(int)
    t = rng.uniform(size=poly.sum())
    bx[poly] = vertices[edge, 0] + t * (vertices[edge + 1, 0] - vertices[edge, 0])
    by[poly] = vertices[edge, 1] + t * (vertices[edge + 1, 1] - vertices[edge, 1])
    near = category < 0.4
    inside = (category >= 0.4) & (category < 0.6)
    x = np.where(near, bx + rng.normal(0, 12.0, n), bx * rng.uniform(0, 0.9, n))
    y = np.where(near, by + rng.normal(0, 12.0, n), by * rng.uniform(0, 0.9, n))
    lon0 = np.array([f.lon0 for f in site_set.frames])[site]
    lat0 = np.array([f.lat0 for f in site_set.frames])[site]
    kx = np.array([f.kx for f in site_set.frames])[site]
    ky = np.array([f.ky for f in site_set.frames])[site]
    lon, lat = lon0 + x / kx, lat0 + y / ky
    town = ~(near | inside)
    city = np.array([CITIES[c][:2] for c in site_set.city[site[town]]]).reshape(-1, 2)
    lon[town] = city[:, 0] + rng.uniform(-0.2, 0.2, town.sum())
    lat[town] = city[:, 1] + rng.uniform(-0.2, 0.2, town.sum())
    return lon, lat, kx, ky


def make_fixes(
    site_set: SiteSet, n: int, n_members: int, rng: np.random.Generator, *, scatter: bool
) -> FixSet:
    """``n`` fixes in arrival order; every member has a home site and reports every 1–30 s.

    Anchored (default): each member stays at one place — on the home site's boundary, inside
    it, or elsewhere in town — and its fixes scatter around it with the receiver's accuracy
    (RTK 2 cm, consumer modules ~4 m, poor ones 15–40 m). ``scatter``: every fix is drawn anew,
    so a member's evidence changes at almost every fix (the worst case for presence).
    """
    member = rng.integers(0, n_members, n)
    home = rng.integers(0, len(site_set.sites), n_members)
    grade = rng.uniform(size=n_members)
    sigma = np.where(
        grade < 0.1, 0.02, np.where(grade < 0.8, rng.lognormal(1.3, 0.4, n_members), 25.0)
    )
    accuracy = np.where(grade < 0.8, sigma, rng.uniform(15, 40, n_members))[member]
    if scatter:
        lon, lat, _, _ = _places(site_set, home[member], rng)
    else:
        lon, lat, kx, ky = _places(site_set, home, rng)
        noise = rng.normal(0.0, 1.0, (n, 2)) * sigma[member, None]
        lon = lon[member] + noise[:, 0] / kx[member]
        lat = lat[member] + noise[:, 1] / ky[member]
    period = rng.choice(np.array([1.0, 5.0, 15.0, 30.0]), n_members)
    order = np.argsort(member, kind="stable")
    counts = np.bincount(member, minlength=n_members)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    time_s = 1.77e9 + rank * period[member] + rng.uniform(0, 0.5, n)
    arrival = np.argsort(time_s, kind="stable")
    return FixSet(member[arrival], time_s[arrival], lat[arrival], lon[arrival], accuracy[arrival])


def make_stream(
    site_set: SiteSet, n: int, n_members: int, rng: np.random.Generator, *, warm_up_s: float
) -> tuple[FixSet, FixSet]:
    """The next ``n`` fixes of the whole organisation, and the ``warm_up_s`` before them.

    As devices really report: each member every 1, 5, 15 or 30 s from its own phase, so a
    member sends in proportion to its rate (a quarter of the members, on 1 s, send three
    quarters of the fixes) and the window is a stretch of time (~22 s for 1M fixes from
    140,000 members). Members stay put as in the anchored tracks. The warm-up that builds the
    state before the window is thinned to one fix per member every 30 s: only the state it
    leaves matters, and at full rate it would be millions of fixes.
    """
    home = rng.integers(0, len(site_set.sites), n_members)
    grade = rng.uniform(size=n_members)
    sigma = np.where(
        grade < 0.1, 0.02, np.where(grade < 0.8, rng.lognormal(1.3, 0.4, n_members), 25.0)
    )
    accuracy = np.where(grade < 0.8, sigma, rng.uniform(15, 40, n_members))
    lon0, lat0, kx, ky = _places(site_set, home, rng)
    period = rng.choice(np.array([1.0, 5.0, 15.0, 30.0]), n_members)
    phase = rng.uniform(0.0, 1.0, n_members) * period
    start = 1.77e9

    def reports(first_s: float, span_s: float, every: FloatArray) -> FixSet:
        count = np.floor((span_s - phase * every / period) / every).astype(np.int64) + 1
        member = np.repeat(np.arange(n_members), count)
        k = np.arange(len(member)) - np.repeat(np.cumsum(count) - count, count)
        time_s = first_s + (phase * every / period)[member] + k * every[member]
        time_s += rng.uniform(0, 0.5, len(member))
        noise = rng.normal(0.0, 1.0, (len(member), 2)) * sigma[member, None]
        lon = lon0[member] + noise[:, 0] / kx[member]
        lat = lat0[member] + noise[:, 1] / ky[member]
        arrival = np.argsort(time_s, kind="stable")
        return FixSet(
            member[arrival], time_s[arrival], lat[arrival], lon[arrival], accuracy[member][arrival]
        )

    warm_up = reports(start - warm_up_s, warm_up_s - 1.0, np.full(n_members, 30.0))
    window = reports(start, 1.1 * n / float(np.sum(1.0 / period)), period)
    take = slice(0, n)
    return warm_up, FixSet(
        window.member[take],
        window.time_s[take],
        window.lat[take],
        window.lon[take],
        window.accuracy_m[take],
    )


def strtree_baseline(site_set: SiteSet) -> shapely.STRtree:
    """The sites as plain polygons (circles as 64-gons) in one STRtree, as shapely users do."""
    geoms = []
    for site, frame in zip(site_set.sites, site_set.frames, strict=True):
        if site.radius_m is None:
            geoms.append(site.geometry)
        else:
            ang = np.linspace(0, 2 * math.pi, 64, endpoint=False)
            xy = site.radius_m * np.c_[np.cos(ang), np.sin(ang)]
            geoms.append(Polygon([frame.to_lonlat(x, y) for x, y in xy]))
    return shapely.STRtree(geoms)


def columns(fixes: FixSet, lo: int, hi: int) -> FixTable:
    """Some fixes as the pipeline's table; each member's device code is the member id."""
    n = hi - lo
    return replace(
        FixTable.blank(n),
        device=fixes.member[lo:hi],
        time_us=np.round(fixes.time_s[lo:hi] * 1e6).astype(np.int64),
        lat=fixes.lat[lo:hi],
        lon=fixes.lon[lo:hi],
        mode=np.full(n, 3, np.int8),
        quality=np.ones(n, np.int8),
        sats_used=np.full(n, 12, np.int16),
        hdop=np.full(n, 0.9),
        accuracy_m=fixes.accuracy_m[lo:hi],
        used=np.tile(np.array([5, 0, 0, 7, 0, 0, 0], np.int16), (n, 1)),
    )


def cpu_seconds(run: Callable[[], object]) -> float:
    start = time.process_time()
    run()
    return time.process_time() - start


@dataclass(slots=True)
class Figures:
    """Least CPU seconds over the repeats (the machine is shared: wall time says little)."""

    baseline_s: float
    membership_s: float
    cold_s: float  # membership + presence from empty state: every member arriving at once
    warm_s: float  # membership + presence after the window before: the steady state
    micro_s: float  # the steady state in the pipeline's micro-batches
    found: int
    events: int
    state_bytes: int
    pairs: int


def batches_of(fixes: FixSet, lo: int, hi: int, batch: int) -> list[FixTable]:
    bounds = [*range(lo, hi, batch), hi]
    return [columns(fixes, a, b) for a, b in itertools.pairwise(bounds)]


def measure(
    index: SiteIndex,
    tree: shapely.STRtree,
    before: FixSet,
    timed: FixSet,
    *,
    batch: int,
    micro: int,
    repeat: int,
) -> Figures:
    """Time ``timed``; ``before`` is the window before it (it builds the steady state)."""
    n = len(timed.time_s)
    warm_up = batches_of(before, 0, len(before.time_s), batch)
    parts = batches_of(timed, 0, n, batch)
    small = batches_of(timed, 0, n, micro)
    points = shapely.points(timed.lon, timed.lat)
    members = np.unique(np.concatenate([before.member, timed.member]))  # known at start

    def run(tracker: PresenceTracker, part: list[FixTable]) -> int:
        events = 0
        for table in part:
            found = index.memberships(table.lat, table.lon, table.accuracy_m)
            ok = np.zeros(len(table), np.uint16)
            events += len(tracker.step(table, table.device, ok, found))
        return events

    def steady(part: list[FixTable]) -> tuple[float, PresenceTracker, int]:
        tracker = PresenceTracker(index, members=members)
        run(tracker, warm_up)
        start = time.process_time()
        events = run(tracker, part)
        return time.process_time() - start, tracker, events

    best = [math.inf] * 5
    for _ in range(repeat):
        times = [
            cpu_seconds(lambda: tree.query(points, predicate="intersects")),
            cpu_seconds(lambda: [index.memberships(c.lat, c.lon, c.accuracy_m) for c in parts]),
            cpu_seconds(lambda: run(PresenceTracker(index, members=members), parts)),
        ]
        warm_s, warm, events = steady(parts)
        times += [warm_s, steady(small)[0]]
        best = [min(b, t) for b, t in zip(best, times, strict=True)]
    found = sum(len(index.memberships(c.lat, c.lon, c.accuracy_m)) for c in parts)
    return Figures(*best, found, events, warm.memory_bytes(), len(warm.states()))


def compile_seconds() -> tuple[float, float, str]:
    """CPU seconds of the first batch in a fresh process: numba compiling the membership and
    presence loops from scratch (an empty cache), and loading them from this checkout's cache
    (as every later run does); and what this process's own first batch did."""
    code = (
        "import time; from bench.geofence import first_step; t = time.process_time();"
        "first_step(); print(time.process_time() - t)"
    )
    root = Path(__file__).resolve().parents[1]
    seconds = []
    with tempfile.TemporaryDirectory() as empty:
        for extra in ({"NUMBA_CACHE_DIR": empty}, {}):
            env = {**os.environ, **extra, "PYTHONPATH": str(root)}
            done = subprocess.run(
                [sys.executable, "-c", code],
                check=True,
                env=env,
                cwd=root,
                capture_output=True,
                text=True,
            )
            seconds.append(float(done.stdout.split()[-1]))
    start = time.process_time()
    first_step()
    took = time.process_time() - start
    loaded, compiled_here = (sum(n) for n in zip(*map(cache_report, COMPILED), strict=True))
    return seconds[0], seconds[1], f"{took:.2f} s ({loaded} loaded, {compiled_here} compiled)"


def first_step() -> None:
    """One tiny batch through the presence tracker (its loop compiled or loaded on first use)."""
    site = Site(id=1, org_id=1, name="room", geometry=Point(114.3, 30.5), radius_m=30.0)
    index = SiteIndex.build([site])
    fixes = FixSet(
        np.zeros(2, np.int64),
        np.array([0.0, 1.0]),
        np.full(2, 30.5),
        np.full(2, 114.3),
        np.full(2, 3.0),
    )
    table = columns(fixes, 0, 2)
    found = index.memberships(table.lat, table.lon, table.accuracy_m)
    PresenceTracker(index).step(table, table.device, np.zeros(2, np.uint16), found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fixes", type=int, default=1_000_000)
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=140_000)
    parser.add_argument("--batch", type=int, default=50_000, help="fixes per batch")
    parser.add_argument(
        "--micro", type=int, default=2_000, help="fixes per micro-batch (~50 ms of the stream)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best counts)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    fresh_s, cached_s, here = compile_seconds()
    rng = np.random.default_rng(args.seed)

    site_set = make_sites(args.sites, rng)
    build_s = cpu_seconds(lambda: SiteIndex.build(site_set.sites))
    index = SiteIndex.build(site_set.sites)
    tree = strtree_baseline(site_set)
    n = args.fixes
    runs = {}
    for mode in ("anchored", "scattered"):
        fixes = make_fixes(site_set, 2 * n, args.members, rng, scatter=mode == "scattered")
        before = FixSet(*(column[:n] for column in astuple(fixes)))
        timed = FixSet(*(column[n:] for column in astuple(fixes)))
        runs[mode] = measure(
            index, tree, before, timed, batch=args.batch, micro=args.micro, repeat=args.repeat
        )
    before, timed = make_stream(site_set, n, args.members, rng, warm_up_s=180.0)
    runs["stream"] = measure(
        index, tree, before, timed, batch=args.batch, micro=args.micro, repeat=args.repeat
    )
    load = os.getloadavg()
    print(f"sites {args.sites:,}  fixes {n:,}  members {args.members:,}  batch {args.batch:,}")
    print(f"index build {build_s:.2f} s; fixes per CPU second, best of {args.repeat}")
    print(f"{'':44}" + "".join(f"{mode + ' fixes':>24}" for mode in runs))
    print(f"{'':44}" + f"{'fixes/s':>13}{'× STRtree':>11}" * len(runs))
    for name, field in [
        ("STRtree.query bulk (baseline)", "baseline_s"),
        ("membership", "membership_s"),
        ("membership + presence, steady state", "warm_s"),
        ("membership + presence, all arriving", "cold_s"),
        (f"steady state in batches of {args.micro:,}", "micro_s"),
    ]:
        cells = ""
        for f in runs.values():
            seconds = getattr(f, field)
            cells += f"{n / seconds:13,.0f}{f.baseline_s / seconds:11.2f}"
        print(f"{name:44}{cells}")
    for mode, f in runs.items():
        print(
            f"{mode}: {f.found / n:.2f} memberships a fix; steady state: {f.events:,} events, "
            f"{f.pairs:,} visits under way, state {f.state_bytes / 1e6:.1f} MB"
        )
    worst = worst_case_memory(index, site_set, args.members)
    print(
        f"presence state with all {args.members:,} members at a site at once: "
        f"{worst / 1e6:.1f} MB ({worst / args.members:.0f} bytes a member)"
    )
    print(
        f"compiled loops (membership, presence), first batch in a fresh process: "
        f"{fresh_s:.2f} s CPU compiling, {cached_s:.2f} s from the cache; in this run {here}"
    )
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs")


def worst_case_memory(index: SiteIndex, site_set: SiteSet, n_members: int) -> int:
    """Every member inside a site at once: the largest the presence state gets."""
    rng = np.random.default_rng(0)
    site = rng.integers(0, len(site_set.sites), n_members)
    members = np.arange(n_members, dtype=np.int64)
    lat0 = np.array([f.lat0 for f in site_set.frames])[site]
    lon0 = np.array([f.lon0 for f in site_set.frames])[site]
    fixes = FixSet(members, np.full(n_members, 1.77e9), lat0, lon0, np.full(n_members, 3.0))
    table = columns(fixes, 0, n_members)
    tracker = PresenceTracker(index, members=members)
    found = index.memberships(lat0, lon0, table.accuracy_m)
    tracker.step(table, members, np.zeros(n_members, np.uint16), found)
    return tracker.memory_bytes()


if __name__ == "__main__":
    main()
