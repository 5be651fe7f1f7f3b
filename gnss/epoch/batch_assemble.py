"""From epoch columns to fix columns: dates, mode and accuracy, as
:func:`gnss.epoch.assemble.finish`.

Dates (midnight rollover, GGA-only receivers) and the 3D memory depend on the device's previous
epoch. Both are prefix scans along each device's epochs, so they are computed for all devices
at once rather than epoch by epoch:

- an epoch's day is that of the last *anchor* before it — its own date (RMC/ZDA), or for a
  device that never had a date, its arrival's nearest day — plus the midnight rollovers since
  (the time of day going back by more than twelve hours from the previous dated epoch); the
  device's remembered day is an anchor before its first epoch of the batch. An epoch with no
  date, no remembered day and no arrival time is undated and changes nothing;
- a fix is 3D when it has an altitude (not solved from zero satellites) or a GSA says 3D, or
  when every dated epoch since the last such fix had a position (gpsd's rule: RMC- or GLL-only
  cycles do not downgrade a 3D receiver).

Horizontal accuracy is :func:`gnss.epoch.accuracy.horizontal_accuracy_m` itself, called once per
distinct (quality, HDOP, sigmas) of the batch: Python's decimal rounding is then the
reference's exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gnss.epoch.accuracy import horizontal_accuracy_m
from gnss.epoch.assemble import DAY_US
from gnss.epoch.batch_rules import EpochColumns
from gnss.fixtable import FixTable, span_hashes
from gnss.model import FixMode, FixQuality
from gnss.nmea.lines import Lines

__all__ = ["NO_DAY", "MemoryColumns", "days_from_civil", "finish_epochs", "split_timestamps"]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

NO_DAY = np.iinfo(np.int64).min  # no day remembered
_HALF_DAY_US = DAY_US // 2
_QUALITIES = {int(q): q for q in FixQuality}


@dataclass(slots=True)
class MemoryColumns:
    """:class:`gnss.epoch.assemble.Memory` of several devices: the day (days since 1970, NO_DAY:
    none), the time of day of that day's last epoch, and whether the last fix was 3D."""

    day: Ints
    tod_us: Ints
    three_d: Mask


@dataclass(slots=True)
class Finished:
    """What a batch's epochs became: the fixes, and per epoch whether it was one."""

    table: FixTable  # ``device``: the epochs' device indices
    fix: Mask  # per epoch: became a fix
    untimed: Mask
    undated: Mask


def days_from_civil(code: Ints) -> Ints:
    """``yyyymmdd`` as days since 1970-01-01 (the proleptic Gregorian calendar).

    >>> days_from_civil(np.array([19700101, 20260501, 20000301])).tolist()
    [0, 20574, 11017]
    """
    y, m, d = code // 10000, code // 100 % 100, code % 100
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return np.asarray(era * 146097 + doe - 719468, dtype=np.int64)


def split_timestamps(seconds: Floats) -> tuple[Ints, Ints]:
    """(whole seconds, microseconds) of UTC timestamps, rounded as ``datetime.fromtimestamp``
    rounds them (half to even, on the fraction); NaN gives (0, 0)."""
    known = np.nan_to_num(seconds)
    whole = np.trunc(known)
    micros = np.rint((known - whole) * 1e6)
    whole = np.where(micros >= 1e6, whole + 1, np.where(micros < 0, whole - 1, whole))
    micros = np.where(micros >= 1e6, micros - 1e6, np.where(micros < 0, micros + 1e6, micros))
    return whole.astype(np.int64), micros.astype(np.int64)


