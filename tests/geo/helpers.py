"""Synthetic fixes and tracks with known truth, and a runner that drives both paths.

``run_both`` passes the same stream through the per-fix reference (check_quality,
memberships_of, ReferenceTracker) and the batch path (check_quality_batch, memberships,
PresenceTracker), in batches of the given sizes, asserts that they agree on every rejection
and every event, and returns the events; ``both_paths`` returns both paths' events as emitted.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import numpy as np

from geo.coords import LocalFrame
from geo.model import CheckIn, QualityThresholds, VisitEnded
from geo.presence.batch import PresenceTracker
from geo.presence.reference import ReferenceTracker
from geo.quality.batch import DeviceTable, check_quality_batch, position_hashes, reason_names
from geo.quality.replay_guard import ReplayGuard
from geo.quality.rules import DeviceTrack, check_quality
from geo.sites.membership import SiteIndex
from gnss.fixtable import FixTable, raw_hash
from gnss.model import Constellation, Fix, FixMode, FixQuality

T0 = datetime(2026, 7, 1, 0, 0, tzinfo=UTC).timestamp()  # 08:00 in Beijing


def at(t_s: float) -> datetime:
    return datetime.fromtimestamp(T0 + t_s, UTC)


def fix(
    t_s: float,
    lon: float | None,
    lat: float | None,
    *,
    accuracy_m: float | None = 3.0,
    sats: int = 12,
    beidou: int = 7,
    hdop: float = 0.8,
    quality: FixQuality = FixQuality.GPS,
    received_s: float | None = None,
    raw: str | None = None,
) -> Fix:
    """A fix at ``T0 + t_s``; ``lon=None`` gives an epoch without position (indoors)."""
    has = lon is not None and lat is not None
    return Fix(
        time=at(t_s),
        lat=lat,
        lon=lon,
        mode=FixMode.THREE_D if has else FixMode.NO_FIX,
        quality=quality if has else FixQuality.INVALID,
        hdop=hdop if has else None,
        sats_used=sats if has else 0,
        sats_used_by_system={Constellation.BEIDOU: beidou, Constellation.GPS: sats - beidou}
        if has
        else {},
        accuracy_m=accuracy_m if has else None,
        received_at=at(received_s) if received_s is not None else None,
        raw_position=raw if raw is not None else (f"$GNGGA,{t_s},{lat},{lon}" if has else None),
    )


def track(
    frame: LocalFrame,
    points: Iterable[tuple[float, float, float]],
    *,
    noise_m: float = 0.0,
    seed: int = 0,
    **kwargs: object,
) -> list[Fix]:
    """Fixes at (t, x, y) metres of ``frame``, with Gaussian position noise of ``noise_m``."""
    rng = np.random.default_rng(seed)
    out = []
    for t, x, y in points:
        dx, dy = rng.normal(0.0, noise_m, 2) if noise_m else (0.0, 0.0)
        lon, lat = frame.to_lonlat(x + dx, y + dy)
        out.append(fix(t, lon, lat, **kwargs))  # type: ignore[arg-type]
    return out


def line(
    t0: float, t1: float, period: float, start: tuple[float, float], end: tuple[float, float]
) -> list[tuple[float, float, float]]:
    """(t, x, y) from ``start`` to ``end`` at a constant speed, one point per ``period``."""
    n = max(math.floor((t1 - t0) / period), 1)
    return [
        (
            t0 + k * period,
            start[0] + (end[0] - start[0]) * k / n,
            start[1] + (end[1] - start[1]) * k / n,
        )
        for k in range(n + 1)
    ]


def slices(n: int, sizes: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive non-empty (lo, hi) ranges of the given sizes over ``n`` items; the rest last."""
    cuts = [min(c, n) for c in itertools.accumulate([0, *sizes, n])]
    return [(lo, hi) for lo, hi in itertools.pairwise(cuts) if lo < hi]


def canonical(events: Iterable[CheckIn | VisitEnded]) -> list[CheckIn | VisitEnded]:
    """Events grouped by (member, site), each group in the order it was emitted."""
    return sorted(events, key=lambda e: (e.member_id, e.site_id))


def run_both(
    index: SiteIndex,
    stream: Sequence[tuple[int, Fix]],
    *,
    now_s: float | None = None,
    batches: Sequence[int] = (),
    thresholds: QualityThresholds | None = None,
) -> list[CheckIn | VisitEnded]:
    """(member, fix) in arrival order through both paths; the members double as devices."""
    ref_events, _ = both_paths(index, stream, now_s=now_s, batches=batches, thresholds=thresholds)
    return ref_events


def both_paths(
    index: SiteIndex,
    stream: Sequence[tuple[int, Fix]],
    *,
    now_s: float | None = None,
    batches: Sequence[int] = (),
    thresholds: QualityThresholds | None = None,
) -> tuple[list[CheckIn | VisitEnded], list[CheckIn | VisitEnded]]:
    """:func:`run_both`, returning the events of both paths as emitted: (reference, batch)."""
    thresholds = thresholds or QualityThresholds()
    now = at(now_s if now_s is not None else 10**7)
    # Reference, fix by fix.
    guard, tracks, reference = ReplayGuard(), {}, ReferenceTracker(index)
    ref_reasons, ref_events = [], []
    for member, f in stream:
        received = (f.received_at or now).timestamp()
        replayed = guard.check(
            np.array([raw_hash(f.raw_position) if f.has_position else 0]),
            np.array([member]),
            np.array([received]),
        )[0]
        reasons, tracks[member] = check_quality(
            f, tracks.get(member, DeviceTrack()), thresholds, now, replayed=bool(replayed)
        )
        ref_reasons.append(reasons)
        ref_events += reference.observe(member, f, reasons)
    # Batch path, in batches of the given sizes (the rest in one).
    guard, table, tracker = ReplayGuard(), DeviceTable.empty(), PresenceTracker(index)
    batch_reasons, batch_events = [], []
    for lo, hi in slices(len(stream), batches):
        part = stream[lo:hi]
        members = [m for m, _ in part]
        fixes = FixTable.from_fixes([f for _, f in part], np.array(members, np.int64))
        received = np.where(np.isnan(fixes.received_s), now.timestamp(), fixes.received_s)
        replayed = guard.check(position_hashes(fixes), fixes.device, received)
        table = table.with_devices(fixes.device, thresholds)
        mask, table = check_quality_batch(fixes, table, now.timestamp(), replayed)
        batch_reasons += [reason_names(m) for m in mask]
        memberships = index.memberships(fixes.lat, fixes.lon, fixes.accuracy_m, usable=mask == 0)
        batch_events += tracker.step(fixes, fixes.device, mask, memberships).to_events()
    assert batch_reasons == ref_reasons
    assert canonical(batch_events) == canonical(ref_events)
    assert {
        (m, index.sites[s].id): st for m, d in reference.pairs.items() for s, st in d.items()
    }.keys() == tracker.states().keys()
    return ref_events, batch_events


def kinds(events: Iterable[CheckIn | VisitEnded]) -> list[str]:
    return [
        "checkin" if isinstance(e, CheckIn) else ("visit" if e.checked_in else "pass")
        for e in events
    ]
