"""Epochs of decoded columns: the cycle-ender rule of :mod:`gnss.epoch.rules`, vectorised.

For devices whose ender is known, every occurrence of the ender closes an epoch. Where a batch is
*regular* — each epoch opens with a timed sentence, all its times agree, it differs from the epoch
before, and no epoch reaches :data:`gnss.epoch.rules.MAX_EPOCH` — those are exactly the epochs the
reference state machine would close, and :func:`segment` says so per device; any other device is
decoded on the reference path. :func:`aggregate` then reduces every closed epoch with the rules of
:func:`gnss.epoch.rules.summarize`, column-wise.

A device whose ender is not known yet (a new stream) learns it here as the reference would: its
first epoch opens with a timed sentence and ends where the time first changes
(:func:`learn_enders`); until the time changes, its lines are one open epoch.

The numbering used below: ``P`` indexes the participating lines (decoded epoch sentences of the
batch, grouped by device, in order); a *segment* is a run of them ending with the ender (closed)
or at the end of the device's lines (open: it waits for the next batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gnss.epoch.rules import KIND_INDEX, MAX_EPOCH
from gnss.model import Constellation
from gnss.nmea.lines import Lines
from gnss.nmea.scan import SAT_STRIDE

__all__ = ["EpochColumns", "Learned", "Segments", "aggregate", "learn_enders", "segment"]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

GGA, RMC, GNS, GLL, GSA, GSV, VTG, ZDA, GST = (
    KIND_INDEX[k] for k in ("GGA", "RMC", "GNS", "GLL", "GSA", "GSV", "VTG", "ZDA", "GST")
)
_N_SYSTEMS = len(Constellation)
_NO_TIME = np.iinfo(np.int64).max


@dataclass(slots=True)
class Segments:
    """How a batch's participating lines split into epochs, and which devices are regular."""

    lines: Ints  # P: line index of each participating line
    device: Ints  # device of each participating line
    segment: Ints  # segment of each participating line
    first: Ints  # per segment: P index of its first line
    last: Ints  # per segment: P index of its last line
    closed: Mask  # per segment: ends with the ender
    fine: Mask  # per segment: regular, so the reference would cut it just so


@dataclass(slots=True)
class Learned:
    """Enders found in a batch for devices that had none (per device of the batch)."""

    ender: Ints  # the devices' enders, with those learned in this batch
    new: Mask  # learned in this batch: the reference would know it once its first epoch closed
    first_end: Ints  # line that ends the first epoch of a device that learned its ender
    waiting: Mask  # no ender, and every line so far is one regular open epoch


def learn_enders(lines: Lines, p: Ints, device: Ints, ender: Ints, blocked: Ints) -> Learned:
    """The reference's first lesson, for devices without an ender whose participating lines
    (``p``, device of each line: ``device``) open with a timed sentence: the ender is the
    sentence before the first different time, counted by occurrence. ``blocked`` is, per device,
    the first line that only the reference could read as an epoch sentence (such a line might
    be the ender; the device then learns on the reference path)."""
    dev = device[p]
    n = len(p)
    none = np.zeros(len(ender), dtype=bool)
    learned = Learned(ender.copy(), none, np.full(len(ender), -1), none.copy())
    if not n:
        return learned
    new_device = np.ones(n, dtype=bool)
    new_device[1:] = dev[1:] != dev[:-1]
    starts = np.flatnonzero(new_device)
    run = np.cumsum(new_device) - 1
    tod = lines.tod[p]
    first_tod = tod[starts]
    changed = (tod >= 0) & (tod != first_tod[run])
    change = np.minimum.reduceat(np.where(changed, np.arange(n), n), starts)
    owner = dev[starts]
    unknown = (ender[owner] < 0) & (first_tod >= 0)
    learned.waiting[owner] = unknown & (change == n)
    can = unknown & (change < n) & (change - starts <= MAX_EPOCH)
    can[can] &= blocked[owner[can]] > p[change[can]]
    if not can.any():
        return learned
    last = np.where(can, change - 1, 0)
    base = lines.base[p]
    in_first = (np.arange(n) >= starts[run]) & (np.arange(n) <= last[run]) & can[run]
    same = in_first & (base == base[last[run]])
    occurrences = np.bincount(run[same], minlength=len(starts))
    at = owner[can]
    learned.ender[at] = base[last[can]] << 8 | np.minimum(occurrences[can] - 1, 255)
    learned.new[at] = True
    learned.first_end[at] = p[last[can]]
    return learned


