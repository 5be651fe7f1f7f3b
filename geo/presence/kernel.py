""":func:`geo.presence.state.step` over a batch of epochs, compiled: the inner loop of the batch
tracker.

Presence is sequential per member — each epoch's step depends on the state the previous one
left — so the batch path walks the epochs in arrival order in one compiled loop
(:func:`step_epochs`). An epoch of a member with no visit under way and no site nearby costs a
row read; otherwise each pair it gives evidence about is stepped in place, and most steps
change nothing (PRESENT and inside, ARRIVING before the dwell is over).

:func:`_step` is the evidence and timer part of :func:`geo.presence.state.step` on one record of
:data:`geo.presence.columns.PAIR`; the loop applies silence before it and logs the events as
:data:`EVENT` records (the pair's record as it stood, the kind, the visit's end). Epochs are
taken in arrival order and each member's pairs are kept in site order, so the events come out
in the reference's order: by epoch, then site, silence before the evidence's event.

Helpers called per pair take records and numbers only: a tuple of arrays passed to a compiled
function costs a reference count update per array, which would cost more than the step itself.

The loop stops before an epoch when the event rows (:data:`MORE_EVENTS`) or the free pair
records (:data:`MORE_PAIRS`) might run out; the caller makes room and calls again from there.

>>> from geo.presence.columns import PairColumns
>>> events = np.empty(1, EVENT)
>>> pair = PairColumns.empty(1)
>>> pair.key[:] = 1 << 32  # member row 1, site 0
>>> _ended(events[0], pair.rec[0], 60.0, True)
>>> events = more_room(events, 1)
>>> len(events) > 1, events["end"][:1].tolist(), events["pair"]["key"][:1].tolist() == [1 << 32]
(True, [60.0], True)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from geo.presence.columns import PAIR
from geo.presence.pairs import Pool
from gnss.jit import compiled, inlined, prefetch

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Records = npt.NDArray[np.void]

DONE, MORE_EVENTS, MORE_PAIRS = 0, 1, 2
ENDED, CHECKIN = 0, 1
# What a step asks the loop to log (silence is the loop's own).
NOTHING, WALKED_OFF, CHECKED_IN, EXITED = 0, 1, 2, 3
# Values compiled into the loop are written out here rather than imported: numba's disk cache
# is keyed on this file alone, so a change at their source must show here too
# (tests/geo/test_compiled.py checks that they agree).
OUT, ARR, PRE, LEA = 0, 1, 2, 3  # geo.presence.columns
SITE_BITS = 32  # geo.presence.columns
SITE_MASK = (1 << SITE_BITS) - 1
ALIVE, OUTSIDE, BETWEEN, INSIDE = 0, 1, 2, 3  # geo.presence.state.Ev
UNTRUSTED_TIME = 0b1011000  # geo.quality.batch.UNTRUSTED_TIME_BITS: stale, duplicate, future
N_SYS: int = PAIR["sats"].shape[0]  # part of the argument types: a change recompiles
LOOK_AHEAD = 8  # epochs

# Per site: what presence needs of its thresholds and parameters.
SITE = np.dtype(
    [
        ("min_sats", np.int16),
        ("max_hdop", np.float64),
        ("dwell_s", np.float64),
        ("exit_after_s", np.float64),
        ("max_gap_s", np.float64),
    ]
)
# An event: the pair as it stood, its kind, the visit's end (NaN for a check-in).
EVENT = np.dtype(
    [
        ("pair", PAIR),
        ("kind", np.int8),
        ("end", np.float64),
        ("checked_in", np.bool_),
    ]
)
# The epoch's fix as a check-in keeps it (geo.presence.state.FixSummary), and what the site
# thresholds test.
FIX = np.dtype(
    [
        ("quality", np.int8),
        ("sats_used", np.int16),
        ("hdop", np.float64),
        ("acc", np.float64),
        ("sats", np.int16, (N_SYS,)),
    ]
)


class Epochs(NamedTuple):
    """A batch as the loop reads it: fix columns, member rows, memberships sorted by fix.

    Named once for good: numba's on-disk cache pickles the types of a kernel's arguments by
    name, and a cache written under another name fails to load instead of being recompiled."""

    row: IntArray
    reasons: npt.NDArray[np.uint16]
    has_position: BoolArray
    time_s: FloatArray
    quality: npt.NDArray[np.int8]
    sats_used: npt.NDArray[np.int16]
    hdop: FloatArray
    accuracy_m: FloatArray
    sats_by_system: npt.NDArray[np.int16]
    m_fix: IntArray
    m_site: IntArray
    m_inside: BoolArray


def more_room(events: Records, used: int) -> Records:
    """Twice the room for event rows (at least 64 more), the ``used`` ones kept."""
    bigger = np.empty(2 * len(events) + 64, EVENT)
    bigger[:used] = events[:used]
    return bigger


@inlined
def _ended(e: np.void, s: np.void, end: float, checked_in: bool) -> None:
    e["pair"], e["kind"], e["end"], e["checked_in"] = s, ENDED, end, checked_in


@inlined
def _checked_in(e: np.void, s: np.void) -> None:
    e["pair"], e["kind"], e["end"], e["checked_in"] = s, CHECKIN, math.nan, True


@inlined
def _below(fix: np.void, p: np.void) -> bool:
    """A fix below the site's own thresholds is only liveness for that site."""
    if fix["sats_used"] < p["min_sats"]:
        return True
    if math.isnan(fix["hdop"]):  # sent without HDOP: judged by its accuracy (quality rules)
        return bool(math.isnan(fix["acc"]))
    return not fix["hdop"] <= p["max_hdop"]