def finish_epochs(
    lines: Lines, epochs: EpochColumns, received: Floats, memory: MemoryColumns
) -> tuple[Finished, Ints]:
    """Every epoch finished (``memory`` holds the epochs' devices' memories, by the epochs'
    device index, and is updated); also each device's last time of day (−1: no epoch)."""
    n = len(epochs.tod)
    dev = epochs.device
    tod = epochs.tod
    arrived = received[epochs.last_line] if n else np.zeros(0)
    last_tod = np.full(len(memory.day), -1, dtype=np.int64)
    timed = tod >= 0
    ends = _last_of_each(dev, np.flatnonzero(timed))
    last_tod[dev[ends]] = tod[ends]

    day, dated = _days(dev, tod, epochs.date, arrived, timed=timed, memory=memory)
    has_pos = ~np.isnan(epochs.lat) & ~np.isnan(epochs.lon)
    three_d = _three_d(dev, dated, has_pos, epochs, memory)

    rows = np.flatnonzero(dated)
    lat, lon = epochs.lat[rows], epochs.lon[rows]
    placed = has_pos[rows]
    sigma = epochs.sigma[rows]
    quality = epochs.quality[rows]
    hdop = epochs.hdop[rows]
    raw_line = epochs.raw_line[rows]
    raw_start = np.where(raw_line >= 0, lines.start[np.maximum(raw_line, 0)], -1)
    raw_end = np.where(raw_line >= 0, lines.end[np.maximum(raw_line, 0)], -1)
    raw_hash = np.zeros(len(rows), dtype=np.int64)
    with_raw = np.flatnonzero(raw_line >= 0)
    raw_hash[with_raw] = span_hashes(lines.buf, raw_start[with_raw], raw_end[with_raw])
    whole, micros = split_timestamps(arrived[rows])
    table = FixTable(
        device=dev[rows],
        time_us=day[rows] * DAY_US + tod[rows],
        received_s=np.where(np.isnan(arrived[rows]), np.nan, (whole * 1_000_000 + micros) / 1e6),
        lat=lat,
        lon=lon,
        alt_m=np.where(placed, epochs.alt[rows], np.nan),
        mode=np.where(
            placed, np.where(three_d[rows], FixMode.THREE_D, FixMode.TWO_D), FixMode.NO_FIX
        ).astype(np.int8),
        quality=quality.astype(np.int8),
        hdop=hdop,
        pdop=epochs.pdop[rows],
        vdop=epochs.vdop[rows],
        sats_used=epochs.sats_used[rows].astype(np.int16),
        used=epochs.used[rows].astype(np.int16),
        in_view=epochs.in_view[rows].astype(np.int16),
        speed_mps=np.where(placed, epochs.speed[rows], np.nan),
        course_deg=np.where(placed, epochs.course[rows], np.nan),
        sigma=sigma,
        accuracy_m=_accuracy(quality, hdop, sigma, placed),
        raw_hash=raw_hash,
        raw_start=raw_start,
        raw_end=raw_end,
        text=lines.buf,
    )
    return Finished(table, dated, ~timed, timed & ~dated), last_tod


def _group_starts(dev: Ints) -> Mask:
    starts = np.ones(len(dev), dtype=bool)
    starts[1:] = dev[1:] != dev[:-1]
    return starts


def _last_of_each(dev: Ints, rows: Ints) -> Ints:
    """Of ``rows`` (whose devices come grouped), the last row of each device."""
    d = dev[rows]
    return rows[np.append(d[1:] != d[:-1], True)] if len(rows) else rows