def segment(lines: Lines, p: Ints, device: Ints, learned: Learned, last_tod: Ints) -> Segments:
    """Splits participating lines ``p`` (device of each line: ``device``) at each device's ender
    (``base << 8 | occurrence``, -1 when not learned); a device waiting for its ender has one
    open segment; ``last_tod`` is -1 when unknown."""
    ender = learned.ender
    dev = device[p]
    n = len(p)
    new_device = np.ones(n, dtype=bool)
    new_device[1:] = dev[1:] != dev[:-1]
    known = ender[dev] >= 0
    ender_base, ender_occurrence = ender[dev] >> 8, ender[dev] & 255
    is_ender_base = known & (lines.base[p] == ender_base)
    before = np.cumsum(is_ender_base) - is_ender_base
    run = np.cumsum(new_device) - 1
    occurrence = before - before[np.flatnonzero(new_device)][run]
    is_end = is_ender_base & (occurrence % (ender_occurrence + 1) == ender_occurrence)
    starts = new_device.copy()
    starts[1:] |= is_end[:-1]
    first = np.flatnonzero(starts)
    last = np.append(first[1:], n)[: len(first)] - 1
    seg = np.cumsum(starts) - 1

    tod = lines.tod[p]
    timed = tod >= 0
    low = np.minimum.reduceat(np.where(timed, tod, _NO_TIME), first) if n else first
    high = np.maximum.reduceat(tod, first) if n else first
    seg_tod = tod[first]
    seg_dev = dev[first]
    previous = np.empty_like(seg_tod)
    previous[1:] = seg_tod[:-1]
    opens_device = new_device[first]
    previous[opens_device] = last_tod[seg_dev[opens_device]]
    fine = timed[first] & (low == high) & (last - first < MAX_EPOCH) & (seg_tod != previous)
    fine &= known[first] | learned.waiting[seg_dev]
    return Segments(p, dev, seg, first, last, is_end[last], fine)


@dataclass(slots=True)
class EpochColumns:
    """Per closed epoch: the values :func:`gnss.epoch.assemble.finish` takes (-1 / NaN: absent)."""

    device: Ints
    tod: Ints
    date: Ints
    lat: Floats
    lon: Floats
    alt: Floats
    quality: Ints
    gsa_mode: Ints
    hdop: Floats
    pdop: Floats
    vdop: Floats
    sats_used: Ints
    used: Ints  # epochs × systems
    in_view: Ints  # epochs × systems
    speed: Floats
    course: Floats
    sigma: Floats  # epochs × 3
    raw_line: Ints  # line of the first valid position sentence, -1 if none
    last_line: Ints