@inlined
def _step(s: np.void, ev: int, fix: np.void, p: np.void, t: float) -> int:
    """Evidence ``ev`` of the fix at ``t`` on pair ``s`` at site ``p``, then the timers.

    :func:`geo.presence.state.step` after its silence rule, in place on ``s``. Returns what to log:
    for WALKED_OFF and EXITED the pair is left as it stood at the event (the loop logs it,
    then frees it); a step to OUT without an event leaves state OUT.
    """
    state = s["state"]
    if state == OUT and ev == INSIDE:
        s["state"], s["since"], s["leaving"], s["count"], s["last_in"] = ARR, t, math.nan, 1, t
        s["quality"], s["hdop"], s["acc"] = fix["quality"], fix["hdop"], fix["acc"]
        for c in range(N_SYS):
            s["sats"][c] = fix["sats"][c]
    elif state == ARR and ev == OUTSIDE:
        return WALKED_OFF
    elif state == ARR and ev == INSIDE:
        s["count"] += 1
        s["last_in"] = t
        s["hdop"] = np.fmax(s["hdop"], fix["hdop"])  # the worse, ignoring NaN: presence._worse
        s["acc"] = np.fmax(s["acc"], fix["acc"])
        for c in range(N_SYS):
            s["sats"][c] = min(s["sats"][c], fix["sats"][c])
    elif state == PRE and ev == OUTSIDE:
        s["state"], s["leaving"] = LEA, t
    elif state == LEA and ev == INSIDE:
        s["state"], s["leaving"] = PRE, math.nan
    # Timers (a zero dwell or exit_after completes in the same epoch).
    if s["state"] == ARR and t - s["since"] >= p["dwell_s"]:
        s["state"] = PRE
        return CHECKED_IN
    if s["state"] == LEA and ev == OUTSIDE and t - s["leaving"] >= p["exit_after_s"]:
        return EXITED
    return NOTHING