def _days(
    dev: Ints, tod: Ints, date: Ints, arrived: Floats, *, timed: Mask, memory: MemoryColumns
) -> tuple[Ints, Mask]:
    """Each epoch's day (days since 1970) and whether it has one; updates ``memory``'s day."""
    day = np.zeros(len(tod), dtype=np.int64)
    dated = np.zeros(len(tod), dtype=bool)
    t = np.flatnonzero(timed)  # untimed epochs leave the memory alone
    if not len(t):
        return day, dated
    d, tt = dev[t], tod[t]
    starts = _group_starts(d)
    remembered = memory.day[d] != NO_DAY
    explicit = date[t] > 0
    known_arrival = ~np.isnan(arrived[t])
    source = explicit | known_arrival
    before: Ints = np.cumsum(source) - source  # sources before each epoch, over all devices
    group = np.cumsum(starts) - 1
    before -= before[np.flatnonzero(starts)][group]  # … within its device
    day_before = remembered | (before > 0)
    resolved = explicit | day_before | known_arrival
    anchor = explicit | (~day_before & known_arrival)
    own_day = days_from_civil(np.where(explicit, date[t], 19700101))
    anchor_day = np.where(explicit, own_day, _nearest_day(tt, arrived[t]))
    previous_tod = np.empty_like(tt)
    previous_tod[1:] = tt[:-1]
    previous_tod[starts] = memory.tod_us[d[starts]]
    rolled = resolved & ~anchor & (tt < previous_tod - _HALF_DAY_US)
    rolls = np.cumsum(rolled)
    base_point = anchor | (starts & remembered)
    base = np.where(anchor, anchor_day, memory.day[d] + rolled)
    last_base = np.maximum.accumulate(np.where(base_point, np.arange(len(t)), 0))
    resolved_day = base[last_base] + rolls - rolls[last_base]
    day[t] = np.where(resolved, resolved_day, 0)
    dated[t] = resolved
    # The memory: each device's last dated epoch.
    r = _last_of_each(d, np.flatnonzero(resolved))
    memory.day[d[r]] = resolved_day[r]
    memory.tod_us[d[r]] = tt[r]
    return day, dated


def _nearest_day(tod: Ints, arrived: Floats) -> Ints:
    """The day that puts a time of day nearest its arrival
    (:func:`gnss.epoch.assemble._nearest_day`)."""
    whole, micros = split_timestamps(arrived)
    arrival_day = whole // 86_400
    arrival_tod = whole % 86_400 * 1_000_000 + micros
    late = tod - arrival_tod > _HALF_DAY_US  # just before midnight, received just after
    early = arrival_tod - tod > _HALF_DAY_US  # the receiver's clock just past midnight
    return np.asarray(arrival_day - late + early, dtype=np.int64)


def _three_d(
    dev: Ints, dated: Mask, has_pos: Mask, epochs: EpochColumns, memory: MemoryColumns
) -> Mask:
    """Per epoch, whether its fix is 3D; updates ``memory.three_d`` (dated epochs only)."""
    three_d = np.zeros(len(dated), dtype=bool)
    r = np.flatnonzero(dated)
    if not len(r):
        return three_d
    d = dev[r]
    starts = _group_starts(d)
    placed = has_pos[r]
    altitude = ~np.isnan(epochs.alt[r]) & (epochs.sats_used[r] != 0)
    own = placed & (altitude | (epochs.gsa_mode[r] == 3))
    k = 2 * np.arange(len(r))
    # Doubled indices: the remembered 3D sits just before a device's first epoch, after a
    # reset that keeps the previous device's fixes out.
    sets = np.where(own, k, np.where(starts & memory.three_d[d], k - 1, -2))
    resets = np.where(~placed, k, np.where(starts, k - 2, -2))
    result = placed & (np.maximum.accumulate(sets) > np.maximum.accumulate(resets))
    three_d[r] = result
    last = _last_of_each(d, np.arange(len(r)))
    memory.three_d[d[last]] = result[last]
    return three_d


def _accuracy(quality: Ints, hdop: Floats, sigma: Floats, placed: Mask) -> Floats:
    """Horizontal accuracy of each fix with a position, once per distinct input."""
    out = np.full(len(quality), np.nan)
    rows = np.flatnonzero(placed)
    if not len(rows):
        return out
    inputs = np.column_stack(
        (quality[rows].astype(np.float64), hdop[rows], sigma[rows, 0], sigma[rows, 1])
    )
    keys = np.ascontiguousarray(inputs).view(np.dtype((np.void, inputs.itemsize * 4))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    values = []
    for q, h, lat, lon in inputs[first].tolist():
        value = horizontal_accuracy_m(
            _QUALITIES[int(q)],
            hdop=None if np.isnan(h) else h,
            sigma_lat_m=None if np.isnan(lat) else lat,
            sigma_lon_m=None if np.isnan(lon) else lon,
        )
        values.append(np.nan if value is None else value)
    out[rows] = np.array(values, dtype=np.float64)[inverse.ravel()]
    return out
