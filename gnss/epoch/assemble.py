"""The last step of an epoch, shared by both decode paths: date, mode, accuracy, ``Fix``.

Both paths first reduce an epoch's sentences to the same handful of values (see
:func:`gnss.epoch.rules.summarize` for the rules); :func:`finish` then resolves the date, decides
the mode and builds the :class:`~gnss.model.Fix`. Keeping this in one function is what makes the two
paths' fixes identical by construction.

Mode: an epoch without a valid position is NO_FIX. Otherwise it is 3D when it has an altitude
(not solved from zero satellites), when a GSA says 3D, or when the device's previous fix was 3D
(gpsd's rule: cycles that only send RMC or GLL do not downgrade a 3D receiver); else 2D.

Dates: an epoch's date comes from its own RMC or ZDA; otherwise from the device's last date,
moved on a day when the time of day goes back by more than twelve hours (midnight rollover);
otherwise — a GGA-only receiver that never sent a date — from ``received_at``, taking the day that
puts the fix nearest its arrival. An epoch with no time of day, or with no way to date it, cannot
be a ``Fix``: it is counted as :attr:`EpochLoss.UNTIMED` or :attr:`EpochLoss.UNDATED`.

>>> from datetime import date
>>> values = EpochValues(3_600_000_000, date(2026, 5, 1), None, 30.5, 114.25, 20.0, 1, 3,
...                      0.8, 1.4, 1.1, 14, NO_COUNTS, NO_COUNTS, 0.0, None, None, None, None, None)
>>> fix = finish(Memory(), values)
>>> fix.time.isoformat(), fix.mode.name, fix.accuracy_m
('2026-05-01T01:00:00+00:00', 'THREE_D', 3.2)
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import NamedTuple

from gnss.epoch.accuracy import horizontal_accuracy_m
from gnss.model import Constellation, Fix, FixMode, FixQuality

__all__ = [
    "NO_COUNTS",
    "EpochLoss",
    "EpochValues",
    "Memory",
    "counts_by_system",
    "finish",
    "new_fix",
]

DAY_US = 86_400_000_000
_HALF_DAY_US = DAY_US // 2
NO_COUNTS: Mapping[Constellation, int] = MappingProxyType({})
_ONE_DAY = timedelta(days=1)
_QUALITIES = {int(q): q for q in FixQuality}


class EpochLoss(enum.Enum):
    """Why an epoch did not become a ``Fix``."""

    UNTIMED = "untimed"  # no sentence in it carried a time of day
    UNDATED = "undated"  # a time of day, but no date known and no arrival time to infer one


@dataclass(slots=True)
class Memory:
    """What one epoch's fix carries over to the next: the date, and whether it was 3D."""

    day: date | None = None
    tod_us: int = 0  # the time of day of that day's last epoch
    three_d: bool = False

    def resolve(self, tod_us: int, explicit: date | None, received_at: float | None) -> date | None:
        if explicit is not None:
            day: date | None = explicit
        elif self.day is not None:
            rolled = tod_us < self.tod_us - _HALF_DAY_US
            day = self.day + _ONE_DAY if rolled else self.day
        elif received_at is not None:
            day = _nearest_day(tod_us, received_at)
        else:
            day = None
        if day is not None:
            self.day, self.tod_us = day, tod_us
        return day


def _nearest_day(tod_us: int, received_at: float) -> date:
    arrival = datetime.fromtimestamp(received_at, UTC)
    arrival_tod = (arrival.hour * 3600 + arrival.minute * 60 + arrival.second) * 1_000_000
    arrival_tod += arrival.microsecond
    day = arrival.date()
    if tod_us - arrival_tod > _HALF_DAY_US:  # just before midnight, received just after
        return day - _ONE_DAY
    if arrival_tod - tod_us > _HALF_DAY_US:  # receiver clock just past midnight
        return day + _ONE_DAY
    return day


# ``Fix`` is a frozen dataclass without __post_init__: setting its slots one by one is what its
# generated __init__ does, at half the cost (an epoch's largest single expense on the fast
# path). The order is the field order; tests check the result equals Fix(...).
_FIX_SLOTS = tuple(getattr(Fix, f.name).__set__ for f in fields(Fix))
if hasattr(Fix, "__post_init__"):  # pragma: no cover - a change of the shared model
    raise TypeError("Fix validates in __post_init__: build it with Fix(...) again")


