"""Quality rules for positions a member's phone sends while checking in (browser geolocation).

A phone's fix has no satellites, HDOP or quality to judge: the browser gives a position and a
one-sigma accuracy in metres. So of the receiver rules (:mod:`geo.quality.rules`) those about time
and motion apply as they are — ``stale``, ``duplicate``, ``impossible_speed``, ``future`` —
run by the very same functions, and these take the place of the satellite rules:

* ``no_fix``: no finite position, or a latitude/longitude out of range;
* ``implausible_accuracy``: an accuracy of exactly 0 (or below, or not a number) — no real
  receiver knows its position perfectly, location mockers send 0 — or the same fractional
  value to the centimetre in :data:`CONSTANT_RUN` or more fixes of one check-in (a
  measured accuracy moves with every fix; mockers repeat a configured one; whole metres are
  left alone, since some phones round their estimate to them);
* ``too_inaccurate``: an accuracy above :data:`MAX_ACCURACY_M` (a cell-tower guess says nothing
  about a 30 m meeting room).

A phone fix is never BeiDou-verified: a browser does not say which satellites it used.

>>> from datetime import datetime, UTC
>>> t = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)
>>> fixes = [PhoneFix(t, 30.5, 114.3, 0.0)]
>>> check_phone_fixes(fixes, DeviceTrack(), QualityThresholds(), t)[0]
[('implausible_accuracy',)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from geo.model import QualityThresholds
from geo.quality.rules import DeviceTrack, RuleInput, duplicate, future, impossible_speed, stale
from gnss.model import Fix, FixMode, FixQuality

MAX_ACCURACY_M = 100.0
CONSTANT_RUN = 3
PHONE_RULE_NAMES = (
    "no_fix",
    "implausible_accuracy",
    "too_inaccurate",
    "stale",
    "duplicate",
    "impossible_speed",
    "future",
)


@dataclass(frozen=True, slots=True)
class PhoneFix:
    """One position from the browser (``accuracy_m``: its one-sigma horizontal accuracy)."""

    time: datetime
    lat: float
    lon: float
    accuracy_m: float
    speed_mps: float | None = None
    course_deg: float | None = None
    alt_m: float | None = None

    def as_fix(self, received_at: datetime) -> Fix:
        """As a :class:`gnss.model.Fix` for the shared rules and the positions table."""
        return Fix(
            time=self.time,
            lat=self.lat,
            lon=self.lon,
            alt_m=self.alt_m,
            mode=FixMode.TWO_D,
            quality=FixQuality.GPS,
            speed_mps=self.speed_mps,
            course_deg=self.course_deg,
            accuracy_m=self.accuracy_m,
            received_at=received_at,
        )


def _no_fix(f: PhoneFix) -> bool:
    return not (
        math.isfinite(f.lat)
        and math.isfinite(f.lon)
        and -90 <= f.lat <= 90
        and -180 <= f.lon <= 180
    )


def _centimetres(value: float) -> int:
    return round(value * 100)


def _implausible(f: PhoneFix, batch: Sequence[PhoneFix]) -> bool:
    a = f.accuracy_m
    if not math.isfinite(a) or a <= 0:
        return True
    cm = _centimetres(a)
    if cm % 100 == 0:
        return False
    same = sum(1 for x in batch if math.isfinite(x.accuracy_m) and _centimetres(x.accuracy_m) == cm)
    return same >= CONSTANT_RUN


def check_phone_fixes(
    fixes: Sequence[PhoneFix],
    state: DeviceTrack,
    thresholds: QualityThresholds,
    now: datetime,
) -> tuple[list[tuple[str, ...]], DeviceTrack]:
    """The rules each fix fails (in order, each against the phone's last accepted fix), and
    the phone's state after them. ``now`` is when the fixes were received."""
    results: list[tuple[str, ...]] = []
    received_s = now.timestamp()
    for f in fixes:
        names: list[str] = []
        if _no_fix(f):
            names.append("no_fix")
        if _implausible(f, fixes):
            names.append("implausible_accuracy")
        if math.isfinite(f.accuracy_m) and f.accuracy_m > MAX_ACCURACY_M:
            names.append("too_inaccurate")
        if not names:
            c = RuleInput(f.as_fix(now), f.time.timestamp(), state, thresholds, received_s, False)
            names += [
                name
                for name, rule in (
                    ("stale", stale),
                    ("duplicate", duplicate),
                    ("impossible_speed", impossible_speed),
                    ("future", future),
                )
                if rule(c)
            ]
        results.append(tuple(names))
        if not names:
            state = DeviceTrack(f.time.timestamp(), f.lat, f.lon)
    return results, state