def aggregate(lines: Lines, seg: Segments, keep_segment: Mask) -> EpochColumns:
    """The chosen (closed, fine) segments, reduced as :func:`gnss.epoch.rules.summarize` does."""
    in_epoch = keep_segment[seg.segment]
    q = seg.lines[in_epoch]
    epoch = (np.cumsum(keep_segment) - 1)[seg.segment[in_epoch]]
    count = int(keep_segment.sum())
    kind, valid = lines.kind[q], lines.valid[q]

    def first(mask: Mask) -> Ints:
        """Per epoch, the line (index into ``q``) of the first that matches, or -1."""
        where = np.flatnonzero(mask)
        at = epoch[where]
        leading = np.ones(len(where), dtype=bool)
        leading[1:] = at[1:] != at[:-1]
        out = np.full(count, -1, dtype=np.int64)
        out[at[leading]] = where[leading]
        return out

    def pick(*choices: Ints) -> Ints:
        out = choices[-1]
        for choice in reversed(choices[:-1]):
            out = np.where(choice >= 0, choice, out)
        return out

    def take(values: Floats, at: Ints) -> Floats:
        return np.where(at >= 0, values[q[np.maximum(at, 0)]], np.nan)

    dates = lines.date[q]
    date_at = pick(first((kind == ZDA) & (dates > 0)), first((kind == RMC) & (dates > 0)))
    position = pick(*(first((kind == k) & valid) for k in (GGA, GNS, RMC, GLL)))
    quality_at = first((kind == GGA) & (lines.quality[q] >= 0))
    quality = np.where(
        position >= 0,
        lines.quality[q[np.maximum(position, 0)]],
        np.where(quality_at >= 0, lines.quality[q[np.maximum(quality_at, 0)]], 0),
    )
    hdops = lines.hdop[q]
    with_hdop = ~np.isnan(hdops)
    hdop_at = pick(*(first((kind == k) & with_hdop) for k in (GGA, GNS, GSA)))
    gsa = kind == GSA
    motion = lines.motion_ok[q]
    speed_ok = ~np.isnan(lines.speed[q]) & motion
    course_ok = ~np.isnan(lines.course[q]) & motion
    counted = lines.sats[q] >= 0
    sats_at = pick(first((kind == GGA) & counted), first((kind == GNS) & counted))
    epoch_of_line = np.full(len(lines.start), -1, dtype=np.int64)
    epoch_of_line[q] = epoch
    used = _per_system(epoch_of_line, lines.used_line, lines.used_code, count)
    in_view = _per_system(epoch_of_line, lines.view_line, lines.view_code, count)
    used_total = used.sum(axis=1)
    gst_at = first(kind == GST)
    starts = np.flatnonzero(np.diff(epoch, prepend=-1))
    return EpochColumns(
        device=seg.device[in_epoch][starts],
        tod=lines.tod[q[starts]],
        date=np.where(date_at >= 0, dates[np.maximum(date_at, 0)], 0),
        lat=take(lines.lat, position),
        lon=take(lines.lon, position),
        alt=take(lines.alt, position),
        quality=quality,
        gsa_mode=np.maximum.reduceat(lines.fix_type[q], starts) if count else starts,
        hdop=take(lines.hdop, hdop_at),
        pdop=take(lines.pdop, first(gsa & ~np.isnan(lines.pdop[q]))),
        vdop=take(lines.vdop, first(gsa & ~np.isnan(lines.vdop[q]))),
        sats_used=np.where(
            used_total > 0,
            used_total,
            np.where(sats_at >= 0, lines.sats[q[np.maximum(sats_at, 0)]], -1),
        ),
        used=used,
        in_view=in_view,
        speed=take(
            lines.speed, pick(first((kind == RMC) & speed_ok), first((kind == VTG) & speed_ok))
        ),
        course=take(
            lines.course, pick(first((kind == RMC) & course_ok), first((kind == VTG) & course_ok))
        ),
        sigma=np.where((gst_at >= 0)[:, None], lines.sigma[q[np.maximum(gst_at, 0)]], np.nan),
        raw_line=np.where(
            (
                raw_at := first(
                    valid & ((kind == GGA) | (kind == RMC) | (kind == GNS) | (kind == GLL))
                )
            )
            >= 0,
            q[np.maximum(raw_at, 0)],
            -1,
        ),
        last_line=q[np.append(starts[1:], len(q)) - 1] if count else starts,
    )


def _per_system(epoch_of_line: Ints, line: Ints, code: Ints, count: int) -> Ints:
    """Distinct satellites per (epoch, system): several GSV runs count a satellite once."""
    epoch = epoch_of_line[line]
    keep = epoch >= 0
    if not keep.any():  # GGA and RMC alone: no table to fill and sum
        return np.zeros((count, _N_SYSTEMS), dtype=np.int64)
    seen = np.zeros((count, _N_SYSTEMS * SAT_STRIDE), dtype=bool)
    seen[epoch[keep], code[keep]] = True
    return np.asarray(seen.reshape(count, _N_SYSTEMS, SAT_STRIDE).sum(axis=2), dtype=np.int64)
