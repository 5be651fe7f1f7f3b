"""Quality rules: a tuple of tiny named rules, every failing name reported (STYLE §6).

A rule sees one fix in its context (:class:`RuleInput`: the device's last accepted fix, the
thresholds in force, when the fix was received, whether another device sent its position
sentence first) and says whether it fails. :func:`check_quality` runs them all; the device's
state is passed in and a new one returned — nothing is kept here. A fix with any reason is
rejected: it is stored for review but never moves presence. Epochs without a position still
prove the device alive (see :func:`counts_as_liveness`).

Thresholds come from the device (:class:`~geo.model.QualityThresholds`); a site can demand more
of the fixes that give evidence about it (:func:`meets_site_thresholds`, applied after
membership, because a site is only known then).

>>> from datetime import datetime, UTC
>>> from gnss.model import Fix, FixMode, FixQuality
>>> fix = Fix(time=datetime(2026, 5, 1, 8, 0, tzinfo=UTC), lat=30.5, lon=114.3,
...           mode=FixMode.THREE_D, quality=FixQuality.GPS, sats_used=3, hdop=7.5)
>>> reasons, track = check_quality(fix, DeviceTrack(), QualityThresholds(), fix.time)
>>> reasons
('too_few_sats', 'hdop_too_high')
>>> track == DeviceTrack()  # rejected: the device's last accepted fix is unchanged
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from geo.coords import haversine_m
from geo.model import QualityThresholds
from gnss.model import Fix, FixQuality

# GGA qualities that are not a measured position (DESIGN §4): dead reckoning, manual, simulated.
NO_FIX_QUALITIES = frozenset(
    {FixQuality.INVALID, FixQuality.ESTIMATED, FixQuality.MANUAL, FixQuality.SIMULATION}
)
# Rejections that say the fix's *time* cannot be trusted; every other rejected epoch is still a
# sign of life for presence (indoors a receiver keeps talking without a fix).
UNTRUSTED_TIME = frozenset({"stale", "duplicate", "future"})


@dataclass(frozen=True, slots=True)
class DeviceTrack:
    """Per-device quality state: the device's last accepted fix (seconds UTC, degrees)."""

    time_s: float = -math.inf
    lat: float = math.nan
    lon: float = math.nan


@dataclass(frozen=True, slots=True)
class RuleInput:
    fix: Fix
    time_s: float
    previous: DeviceTrack
    thresholds: QualityThresholds
    received_s: float
    replayed: bool  # another device sent this position sentence first (see ReplayGuard)


def no_fix(c: RuleInput) -> bool:
    return not c.fix.has_position or c.fix.quality in NO_FIX_QUALITIES


def too_few_sats(c: RuleInput) -> bool:
    # Unknown counts fail: a check-in must rest on a solution we can describe.
    return c.fix.sats_used is None or c.fix.sats_used < c.thresholds.min_sats


def hdop_too_high(c: RuleInput) -> bool:
    # A fix sent without HDOP by a source that gives its accuracy otherwise (a JT/T 808
    # terminal's documented default, a phone's own estimate) has no HDOP to test; without
    # either, nothing says how good it is.
    if c.fix.hdop is None:
        return c.fix.accuracy_m is None
    return not c.fix.hdop <= c.thresholds.max_hdop


def stale(c: RuleInput) -> bool:
    return c.time_s < c.previous.time_s


def duplicate(c: RuleInput) -> bool:
    return c.time_s == c.previous.time_s


def impossible_speed(c: RuleInput) -> bool:
    dt = c.time_s - c.previous.time_s
    if not (dt > 0 and math.isfinite(dt) and c.fix.has_position):
        return False
    assert c.fix.lat is not None and c.fix.lon is not None
    distance = haversine_m(c.previous.lat, c.previous.lon, c.fix.lat, c.fix.lon)
    return distance / dt > c.thresholds.max_speed_mps


def future(c: RuleInput) -> bool:
    return c.time_s - c.received_s > c.thresholds.max_future_s


def replayed(c: RuleInput) -> bool:
    return c.replayed


RULES: tuple[tuple[str, Callable[[RuleInput], bool]], ...] = (
    ("no_fix", no_fix),
    ("too_few_sats", too_few_sats),
    ("hdop_too_high", hdop_too_high),
    ("stale", stale),
    ("duplicate", duplicate),
    ("impossible_speed", impossible_speed),
    ("future", future),
    ("replayed", replayed),
)
RULE_NAMES = tuple(name for name, _ in RULES)


def check_quality(
    fix: Fix,
    state: DeviceTrack,
    thresholds: QualityThresholds,
    now: datetime,
    *,
    replayed: bool = False,
) -> tuple[tuple[str, ...], DeviceTrack]:
    """Every rule ``fix`` fails, and the device's state after it.

    ``now`` stands in for the receipt time when the fix does not carry ``received_at``.
    """
    received = fix.received_at or now
    c = RuleInput(fix, fix.time.timestamp(), state, thresholds, received.timestamp(), replayed)
    reasons = tuple(name for name, rule in RULES if rule(c))
    if reasons:
        return reasons, state
    assert fix.lat is not None and fix.lon is not None
    return reasons, DeviceTrack(c.time_s, fix.lat, fix.lon)


def counts_as_liveness(reasons: tuple[str, ...]) -> bool:
    """Whether an epoch proves its device alive: anything but an untrustworthy time."""
    return not UNTRUSTED_TIME.intersection(reasons)


def meets_site_thresholds(
    sats_used: int | None,
    hdop: float | None,
    site: QualityThresholds,
    accuracy_m: float | None = None,
) -> bool:
    """Whether an accepted fix is good enough to be evidence about a site with these thresholds
    (one sent without HDOP is judged by the accuracy it was given, as by :func:`hdop_too_high`)."""
    if sats_used is None or sats_used < site.min_sats:
        return False
    if hdop is None:
        return accuracy_m is not None
    return hdop <= site.max_hdop
