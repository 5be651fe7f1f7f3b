"""One ingestion micro-batch, in process: the pipeline's own cost per fix, without sockets or SQL.

    python bench/pipeline.py                      # every shape below, 10,000 devices
    python bench/pipeline.py --profile basic-1    # and where one shape's time goes (cProfile)

The world is the ingest benchmark's (bench/ingest.py): devices standing on a grid 100 m apart,
each carried by its own member, a 30 m site around every tenth, and the same simulated epochs
(:mod:`devkit.devicesim`: GGA + RMC, or full multi-GNSS epochs of ten sentences). Each
batch holds one chunk per device per epoch, as the TCP source delivers them; the devices' first
batches (each receiver's cycle is learned from the first two) are the cold start, timed apart.
The batches then go through :func:`partymap.ingest.pipeline.ingest` — every stage, up to the
:class:`~partymap.ingest.pipeline.StoreBatch` the writer commits — and, for the store's share
of the CPU, through the rows the writer's COPY sends, made of the batch's fix table
(:func:`store.fix_rows.position_columns`, :func:`store.positions.copy_rows`).

Shapes: ``basic-1`` 10,000 devices × 1 GGA+RMC epoch (20,000 lines, the collector's largest
batch), ``basic-2`` × 2 epochs, ``full-1`` 2,000 devices × 1 full epoch (20,000 lines) and
``full-2`` 10,000 × 1 full epoch. Figures are µs of this process's CPU per fix, best of the
rounds, and the CPU seconds of the cold start's batches; on a shared machine compare them within
one run.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from shapely.geometry import Point

ROOT = Path(__file__).resolve().parents[1]
sys.path = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench")]

from devkit.devicesim import EpochMaker, position_of, stamps  # noqa: E402
from geo.model import Site, SiteParams  # noqa: E402
from geo.presence.batch import PresenceTracker  # noqa: E402
from geo.sites.membership import SiteIndex  # noqa: E402
from gnss.model import RawChunk  # noqa: E402
from partymap.ingest.directory import DeviceEntry, Directory  # noqa: E402
from partymap.ingest.pipeline import Arrival, Intake, Pipeline, Sites, StoreBatch, ingest  # noqa: E402
from partymap.ingest.presence_state import PresenceMirror  # noqa: E402
from store.fix_rows import position_columns  # noqa: E402
from store.positions import copy_rows  # noqa: E402

ORIGIN = (30.5, 114.3)
SITE_EVERY = 10
EPOCH_S = 0.4  # 2.5 epochs a second per device, as bench/ingest.py sends by default
WARM_UP_BATCHES = 3


@dataclass(frozen=True)
class Shape:
    name: str
    full: bool
    devices: int
    epochs: int  # per device per batch


SHAPES = (
    Shape("basic-1", False, 10_000, 1),
    Shape("basic-2", False, 10_000, 2),
    Shape("full-1", True, 2_000, 1),
    Shape("full-2", True, 10_000, 1),
)


def world(devices: int) -> Pipeline:
    """The pipeline's state for ``devices`` devices, each carried by a member, and the sites."""
    entries = {
        f"dev-{i:05d}": DeviceEntry(
            id=i + 1, uid=f"dev-{i:05d}", member_id=i + 1, active=True, org_id=1, org_path="1"
        )
        for i in range(devices)
    }
    sites = []
    for k, i in enumerate(range(0, devices, SITE_EVERY)):
        lat, lon = position_of(i, ORIGIN)
        params = SiteParams(dwell_s=30.0 + 600 * ((k * 0.618) % 1.0), max_gap_s=3600.0)
        sites.append(Site(k + 1, 1, f"site {k}", Point(lon, lat), radius_m=30.0, params=params))
    index = SiteIndex.build(sites)
    members = np.arange(1, devices + 1, dtype=np.int64)
    tracker = PresenceTracker(index, members=members)
    # As when nobody watches the map.
    return Pipeline.build(
        Directory(entries), Sites(1, tracker, PresenceMirror()), watched=lambda: False
    )


def batches(shape: Shape, start: datetime) -> Iterator[Intake]:
    """Endless intakes of ``shape``: each device's next epochs, one chunk per epoch."""
    makers = [EpochMaker(*position_of(i, ORIGIN), full=shape.full) for i in range(shape.devices)]
    uids = [f"dev-{i:05d}" for i in range(shape.devices)]
    when = start
    while True:
        arrivals = []
        for _ in range(shape.epochs):
            stamp = stamps(when)
            at = when.timestamp()
            chunks = [
                RawChunk(uid, maker.with_stamps(stamp), at)
                for uid, maker in zip(uids, makers, strict=True)
            ]
            arrivals.append(Arrival(chunks, "tcp"))
            when += timedelta(seconds=EPOCH_S)
        yield Intake(arrivals, when.timestamp())


@dataclass
class Figures:
    fixes: int
    pipeline_us: float  # per fix
    copy_us: float  # per fix
    cold_s: float  # the first batches, all told

    def row(self, name: str) -> str:
        return (
            f"{name:8} {self.fixes:>7} {self.pipeline_us:>9.2f} {self.copy_us:>7.2f}"
            f" {self.cold_s:>7.2f}"
        )


def measure(shape: Shape, rounds: int = 5, profile: bool = False) -> Figures:
    pipeline = world(shape.devices)
    feed = batches(shape, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5))
    started = time.thread_time()
    for _ in range(WARM_UP_BATCHES):
        ingest(pipeline, next(feed))
    cold = time.thread_time() - started
    best = (float("inf"), float("inf"), 0)
    profiler = cProfile.Profile() if profile else None
    for _ in range(rounds):
        intake = next(feed)
        started = time.thread_time()
        if profiler is not None:
            profiler.enable()
        batch = ingest(pipeline, intake)
        if profiler is not None:
            profiler.disable()
        middle = time.thread_time()
        _copy_rows(batch)
        ended = time.thread_time()
        n = batch.fixes
        best = min(best, (middle - started, ended - middle, n))
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    spent, copied, n = best
    return Figures(n, spent / n * 1e6, copied / n * 1e6, cold)


def _copy_rows(batch: StoreBatch) -> int:
    """What the writer's COPY does with the batch's fixes before they reach the socket."""
    fixes = batch.positions
    columns = position_columns(
        fixes.table,
        member_ids=fixes.members,
        reasons=batch.reasons,
        sources=fixes.sources,
        now_s=batch.now_s,
    )
    return sum(1 for _ in copy_rows(columns))


def pipeline_only(
    names: tuple[str, ...] = ("basic-1", "full-1"), say: Callable[[str], None] = print
) -> dict[str, Figures]:
    """The shapes asked for, measured and printed (bench/ingest.py prints these too)."""
    say(f"{'shape':8} {'fixes':>7} {'µs/fix':>9} {'copy µs':>7} {'cold s':>7}   (pipeline, CPU)")
    out = {}
    for shape in SHAPES:
        if shape.name in names:
            out[shape.name] = measure(shape)
            say(out[shape.name].row(shape.name))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(s.name for s in SHAPES))
    parser.add_argument("--profile", help="a shape to profile with cProfile")
    args = parser.parse_args()
    if args.profile:
        (shape,) = [s for s in SHAPES if s.name == args.profile]
        measure(shape, rounds=3, profile=True)
        return
    pipeline_only(tuple(args.shapes.split(",")))


if __name__ == "__main__":
    main()
