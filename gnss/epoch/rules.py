"""Epoch assembly: one receiver's sentences grouped into navigation epochs, as gpsd does.

An epoch is every sentence sharing one time tag (GSA, GSV and VTG carry none and join the epoch
they arrive in). An epoch ends when

1. a sentence carries a different time of day (the next cycle has begun), or
2. the receiver's *cycle ender* arrives: the sentence that was last before the time changed the
   previous time (only timed cycles teach it: a cold start's cycles are not the real ones).
   Learning it lets an epoch out as soon as it is complete instead of one cycle later, which
   matters for devices that report every 30 s. Sentences are told apart by talker, type, GSA
   system id, GSV signal id and page, and their order of arrival within the epoch (so the
   second of two identical ``$GNGSA`` is its own sentence), or
3. while no time is known yet (cold start), the sentence that opened the epoch comes again and it
   is of a type that carries a time (GSA and GSV come several to a cycle), or
4. it reaches :data:`MAX_EPOCH` sentences (a receiver stuck on one time tag).

An ender that turns out to be wrong — the next epoch carries the time of the one it just closed —
is forgotten (that one epoch then yields two fixes with the same time, which the quality rules
flag as a duplicate) and learned again at the next change of time.

:func:`summarize` reduces a closed epoch to one ``Fix`` with these rules, in order of preference:
position from the first valid GGA, else GNS, RMC, GLL (validity: GGA quality > 0, RMC/GLL status A,
GNS/FAA mode not N; never the NMEA 4.1 navigational status); date from ZDA, else RMC; quality from
the position sentence (GGA field 6, else its FAA mode); mode 3D or 2D as in
:mod:`gnss.epoch.assemble`; HDOP from GGA, GNS, then GSA; PDOP/VDOP from GSA; satellites used are
the distinct (system, number) pairs of all GSAs (else GGA's count), satellites in view those of all
GSV pages — several GSV runs (one per signal) count each satellite once; speed and course from a
valid RMC, else VTG; GST sigmas from the first GST.

>>> from gnss.nmea.parser import parse
>>> state = DeviceState()
>>> closed = [push(state, parse(line), line, None) for line in (
...     b"$GPGGA,120000,3030.0000,N,11415.0000,E,1,08,0.9,21.0,M,,M,,*6D",
...     b"$GPRMC,120000,A,3030.0000,N,11415.0000,E,0.0,,010526,,,A*5D",
...     b"$GPGGA,120001,3030.0000,N,11415.0000,E,1,08,0.9,21.0,M,,M,,*6C")]
>>> [len(c) for c in closed]
[0, 0, 1]
>>> summarize(state.memory, closed[2][0]).time.isoformat()
'2026-05-01T12:00:00+00:00'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gnss.epoch.assemble import NO_COUNTS, EpochLoss, EpochValues, Memory, counts_by_system, finish
from gnss.model import Constellation, Fix
from gnss.nmea.sentences import (
    EpochSentence,
    Gga,
    Gll,
    Gns,
    Gsa,
    Gst,
    Gsv,
    Rejection,
    Rmc,
    Sentence,
    Txt,
    Vtg,
    Zda,
    quality_from_mode_indicator,
)

__all__ = ["MAX_EPOCH", "DeviceState", "Item", "base_code", "flush", "push", "summarize"]

MAX_EPOCH = 256
KIND_INDEX = {
    "GGA": 1,
    "RMC": 2,
    "GNS": 3,
    "GLL": 4,
    "GSA": 5,
    "GSV": 6,
    "VTG": 7,
    "ZDA": 8,
    "GST": 9,
}
_SYSTEM_INDEX = {s: i for i, s in enumerate(Constellation)}
# Sentence types with a time field: one per cycle, so a second one means a new cycle.
_TIMED_KINDS = frozenset((1, 2, 3, 4, 8, 9))


def base_code(
    kind: int, talker: str, system_id: int | None, signal_id: int | None, page: int
) -> int:
    """A sentence's identity within a cycle, as one integer (the fast path computes the same)."""
    talker_code = (ord(talker[0]) << 8 | ord(talker[1])) if len(talker) == 2 else 0
    system = 0 if system_id is None else min(system_id, 14) + 1
    signal = 0 if signal_id is None else min(signal_id, 30) + 1
    return kind | talker_code << 4 | system << 20 | signal << 24 | min(page, 255) << 29


def sentence_base(s: EpochSentence) -> int:
    if isinstance(s, Gsa):
        return base_code(5, s.talker, s.system_id, None, 0)
    if isinstance(s, Gsv):
        return base_code(6, s.talker, s.system_id, s.signal_id, s.page)
    return base_code(KIND_INDEX[s.kind], s.talker, None, None, 0)


@dataclass(frozen=True, slots=True)
class Item:
    """One sentence of an open epoch, with its text as received and its arrival time."""

    sentence: EpochSentence
    raw: bytes
    received_at: float | None


@dataclass(slots=True)
class DeviceState:
    """Everything the decoder remembers about one device between lines (or batches)."""

    ender: int | None = None  # key of the learned cycle ender: base << 8 | occurrence
    last_tod: int | None = None  # time of day of the last closed epoch that had one
    memory: Memory = field(default_factory=Memory)
    pending: list[Item] = field(default_factory=list)
    cur_tod: int | None = None
    first_base: int = 0
    seen: dict[int, int] = field(default_factory=dict)
    # The fast path keeps an open epoch as the raw lines it came from (complete lines joined
    # with newlines, none counted again) and the arrival time of the last of them.
    pending_raw: bytes = b""
    pending_raw_received_at: float | None = None


def is_epoch_sentence(outcome: Sentence | Rejection) -> bool:
    return not isinstance(outcome, (Rejection, Txt))


