"""Replay-guard benchmark: the anti-replay rule's cost per fix, its pauses and its memory.

The ingest target's load: 10,000 devices sending 2.5 position sentences a second each
(25,000 fixes/s), in the pipeline's micro-batches of 10,000, for ``--seconds`` of receipt time
(default five windows of two minutes, so the guard reaches its steady state). Every sentence
is new, as from honest receivers: every lookup misses and every sentence is remembered.

Prints, for :class:`geo.quality.replay_guard.ReplayGuard` and for a plain dict of hash → (first
sender, receipt time) checked in a Python loop with the same rule (the baseline, same run): µs of
CPU per fix, the slowest batch once the guard is in its steady state (after three windows, once it
has dropped its first tables), and memory at the end (the dict's measured with tracemalloc).

    python bench/replay.py
    python bench/replay.py --seconds 300
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench")]

from geo.quality.replay_guard import ReplayGuard  # noqa: E402

DEVICES = 10_000
BATCH_S = 0.4  # 10,000 fixes a batch at 25,000 fixes/s


class DictGuard:
    """The baseline: the same rule over a dict, one sentence at a time."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.first: dict[int, tuple[int, float]] = {}
        self.swept_at = -np.inf

    def check(self, hashes: np.ndarray, devices: np.ndarray, received: np.ndarray) -> np.ndarray:
        out = np.zeros(len(hashes), bool)
        first = self.first
        for i, (h, d, t) in enumerate(
            zip(hashes.tolist(), devices.tolist(), received.tolist(), strict=True)
        ):
            seen = first.get(h)
            if seen is not None and seen[1] >= t - self.window_s:
                out[i] = seen[0] != d
            else:
                first[h] = (d, t)
        now = float(received.max())
        if now - self.swept_at >= self.window_s:  # forget what left the window, now and then
            horizon = now - self.window_s
            self.first = {h: v for h, v in first.items() if v[1] >= horizon}
            self.swept_at = now
        return out


def measure(make: Callable[[], ReplayGuard | DictGuard], seconds: float, window_s: float):
    rng = np.random.default_rng(7)
    guard = make()
    devices = np.arange(DEVICES)
    batches = int(seconds / BATCH_S)
    cpu, slowest = 0.0, 0.0
    for k in range(batches):
        hashes = rng.integers(1, 2**62, DEVICES)
        received = np.full(DEVICES, k * BATCH_S)
        started = time.thread_time()
        guard.check(hashes, devices, received)
        spent = time.thread_time() - started
        cpu += spent
        if k * BATCH_S >= 3 * window_s:
            slowest = max(slowest, spent)
    return cpu / (batches * DEVICES) * 1e6, slowest * 1e3, guard


def dict_bytes(guard: DictGuard) -> int:
    tracemalloc.start()
    copy = {h: (d, t) for h, (d, t) in guard.first.items()}
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del copy
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--window", type=float, default=120.0)
    args = parser.parse_args()
    ReplayGuard().check(np.array([1]), np.array([1]), np.array([0.0]))  # compile or load
    window, seconds = args.window, args.seconds
    fast, fast_slowest, guard = measure(lambda: ReplayGuard(window), seconds, window)
    base, base_slowest, baseline = measure(lambda: DictGuard(window), seconds, window)
    assert isinstance(guard, ReplayGuard) and isinstance(baseline, DictGuard)
    print(f"{args.seconds:.0f} s of receipt at 25,000 fixes/s, window {args.window:.0f} s")
    print(f"{'':14}{'µs/fix':>8}{'slowest batch ms':>18}{'remembered':>12}{'MB':>8}")
    print(
        f"{'dict':14}{base:8.2f}{base_slowest:18.1f}{len(baseline.first):12,}"
        f"{dict_bytes(baseline) / 1e6:8.0f}"
    )
    print(
        f"{'ReplayGuard':14}{fast:8.2f}{fast_slowest:18.1f}{len(guard):12,}"
        f"{guard.nbytes / 1e6:8.0f}"
    )
    print(f"speed-up {base / fast:.1f}x")


if __name__ == "__main__":
    main()