@compiled
def step_epochs(
    ep: Epochs, sites: Records, pool: Pool, events: Records, resume: tuple[int, int, int]
) -> tuple[int, int, int, int]:
    """Epochs in arrival order; events written to ``events``.

    ``resume``: (first epoch, its first membership or an earlier one, event rows used).
    Returns (status, epoch, membership, event rows used): :data:`DONE` when the batch is done,
    else where to resume once there is room.
    Only the memberships of accepted fixes count; an epoch whose time cannot be trusted
    changes nothing at all (it is not even liveness).
    """
    # The pool's arrays as locals: passed to helpers, each would cost reference counting.
    rows, rec, following, free, n_free = pool.rows, pool.rec, pool.next, pool.free, pool.n_free
    m_fix, m_site, m_inside = ep.m_fix, ep.m_site, ep.m_inside
    quality, sats_used, hdop, accuracy_m = ep.quality, ep.sats_used, ep.hdop, ep.accuracy_m
    sats_by_system = ep.sats_by_system
    summary = np.empty(1, FIX)  # the epoch's fix
    n_fix, n_m = len(ep.row), len(m_fix)
    i, p, n = resume
    while i < n_fix:
        # The rows and first pairs of members a few epochs ahead, fetched into the cache while
        # this epoch is worked on (random reads otherwise stall the loop: ~2× faster).
        if i + 2 * LOOK_AHEAD < n_fix:
            prefetch(rows, ep.row[i + 2 * LOOK_AHEAD])
        if i + LOOK_AHEAD < n_fix:
            prefetch(rec, max(rows[ep.row[i + LOOK_AHEAD]]["head"], 0))
        while p < n_m and m_fix[p] < i:
            p += 1
        q = p
        while q < n_m and m_fix[q] == i:
            q += 1
        if ep.reasons[i] & UNTRUSTED_TIME:
            i += 1
            continue
        usable = ep.reasons[i] == 0 and ep.has_position[i]
        if not usable:
            q = p
        r = ep.row[i]
        member = rows[r]
        # Room first: two events at most per pair stepped, a record per site newly inside.
        pairs, x = 0, member["head"]
        while x >= 0:
            pairs, x = pairs + 1, following[x]
        if n + 2 * (q - p + pairs) > len(events):
            return MORE_EVENTS, i, p, n
        if pool.n_free[0] < q - p:
            return MORE_PAIRS, i, p, n
        t, previous = ep.time_s[i], member["last_seen"]
        if t < previous:  # late: never moves state backwards
            i += 1
            continue
        member["last_seen"] = t
        if pairs == 0 and q == p:
            i += 1
            continue
        fix = summary[0]
        fix["quality"], fix["sats_used"] = quality[i], sats_used[i]
        fix["hdop"], fix["acc"] = hdop[i], accuracy_m[i]
        for c in range(N_SYS):
            fix["sats"][c] = sats_by_system[i, c]
        # A site newly inside gets a record, OUTSIDE until stepped with the others below
        # (any other evidence leaves an OUTSIDE pair as it is). Memberships and each member's
        # pairs are in site order, and so are the events, as on the reference path.
        for m in range(p, q):
            k = m_site[m]
            if not m_inside[m] or _below(fix, sites[k]):
                continue
            before, x = -1, member["head"]
            while x >= 0 and rec[x]["key"] & SITE_MASK < k:
                before, x = x, following[x]
            if x < 0 or rec[x]["key"] & SITE_MASK != k:  # a free record, linked after ``before``
                n_free[0] -= 1
                y = free[n_free[0]]
                rec[y]["key"], rec[y]["state"] = (r << SITE_BITS) | k, OUT
                if before < 0:
                    following[y], member["head"] = member["head"], y
                else:
                    following[y], following[before] = following[before], y
        # Every pair of the member: evidence from the membership that names its site, else
        # OUTSIDE (an accepted fix) or ALIVE (an epoch without usable position).
        before, x = -1, member["head"]
        while x >= 0:
            s = rec[x]
            k = s["key"] & SITE_MASK
            site = sites[k]
            ev = OUTSIDE if usable else ALIVE
            for m in range(p, q):
                if m_site[m] == k:
                    ev = INSIDE if m_inside[m] else BETWEEN
                    break
            if ev != ALIVE and _below(fix, site):
                ev = ALIVE
            # Silence first: it ends a visit that was still being decided.
            if t - previous > site["max_gap_s"]:
                if s["state"] == ARR:
                    _ended(events[n], s, previous, False)
                    n += 1
                    s["state"] = OUT
                elif s["state"] == LEA:
                    _ended(events[n], s, s["leaving"], True)
                    n += 1
                    s["state"] = OUT
            what = _step(s, ev, fix, site, t)
            if what == WALKED_OFF:
                _ended(events[n], s, t, False)
                n += 1
                s["state"] = OUT
            elif what == CHECKED_IN:
                _checked_in(events[n], s)
                n += 1
            elif what == EXITED:
                _ended(events[n], s, s["leaving"], True)
                n += 1
                s["state"] = OUT
            after = following[x]
            if s["state"] == OUT:  # off the list, the record free
                if before < 0:
                    member["head"] = after
                else:
                    following[before] = after
                s["key"] = -1
                free[n_free[0]] = x
                n_free[0] += 1
            else:
                before = x
            x = after
        i += 1
    return DONE, n_fix, p, n