def _close(state: DeviceState, learn: bool) -> list[Item]:
    items = state.pending
    if learn and state.cur_tod is not None:  # a cold-start cycle says nothing of the real one
        last = items[-1].sentence
        base = sentence_base(last)
        state.ender = base << 8 | min(state.seen[base] - 1, 255)
    if state.cur_tod is not None:
        state.last_tod = state.cur_tod
    state.pending, state.cur_tod, state.seen = [], None, {}
    return items


def push(
    state: DeviceState, sentence: Sentence | Rejection, raw: bytes, received_at: float | None
) -> list[list[Item]]:
    """Adds one outcome of the parser; returns the epochs it closed (usually none)."""
    if isinstance(sentence, (Rejection, Txt)):
        return []
    closed = []
    base = sentence_base(sentence)
    tod = sentence.tod_us
    if state.pending:
        if state.cur_tod is None:
            new_cycle = base == state.first_base and base & 15 in _TIMED_KINDS
        else:
            new_cycle = tod is not None and tod != state.cur_tod
        if new_cycle:
            closed.append(_close(state, learn=True))
        elif len(state.pending) >= MAX_EPOCH:
            closed.append(_close(state, learn=False))
    if not state.pending:
        state.first_base = base
    if tod is not None and state.cur_tod is None:
        state.cur_tod = tod
        if tod == state.last_tod:
            state.ender = None  # it closed an epoch that was not over: learn it again
    occurrence = state.seen.get(base, 0)
    state.seen[base] = occurrence + 1
    state.pending.append(Item(sentence, raw, received_at))
    if state.ender == base << 8 | min(occurrence, 255):
        closed.append(_close(state, learn=False))
    return closed


def flush(state: DeviceState) -> list[list[Item]]:
    """The open epoch, closed because the stream ended."""
    return [_close(state, learn=False)] if state.pending else []


def _first(values: list[float | None]) -> float | None:
    return next((v for v in values if v is not None), None)


def summarize(memory: Memory, items: list[Item]) -> Fix | EpochLoss:
    """A closed epoch as a ``Fix`` (rules in the module docstring)."""
    sentences = [item.sentence for item in items]
    ggas = [s for s in sentences if isinstance(s, Gga)]
    gnss = [s for s in sentences if isinstance(s, Gns)]
    rmcs = [s for s in sentences if isinstance(s, Rmc)]
    gsas = [s for s in sentences if isinstance(s, Gsa)]
    vtgs = [s for s in sentences if isinstance(s, Vtg) and s.mode_indicator[:1] != "N"]
    gsts = [s for s in sentences if isinstance(s, Gst)]
    tod = next((s.tod_us for s in sentences if s.tod_us is not None), None)
    explicit = next((s.date for s in sentences if isinstance(s, Zda) and s.date), None)
    explicit = explicit or next((s.date for s in rmcs if s.date), None)

    position: Gga | Gns | Rmc | Gll | None = None
    for kind in (Gga, Gns, Rmc, Gll):
        position = next((s for s in sentences if isinstance(s, kind) and s.valid), None)
        if position is not None:
            break
    if isinstance(position, Gga):
        quality = position.quality or 0
    elif position is not None:
        quality = int(quality_from_mode_indicator(position.mode_indicator))
    else:
        quality = next((s.quality for s in ggas if s.quality is not None), 0)
    alt = position.alt_m if isinstance(position, (Gga, Gns)) else None
    raw = next(
        (i.raw for i in items if isinstance(i.sentence, (Gga, Rmc, Gns, Gll)) and i.sentence.valid),
        None,
    )

    used = {sat for s in gsas for sat in s.used}
    in_view = {sat for s in sentences if isinstance(s, Gsv) for sat in s.in_view}
    counted = [s.sats_used for s in ggas] + [s.sats_used for s in gnss]
    sats_used = len(used) if used else _first_int(counted)
    valid_rmcs = [s for s in rmcs if s.valid]
    fix_types = [s.fix_type for s in gsas if s.fix_type is not None]
    gst = gsts[0] if gsts else None
    return finish(
        memory,
        EpochValues(
            tod_us=tod,
            explicit_date=explicit,
            received_at=items[-1].received_at,
            lat=None if position is None else position.lat,
            lon=None if position is None else position.lon,
            alt_m=alt,
            quality=quality,
            gsa_mode=max(fix_types) if fix_types else None,
            hdop=_first([s.hdop for s in ggas] + [s.hdop for s in gnss] + [s.hdop for s in gsas]),
            pdop=_first([s.pdop for s in gsas]),
            vdop=_first([s.vdop for s in gsas]),
            sats_used=sats_used,
            used_by_system=_counts(used),
            in_view_by_system=_counts(in_view),
            speed_mps=_first([s.speed_mps for s in valid_rmcs] + [s.speed_mps for s in vtgs]),
            course_deg=_first([s.course_deg for s in valid_rmcs] + [s.course_deg for s in vtgs]),
            sigma_lat_m=None if gst is None else gst.sigma_lat_m,
            sigma_lon_m=None if gst is None else gst.sigma_lon_m,
            sigma_alt_m=None if gst is None else gst.sigma_alt_m,
            raw_position=None if raw is None else raw.decode("ascii"),
        ),
    )


def _first_int(values: list[int | None]) -> int | None:
    return next((v for v in values if v is not None), None)


def _counts(sats: set[tuple[Constellation, int]]) -> Mapping[Constellation, int]:
    if not sats:
        return NO_COUNTS
    counts = [0] * len(_SYSTEM_INDEX)
    for system, _ in sats:
        counts[_SYSTEM_INDEX[system]] += 1
    return counts_by_system(tuple(counts))
