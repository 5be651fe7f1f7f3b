"""The fast path's first stage: framing, checksum and the fields of every epoch sentence of a
buffer of NMEA lines, in one compiled pass per line.

:func:`decode_lines` classifies every line of a buffer (which ends in a newline) as a decoded
epoch sentence (GGA, RMC, GNS, GLL, GSA, GSV, VTG, ZDA, GST, with its fields in the columns of
:class:`~gnss.nmea.lines.Lines`), an accepted TXT, a rejection whose reason is certain (empty,
comment, checksum, unknown type), or *declined*: anything it does not read exactly as the
reference does — binary, ``$$``, glued sentences, short or malformed fields, fields the readers
of :mod:`gnss.nmea.scan_fields` leave alone, unusual layouts. Declined lines go to the reference
parser (:mod:`gnss.nmea.parser`), which decides. Both read each value at the index the sentence's
layout gives (:mod:`gnss.nmea.layout`); values are the reference's bit for bit.

Compiled with numba rather than written as numpy column passes: a batch of full multi-GNSS
epochs holds ten sentence types, and column passes paid a fixed price per array operation for
each of them (``bench/pipeline.py`` prints the cost per fix).

>>> lines = decode_lines(b"$GPZDA,120000,01,05,2026,,*49\\n$GPZDA,1*00\\n#c\\n")
>>> lines.status.tolist(), int(lines.tod[0]), int(lines.date[0])
([0, 2, 2], 43200000000, 20260501)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from gnss.epoch.rules import KIND_INDEX
from gnss.jit import compiled
from gnss.model import Constellation
from gnss.nmea.fields import TALKER_SYSTEMS, satellite_for
from gnss.nmea.layout import GGA, GLL, GNS, GSA, GST, GSV, MIN_FIELDS, RMC, TXT, VTG, ZDA
from gnss.nmea.lines import HEX, Lines
from gnss.nmea.parser import MAX_SENTENCE
from gnss.nmea.scan_fields import (
    calendar_bad,
    char,
    ddmmyy,
    decimal,
    dop,
    integer,
    position,
    time_of_day,
)
from gnss.nmea.sentences import KNOT_MPS, Reason, quality_from_mode_indicator

__all__ = [
    "DECLINED",
    "DECODED",
    "NEUTRAL",
    "REASONS",
    "REJECTED",
    "SAT_STRIDE",
    "decode_lines",
]

Ints = npt.NDArray[np.int64]
Bytes = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


class _Columns(NamedTuple):
    """The per-line columns of :class:`~gnss.nmea.lines.Lines`: where each line lies, and what
    the scanner writes."""

    start: Ints
    end: Ints
    status: Ints
    reason: Ints
    kind: Ints
    base: Ints
    tod: Ints
    date: Ints
    lat: Floats
    lon: Floats
    alt: Floats
    valid: Mask
    quality: Ints
    sats: Ints
    hdop: Floats
    pdop: Floats
    vdop: Floats
    fix_type: Ints
    speed: Floats
    course: Floats
    motion_ok: Mask
    sigma: Floats


class _Tables(NamedTuple):
    """Lookups the scanner reads (compiled code takes arrays, not dicts)."""

    kind_codes: Ints  # three upper-case letters as one integer, and their kind
    kind_values: Ints
    upper: Ints
    tag_char: Ints  # digits and capitals
    min_fields: Ints
    mode_quality: Ints  # FAA mode indicator (0: none) → GGA-style quality
    talker_hint: Ints
    sat_table: Ints  # (system hint, number) → satellite code, -1: none
    hex_value: Ints
    pow10: Floats
    days: Ints


DECODED, NEUTRAL, REJECTED, DECLINED = 0, 1, 2, 3
REASONS = tuple(Reason)
_EMPTY, _COMMENT, _CHECKSUM, _UNKNOWN = (
    REASONS.index(r) for r in (Reason.EMPTY, Reason.COMMENT, Reason.CHECKSUM, Reason.UNKNOWN_TYPE)
)
SAT_STRIDE = 160  # satellite code: system index * SAT_STRIDE + number (SBAS goes to 158)
_USED_PER_LINE, _VIEW_PER_LINE = 12, 4  # GSA lists 12 satellites, a GSV page 4
_TXT = ord("T") << 16 | ord("X") << 8 | ord("T")


def _satellite_table() -> Ints:
    systems = {system: i for i, system in enumerate(Constellation)}
    table = np.full((7, 1000), -1, dtype=np.int64)
    for hint in range(7):
        for number in range(1000):
            sat = satellite_for(hint or None, number)
            if sat is not None:
                table[hint, number] = systems[sat[0]] * SAT_STRIDE + sat[1]
    return table


def _tables() -> _Tables:
    kind_codes = np.array(
        [ord(k[0]) << 16 | ord(k[1]) << 8 | ord(k[2]) for k in KIND_INDEX], dtype=np.int64
    )
    upper = np.arange(256, dtype=np.int64)
    upper[97:123] -= 32
    tag_char = np.zeros(256, dtype=np.int64)
    tag_char[48:58] = tag_char[65:91] = 1
    min_fields = np.zeros(len(KIND_INDEX) + 1, dtype=np.int64)
    for name, index in KIND_INDEX.items():
        min_fields[index] = MIN_FIELDS[name]
    quality = np.array(
        [int(quality_from_mode_indicator(chr(c) if c else "")) for c in range(256)], np.int64
    )
    talker_hint = np.zeros(1 << 16, dtype=np.int64)
    for talker, hint in TALKER_SYSTEMS.items():
        talker_hint[ord(talker[0]) << 8 | ord(talker[1])] = hint
    return _Tables(
        kind_codes,
        np.array(list(KIND_INDEX.values()), dtype=np.int64),
        upper,
        tag_char,
        min_fields,
        quality,
        talker_hint,
        _satellite_table(),
        HEX,
        np.power(10.0, np.arange(23), dtype=np.float64),
        np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64),
    )


_TABLES = _tables()


def decode_lines(buf: bytes) -> Lines:
    """Every line of ``buf`` (which must end with a newline), classified and read."""
    a = np.frombuffer(buf, dtype=np.uint8)
    start, end = _line_bounds(a)
    n = len(start)
    lines = Lines.blank(
        buf, start, end, np.full(n, DECLINED, dtype=np.int64), np.zeros(n, dtype=np.int64)
    )
    used = np.empty((2, _USED_PER_LINE * n), dtype=np.int64)
    view = np.empty((2, _VIEW_PER_LINE * n), dtype=np.int64)
    columns = _Columns(*(getattr(lines, name) for name in _Columns._fields))
    n_used, n_view = _scan(a, columns, used, view, _TABLES)
    lines.used_line, lines.used_code = used[0, :n_used].copy(), used[1, :n_used].copy()
    lines.view_line, lines.view_code = view[0, :n_view].copy(), view[1, :n_view].copy()
    return lines


@compiled
def _line_bounds(a: Bytes) -> tuple[Ints, Ints]:
    """Start and end of every line: up to its newline, less one carriage return before it."""
    count = 0
    for k in range(len(a)):
        if a[k] == 10:
            count += 1
    start = np.empty(count, dtype=np.int64)
    end = np.empty(count, dtype=np.int64)
    line, begin = 0, 0
    for k in range(len(a)):
        if a[k] == 10:
            stop = k - 1 if k > begin and a[k - 1] == 13 else k
            start[line], end[line] = begin, stop
            line += 1
            begin = k + 1
    return start, end


@compiled
def _base(kind: int, talker: int, system: int, signal: int, page: int) -> int:
    """:func:`gnss.epoch.rules.base_code` (-1: absent)."""
    sys_part = 0 if system < 0 else min(system, 14) + 1
    sig_part = 0 if signal < 0 else min(signal, 30) + 1
    return kind | talker << 4 | sys_part << 20 | sig_part << 24 | min(page, 255) << 29


@compiled
def _hint(talker: int, system: int, talker_hint: Ints) -> int:
    return system if 1 <= system <= 6 else talker_hint[talker]


@compiled
def _scan(a: Bytes, out: _Columns, used: Ints, view: Ints, tab: _Tables) -> tuple[int, int]:
    """Classify and read every line; returns how many used and in-view satellites it listed."""
    bounds = np.empty(MAX_SENTENCE + 1, dtype=np.int64)
    numbers = np.empty(13, dtype=np.int64)
    n_used = n_view = 0
    for i in range(len(out.start)):
        s, e = out.start[i], out.end[i]
        if e == s:
            out.status[i], out.reason[i] = REJECTED, _EMPTY
            continue
        if a[s] == 35:
            out.status[i], out.reason[i] = REJECTED, _COMMENT
            continue
        # Framed: `$` + printable text + `*hh`, no second `$` or `*`.
        if e - s < 10 or e - s > MAX_SENTENCE or a[s] != 36 or a[e - 3] != 42:
            continue
        star = e - 3
        high, low = tab.hex_value[a[star + 1]], tab.hex_value[a[star + 2]]
        if high < 0 or low < 0:
            continue
        xor, fields, framed = 0, 0, True
        for k in range(s + 1, star):
            c = a[k]
            if c < 32 or c > 126 or c in (36, 42):
                framed = False
                break
            xor ^= c
            if c == 44:
                bounds[fields] = k
                fields += 1
        if not framed:
            continue
        if xor != high * 16 + low:
            out.status[i], out.reason[i] = REJECTED, _CHECKSUM
            continue
        bounds[fields] = star
        code = tab.upper[a[s + 3]] << 16 | tab.upper[a[s + 4]] << 8 | tab.upper[a[s + 5]]
        found = 0
        for k in range(len(tab.kind_codes)):
            if tab.kind_codes[k] == code:
                found = tab.kind_values[k]
        if bounds[0] != s + 6 or (found == 0 and code != _TXT):
            out.status[i], out.reason[i] = REJECTED, _UNKNOWN
            continue
        if not (
            tab.tag_char[a[s + 1]] and tab.tag_char[a[s + 2]] and tab.tag_char[a[s + 3]]
            and tab.tag_char[a[s + 4]] and tab.tag_char[a[s + 5]]
            and (a[s + 1] != 80 or a[s + 2] == 81)  # P… is proprietary, except Quectel's PQ
        ):  # fmt: skip
            continue
        if found == 0:  # TXT
            if fields >= TXT.minimum:
                out.status[i] = NEUTRAL
            continue
        if fields < tab.min_fields[found]:
            continue
        out.kind[i] = found
        talker = int(a[s + 1]) << 8 | int(a[s + 2])
        bad = False
        if found in (1, 3):  # GGA, GNS: time, position, satellites, HDOP, altitude
            gga = found == 1
            t, bad = time_of_day(a, bounds, fields, GGA.time if gga else GNS.time)
            la, lo, wrong = position(
                a, bounds, fields, GGA.position if gga else GNS.position, tab.pow10
            )
            n_sats, s_bad = integer(a, bounds, fields, GGA.sats if gga else GNS.sats, 3)
            h, h_bad = dop(a, bounds, fields, GGA.hdop if gga else GNS.hdop, tab.pow10)
            al, a_bad = decimal(a, bounds, fields, GGA.alt if gga else GNS.alt, tab.pow10)
            bad = bad or wrong or s_bad or h_bad or a_bad
            out.tod[i], out.base[i] = t, _base(found, talker, -1, -1, 0)
            out.lat[i], out.lon[i], out.alt[i], out.sats[i], out.hdop[i] = la, lo, al, n_sats, h
            placed = not (math.isnan(la) or math.isnan(lo))
            if gga:
                q, q_bad = integer(a, bounds, fields, GGA.quality, 3)
                out.valid[i], out.quality[i] = q > 0 and placed, q
                bad = bad or q_bad or q > 8
            else:
                mode, _ = char(a, bounds, fields, GNS.mode)
                out.valid[i] = mode not in (0, 78) and placed
                out.quality[i] = tab.mode_quality[mode]
        elif found == 2:  # RMC
            t, bad = time_of_day(a, bounds, fields, RMC.time)
            state, state_len = char(a, bounds, fields, RMC.status)
            la, lo, wrong = position(a, bounds, fields, RMC.position, tab.pow10)
            knots, k_bad = decimal(a, bounds, fields, RMC.speed_knots, tab.pow10)
            heading, c_bad = decimal(a, bounds, fields, RMC.course, tab.pow10)
            day, d_bad = ddmmyy(a, bounds, fields, RMC.date, tab.days)
            mode, _ = char(a, bounds, fields, RMC.mode)
            bad = bad or wrong or k_bad or c_bad or d_bad
            out.tod[i], out.base[i] = t, _base(2, talker, -1, -1, 0)
            ok = state_len == 1 and state in (65, 68) and mode != 78
            ok = ok and not (math.isnan(la) or math.isnan(lo))
            out.lat[i], out.lon[i], out.valid[i], out.motion_ok[i] = la, lo, ok, ok
            out.quality[i], out.date[i] = tab.mode_quality[mode], day
            out.speed[i], out.course[i] = knots * KNOT_MPS, heading
        elif found == 4:  # GLL
            la, lo, bad = position(a, bounds, fields, GLL.position, tab.pow10)
            t, t_bad = time_of_day(a, bounds, fields, GLL.time)
            state, state_len = char(a, bounds, fields, GLL.status)
            mode, _ = char(a, bounds, fields, GLL.mode)
            bad = bad or t_bad
            out.tod[i], out.base[i] = t, _base(4, talker, -1, -1, 0)
            ok = state_len == 1 and state == 65 and mode != 78
            out.lat[i], out.lon[i] = la, lo
            out.valid[i] = ok and not (math.isnan(la) or math.isnan(lo))
            out.quality[i] = tab.mode_quality[mode]
        elif found == 5:  # GSA: 24-channel layouts are left to the reference
            bad = fields not in (GSA.minimum, GSA.system + 1)
            fix, fix_len = char(a, bounds, fields, GSA.fix_type)
            for k in range(GSA.sats + 1):
                # the satellites, then the system id
                j = GSA.first_sat + k if k < GSA.sats else GSA.system
                numbers[k], wrong = integer(a, bounds, fields, j, 3)
                bad = bad or (wrong and (k < GSA.sats or fields == GSA.system + 1))
            system = numbers[GSA.sats] if fields == GSA.system + 1 else -1
            p, p_bad = dop(a, bounds, fields, GSA.pdop, tab.pow10)
            h, h_bad = dop(a, bounds, fields, GSA.hdop, tab.pow10)
            v, v_bad = dop(a, bounds, fields, GSA.vdop, tab.pow10)
            bad = bad or p_bad or h_bad or v_bad
            out.base[i] = _base(5, talker, system, -1, 0)
            out.fix_type[i] = fix - 48 if fix_len == 1 and 49 <= fix <= 51 else 0
            out.pdop[i], out.hdop[i], out.vdop[i] = p, h, v
            if not bad:
                hint = _hint(talker, system, tab.talker_hint)
                for k in range(GSA.sats):
                    if numbers[k] >= 0 and tab.sat_table[hint, numbers[k]] >= 0:
                        used[0, n_used], used[1, n_used] = i, tab.sat_table[hint, numbers[k]]
                        n_used += 1
        elif found == 6:  # GSV: pages, page, up to four satellites, signal and system ids
            extra = (fields - GSV.first_sat) % GSV.per_sat
            groups = (fields - GSV.first_sat - extra) // GSV.per_sat
            bad = extra == 3 or groups > 4
            signal_char, signal_len = char(a, bounds, fields, fields - extra)
            signal = tab.hex_value[signal_char] if signal_len == 1 else -1
            if extra > 0:
                bad = bad or signal_len > 1 or (signal_len == 1 and signal < 0)
            else:
                signal = -1
            for k in range(7):
                # pages, page, four satellite numbers, the system id
                j = fields - 1
                if k < 2:
                    j = (GSV.pages, GSV.page)[k]
                elif k < 6:
                    j = GSV.first_sat + (k - 2) * GSV.per_sat
                numbers[k], wrong = integer(a, bounds, fields, j, 3)
                if k < 2 or (k == 6 and extra == 2) or (2 <= k < 6 and k - 2 < groups):
                    bad = bad or wrong
            system = numbers[6] if extra == 2 else -1
            bad = bad or numbers[0] < 0 or numbers[1] < 0
            out.base[i] = _base(6, talker, system, signal, numbers[1])
            if not bad:
                hint = _hint(talker, system, tab.talker_hint)
                for k in range(2, 2 + groups):
                    if numbers[k] >= 0 and tab.sat_table[hint, numbers[k]] >= 0:
                        view[0, n_view], view[1, n_view] = i, tab.sat_table[hint, numbers[k]]
                        n_view += 1
        elif found == 7:  # VTG
            heading, bad = decimal(a, bounds, fields, VTG.course, tab.pow10)
            knots, k_bad = decimal(a, bounds, fields, VTG.speed_knots, tab.pow10)
            kmh, h_bad = decimal(a, bounds, fields, VTG.speed_kmh, tab.pow10)
            mode, _ = char(a, bounds, fields, VTG.mode)
            bad = bad or k_bad or h_bad
            out.tod[i], out.base[i] = -1, _base(7, talker, -1, -1, 0)
            out.course[i] = heading
            out.speed[i] = kmh / 3.6 if math.isnan(knots) else knots * KNOT_MPS
            out.motion_ok[i] = mode != 78
        elif found == 8:  # ZDA
            t, bad = time_of_day(a, bounds, fields, ZDA.time)
            day, d_bad = integer(a, bounds, fields, ZDA.day, 9)
            month, m_bad = integer(a, bounds, fields, ZDA.month, 9)
            year, y_bad = integer(a, bounds, fields, ZDA.year, 9)
            dated = day >= 0 and month >= 0 and year >= 0
            bad = bad or d_bad or m_bad or y_bad
            bad = bad or (dated and calendar_bad(year, month, day, tab.days))
            out.tod[i], out.base[i] = t, _base(8, talker, -1, -1, 0)
            out.date[i] = year * 10000 + month * 100 + day if dated else 0
        else:  # GST
            t, bad = time_of_day(a, bounds, fields, GST.time)
            out.tod[i], out.base[i] = t, _base(9, talker, -1, -1, 0)
            for k in range(3):
                out.sigma[i, k], wrong = decimal(a, bounds, fields, GST.sigmas + k, tab.pow10)
                bad = bad or wrong
        if not bad:
            out.status[i] = DECODED
    return n_used, n_view