def new_fix(*values: object) -> Fix:
    """``Fix(*values)`` (every field, in order), built at half the cost."""
    fix = object.__new__(Fix)
    for set_slot, value in zip(_FIX_SLOTS, values, strict=True):
        set_slot(fix, value)
    return fix


_counts_cache: dict[tuple[int, ...], Mapping[Constellation, int]] = {}
_SYSTEMS = tuple(Constellation)


def counts_by_system(counts: tuple[int, ...]) -> Mapping[Constellation, int]:
    """A read-only mapping from a tuple of counts in ``Constellation`` order (zeros left out).

    Epochs repeat the same counts, so the mappings are shared rather than rebuilt.
    """
    found = _counts_cache.get(counts)
    if found is None:
        if len(_counts_cache) > 4096:
            _counts_cache.clear()
        found = MappingProxyType({s: n for s, n in zip(_SYSTEMS, counts, strict=True) if n})
        _counts_cache[counts] = found
    return found


class EpochValues(NamedTuple):
    """What an epoch's sentences come to (both paths reduce epochs to this, with the rules of
    :func:`gnss.epoch.rules.summarize`); ``lat`` None means no position."""

    tod_us: int | None
    explicit_date: date | None
    received_at: float | None
    lat: float | None
    lon: float | None
    alt_m: float | None
    quality: int
    gsa_mode: int | None
    hdop: float | None
    pdop: float | None
    vdop: float | None
    sats_used: int | None
    used_by_system: Mapping[Constellation, int]
    in_view_by_system: Mapping[Constellation, int]
    speed_mps: float | None
    course_deg: float | None
    sigma_lat_m: float | None
    sigma_lon_m: float | None
    sigma_alt_m: float | None
    raw_position: str | None


def finish(memory: Memory, v: EpochValues) -> Fix | EpochLoss:
    """The epoch's ``Fix``: date resolved, mode decided, accuracy estimated."""
    tod_us = v.tod_us
    if tod_us is None:
        return EpochLoss.UNTIMED
    day = memory.resolve(tod_us, v.explicit_date, v.received_at)
    if day is None:
        return EpochLoss.UNDATED
    seconds, micros = divmod(tod_us, 1_000_000)
    minutes, second = divmod(seconds, 60)
    time = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, second, micros, UTC)
    fix_quality = _QUALITIES[v.quality]
    alt_m, speed_mps, course_deg = v.alt_m, v.speed_mps, v.course_deg
    if v.lat is None or v.lon is None:
        mode = FixMode.NO_FIX
        alt_m = accuracy_m = speed_mps = course_deg = None
    else:
        # As gpsd: an altitude (unless the receiver says it used no satellites: it is coasting)
        # or a GSA saying 3D make a 3D fix, and a receiver that was in 3D stays there through
        # epochs that do not repeat the altitude (RMC- or GLL-only cycles).
        with_altitude = alt_m is not None and v.sats_used != 0
        three_d = with_altitude or v.gsa_mode == 3 or memory.three_d
        mode = FixMode.THREE_D if three_d else FixMode.TWO_D
        accuracy_m = horizontal_accuracy_m(
            fix_quality, hdop=v.hdop, sigma_lat_m=v.sigma_lat_m, sigma_lon_m=v.sigma_lon_m
        )
    memory.three_d = mode is FixMode.THREE_D
    received_at = v.received_at
    return new_fix(
        time,
        v.lat,
        v.lon,
        alt_m,
        mode,
        fix_quality,
        v.hdop,
        v.pdop,
        v.vdop,
        v.sats_used,
        v.used_by_system,
        v.in_view_by_system,
        speed_mps,
        course_deg,
        v.sigma_lat_m,
        v.sigma_lon_m,
        v.sigma_alt_m,
        accuracy_m,
        v.raw_position,
        None if received_at is None else datetime.fromtimestamp(received_at, UTC),
    )
