"""The hand-off between a column pass of the fast path and the reference decoder.

A pass of :class:`gnss.epoch.batch.BatchDecoder` decides each device's lines on the columns up to
the first line they cannot vouch for (:func:`cuts`) and counts what it decided
(:func:`count_decided`); the reference takes each device over from there, and whatever it hands back
after an epoch boundary goes into the next pass as :class:`Parts` (:func:`rest_parts`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from gnss.epoch.batch_rules import Segments
from gnss.epoch.devices import ACCEPTED, LINES
from gnss.epoch.devices import REJECTED as REJECTED_COLUMN
from gnss.epoch.rules import DeviceState
from gnss.nmea.lines import Lines
from gnss.nmea.scan import DECLINED, REASONS, REJECTED
from gnss.nmea.sentences import Rejection, Sentence

__all__ = ["NO_CUT", "Parts", "count_decided", "cuts", "rest_parts"]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

NO_CUT = np.iinfo(np.int64).max  # a device whose lines the columns decide to the end


@dataclass(slots=True)
class Parts:
    """Bytes to decode in one pass: complete lines, each part one device's, grouped by device."""

    data: list[bytes]
    device: Ints  # the batch's device index of each part
    counted: Mask  # False for an open epoch decoded again
    received: Floats  # NaN when unknown


def rest_parts(
    state: DeviceState, lines: Lines, rows: list[int], *, index: int, flags: tuple[Mask, Floats]
) -> Parts:
    """The device's open epoch (taken out of ``state``; not counted again) and the given
    (consecutive) lines, as parts: one part per run of lines with the same ``flags`` (counted,
    arrival time)."""
    counted, received = flags
    data: list[bytes] = []
    counted_parts: list[bool] = []
    times: list[float] = []
    if state.pending:
        data.append(b"\n".join(item.raw for item in state.pending) + b"\n")
        counted_parts.append(False)
        last = state.pending[-1].received_at
        times.append(math.nan if last is None else last)
        state.pending, state.cur_tod, state.seen = [], None, {}
    at = np.asarray(rows, dtype=np.int64)
    following = np.append(lines.start[1:], len(lines.buf))
    run_flags = counted[at]
    run_times = received[at]
    change = (
        np.flatnonzero(
            (run_flags[1:] != run_flags[:-1])
            | (
                (run_times[1:] != run_times[:-1])
                & ~(np.isnan(run_times[1:]) & np.isnan(run_times[:-1]))
            )
        )
        + 1
    )
    for a, b in pairwise([0, *change.tolist(), len(at)]):
        data.append(lines.buf[lines.start[at[a]] : following[at[b - 1]]])
        counted_parts.append(bool(run_flags[a]))
        times.append(float(run_times[a]))
    return Parts(
        data,
        np.full(len(data), index, dtype=np.int64),
        np.array(counted_parts, dtype=bool),
        np.array(times, dtype=np.float64),
    )


def cuts(seg: Segments, epochal: Ints, owner: Ints, n: int) -> Ints:
    """Per device, the first line the columns cannot vouch for (``NO_CUT`` if none): the
    start of its first irregular epoch, or an epoch sentence only the reference could read
    (``epochal``)."""
    cut = np.full(n, NO_CUT, dtype=np.int64)
    bad = np.flatnonzero(~seg.fine)
    np.minimum.at(cut, seg.device[seg.first[bad]], seg.lines[seg.first[bad]])
    for i in epochal.tolist():
        device = owner[i]
        at = int(np.searchsorted(seg.lines, i)) - 1  # the last participating line before it
        where = i
        if at >= 0 and seg.device[at] == device:
            k = seg.segment[at]
            if not (seg.closed[k] and seg.last[k] == at):  # inside an epoch: cut at its start
                where = int(seg.lines[seg.first[k]])
        cut[device] = min(cut[device], where)
    return cut


def count_decided(
    counts: Ints,
    lines: Lines,
    owner: Ints,
    mine: Mask,
    outcomes: dict[int, list[Sentence | Rejection]],
) -> None:
    """Counts the lines the columns decided (``mine``) into each device's row of ``counts``."""
    n, n_reasons = len(counts), len(REASONS)
    decided = mine & (lines.status != DECLINED)
    accepted = np.bincount(owner[decided & (lines.status != REJECTED)], minlength=n)
    rejected = decided & (lines.status == REJECTED)
    by_reason = np.bincount(
        owner[rejected] * n_reasons + lines.reason[rejected], minlength=n * n_reasons
    ).reshape(n, n_reasons)
    counts[:, ACCEPTED] += accepted
    counts[:, LINES] += accepted + by_reason.sum(axis=1)
    counts[:, REJECTED_COLUMN : REJECTED_COLUMN + n_reasons] += by_reason
    for i, found in outcomes.items():
        if mine[i]:
            row = counts[owner[i]]
            row[LINES] += len(found)
            for outcome in found:
                if isinstance(outcome, Rejection):
                    row[REJECTED_COLUMN + REASONS.index(outcome.reason)] += 1
                else:
                    row[ACCEPTED] += 1
