"""Column-wise readers for each sentence type the fast path decodes, as the reference reads them.

Each reader takes the framed lines of its type (as :class:`~gnss.fastlines.Spans`), writes their
values into :class:`~gnss.fastlines.Lines` and returns which lines it read exactly; the others
are declined to the reference parser (:mod:`gnss.nmea`, whose handlers these mirror).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gnss import columns as col
from gnss.fastlines import HEX, Lines, Spans
from gnss.fields import TALKER_SYSTEMS, satellite_for
from gnss.model import Constellation
from gnss.sentences import KNOT_MPS, quality_from_mode_indicator

__all__ = ["DECODERS", "SAT_STRIDE"]

Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

_SYSTEMS = {system: i for i, system in enumerate(Constellation)}
SAT_STRIDE = 160  # satellite code: system index * SAT_STRIDE + number (SBAS goes to 158)


def _satellite_table() -> Ints:
    table = np.full((7, 1000), -1, dtype=np.int64)
    for hint in range(7):
        for number in range(1000):
            sat = satellite_for(hint or None, number)
            if sat is not None:
                table[hint, number] = _SYSTEMS[sat[0]] * SAT_STRIDE + sat[1]
    return table


_SAT_TABLE = _satellite_table()
_QUALITY = np.full(256, 1, dtype=np.int64)  # FAA mode indicator → GGA-style quality
for _c in range(256):
    _QUALITY[_c] = int(quality_from_mode_indicator(chr(_c)))
_QUALITY[0] = int(quality_from_mode_indicator(""))
_TALKER_HINT = np.zeros(1 << 16, dtype=np.int64)
for _talker, _hint in TALKER_SYSTEMS.items():
    _TALKER_HINT[ord(_talker[0]) << 8 | ord(_talker[1])] = _hint


def _hints(talker: Ints, system: Ints) -> Ints:
    return np.where((system >= 1) & (system <= 6), system, _TALKER_HINT[talker])


def _base(kind: int, talker: Ints, system: Ints, signal: Ints, page: Ints) -> Ints:
    """:func:`gnss.epoch.base_code`, column-wise (-1 means absent)."""
    sys_part = np.where(system < 0, 0, np.minimum(system, 14) + 1)
    sig_part = np.where(signal < 0, 0, np.minimum(signal, 30) + 1)
    return kind | talker << 4 | sys_part << 20 | sig_part << 24 | np.minimum(page, 255) << 29


def _sats(
    rows: Ints, numbers: Ints, wrong: Mask, hints: Ints, present: Mask
) -> tuple[Ints, Ints, Mask]:
    """Satellite codes of a (rows × fields) matrix of numbers (bad: a malformed number)."""
    bad: Mask = np.asarray((wrong & present).any(axis=1), dtype=bool)
    code = _SAT_TABLE[hints[:, None], np.clip(numbers, 0, 999)]
    take = present & (numbers >= 0) & (code >= 0) & ~bad[:, None]
    return np.broadcast_to(rows[:, None], take.shape)[take], code[take], bad


def _common(lines: Lines, rows: Ints, kind: int, talker: Ints, tod: Ints) -> None:
    lines.tod[rows] = tod
    minus = np.full(len(rows), -1, dtype=np.int64)
    lines.base[rows] = _base(kind, talker, minus, minus, np.zeros(len(rows), np.int64))


def _fix_data(lines: Lines, sp: Spans, rows: Ints, kind: int, talker: Ints) -> Mask:
    """GGA and GNS alike: time, position, satellites used, HDOP, altitude (fields 0–8)."""
    tod, bad = sp.time(0)
    lat, lon, wrong = sp.position(1)
    sats, s_bad = sp.small(6)
    hdop, h_bad = sp.dop(7)
    alt, a_bad = sp.decimal(8)
    _common(lines, rows, kind, talker, tod)
    lines.lat[rows], lines.lon[rows], lines.alt[rows] = lat, lon, alt
    lines.sats[rows], lines.hdop[rows] = sats, hdop
    return np.asarray(bad | wrong | s_bad | h_bad | a_bad, dtype=bool)


def _gga(lines: Lines, sp: Spans, rows: Ints, talker: Ints) -> Mask:
    bad = _fix_data(lines, sp, rows, 1, talker)
    quality, q_bad = sp.small(5)
    lines.valid[rows] = (quality > 0) & ~np.isnan(lines.lat[rows]) & ~np.isnan(lines.lon[rows])
    lines.quality[rows] = quality
    return np.asarray(~(bad | q_bad | (quality > 8)), dtype=bool)


def _rmc(lines: Lines, sp: Spans, rows: Ints, talker: Ints) -> Mask:
    tod, bad = sp.time(0)
    status, status_len = sp.char(1)
    lat, lon, wrong = sp.position(2)
    knots, k_bad = sp.decimal(6)
    course, c_bad = sp.decimal(7)
    date, d_bad = col.ddmmyy(sp.a, *sp.bounds(8))
    mode, _ = sp.char(11)
    bad |= wrong | k_bad | c_bad | d_bad
    _common(lines, rows, 2, talker, tod)
    valid = (status_len == 1) & ((status == 65) | (status == 68)) & (mode != 78)
    valid &= ~np.isnan(lat) & ~np.isnan(lon)
    lines.lat[rows], lines.lon[rows], lines.valid[rows] = lat, lon, valid
    lines.quality[rows], lines.date[rows] = _QUALITY[mode], date
    lines.speed[rows], lines.course[rows] = knots * KNOT_MPS, course
    lines.motion_ok[rows] = valid
    return ~bad


def _gns(lines: Lines, sp: Spans, rows: Ints, talker: Ints) -> Mask:
    bad = _fix_data(lines, sp, rows, 3, talker)
    mode, _ = sp.char(5)
    placed = ~np.isnan(lines.lat[rows]) & ~np.isnan(lines.lon[rows])
    lines.valid[rows] = (mode != 0) & (mode != 78) & placed
    lines.quality[rows] = _QUALITY[mode]
    return np.asarray(~bad, dtype=bool)


def _gll(lines: Lines, sp: Spans, rows: Ints, talker: Ints) -> Mask:
    lat, lon, bad = sp.position(0)
    tod, t_bad = sp.time(4)
    status, status_len = sp.char(5)
    mode, _ = sp.char(6)
    _common(lines, rows, 4, talker, tod)
    valid = (status_len == 1) & (status == 65) & (mode != 78) & ~np.isnan(lat) & ~np.isnan(lon)
    lines.lat[rows], lines.lon[rows], lines.valid[rows] = lat, lon, valid
    lines.quality[rows] = _QUALITY[mode]
    return ~(bad | t_bad)


def _gsa(lines: Lines, sp: Spans, rows: Ints, talker: Ints) -> Mask:
    bad = (sp.fields != 17) & (sp.fields != 18)  # 24-channel layouts: the reference reads them
    fix, fix_len = sp.char(1)
    numbers, wrong = sp.integers([*range(2, 14), 17])
    tagged = sp.fields == 18
    system = np.where(tagged, numbers[:, 12], -1)
    bad |= wrong[:, 12] & tagged
    dops, dop_bad = sp.dops([14, 15, 16])
    bad |= dop_bad.any(axis=1)
    always = np.ones((len(rows), 12), dtype=bool)
    line, code, wrong = _sats(rows, numbers[:, :12], wrong[:, :12], _hints(talker, system), always)
    bad |= wrong
    keep = ~bad[np.searchsorted(rows, line)]
    _append_sats(lines, "used", line[keep], code[keep])
    zeros = np.zeros(len(rows), np.int64)
    lines.base[rows] = _base(5, talker, system, zeros - 1, zeros)
    known = (fix_len == 1) & (fix >= 49) & (fix <= 51)  # anything but 1–3 means nothing
    lines.fix_type[rows] = np.where(known, fix - 48, 0)
    lines.pdop[rows], lines.hdop[rows], lines.vdop[rows] = dops[:, 0], dops[:, 1], dops[:, 2]
    return np.asarray(~bad, dtype=bool)


def _append_sats(lines: Lines, which: str, line: Ints, code: Ints) -> None:
    """Adds satellites to ``lines.<which>_line`` and ``lines.<which>_code``."""
    setattr(lines, f"{which}_line", np.concatenate((getattr(lines, f"{which}_line"), line)))
    setattr(lines, f"{which}_code", np.concatenate((getattr(lines, f"{which}_code"), code)))


def _gsv(lines: Lines, sp: Spans, rows: Ints, talker: Ints) -> Mask:
    extra = (sp.fields - 3) % 4
    groups = (sp.fields - 3 - extra) // 4
    bad = (extra == 3) | (groups > 4)
    signal_char, signal_len = sp.char(sp.fields - extra)
    signal = np.where(signal_len == 1, HEX[signal_char], -1)
    bad |= (extra > 0) & ((signal_len > 1) | ((signal_len == 1) & (signal < 0)))
    signal = np.where(extra > 0, signal, -1)
    wanted = np.empty((len(rows), 7), dtype=np.int64)
    wanted[:] = [0, 1, 3, 7, 11, 15, 0]  # pages, page, four satellites, the system id
    wanted[:, 6] = sp.fields - 1
    numbers, wrong = sp.integers(wanted)
    system = np.where(extra == 2, numbers[:, 6], -1)
    bad |= wrong[:, 6] & (extra == 2)
    pages, page = numbers[:, 0], numbers[:, 1]
    bad |= wrong[:, 0] | wrong[:, 1] | (pages < 0) | (page < 0)
    present = np.arange(4)[None, :] < groups[:, None]
    hints = _hints(talker, system)
    line, code, wrong = _sats(rows, numbers[:, 2:6], wrong[:, 2:6], hints, present)
    bad |= wrong
    keep = ~bad[np.searchsorted(rows, line)]
    _append_sats(lines, "view", line[keep], code[keep])
    lines.base[rows] = _base(6, talker, system, signal, page)
    return np.asarray(~bad, dtype=bool)


def _vtg(lines: Lines, sp: Spans, rows: Ints, talker: Ints) -> Mask:
    course, bad = sp.decimal(0)
    knots, k_bad = sp.decimal(4)
    kmh, h_bad = sp.decimal(6)
    mode, _ = sp.char(8)
    _common(lines, rows, 7, talker, np.full(len(rows), -1, np.int64))
    lines.course[rows] = course
    lines.speed[rows] = np.where(np.isnan(knots), kmh / 3.6, knots * KNOT_MPS)
    lines.motion_ok[rows] = mode != 78
    return ~(bad | k_bad | h_bad)


def _zda(lines: Lines, sp: Spans, rows: Ints, talker: Ints) -> Mask:
    tod, bad = sp.time(0)
    day, d_bad = sp.integer(1)
    month, m_bad = sp.integer(2)
    year, y_bad = sp.integer(3)
    dated = (day >= 0) & (month >= 0) & (year >= 0)
    bad |= d_bad | m_bad | y_bad | (dated & col.calendar_bad(year, month, day))
    _common(lines, rows, 8, talker, tod)
    lines.date[rows] = np.where(dated, year * 10000 + month * 100 + day, 0)
    return ~bad


def _gst(lines: Lines, sp: Spans, rows: Ints, talker: Ints) -> Mask:
    tod, bad = sp.time(0)
    _common(lines, rows, 9, talker, tod)
    for i, j in enumerate((5, 6, 7)):
        value, wrong = sp.decimal(j)
        lines.sigma[rows, i] = value
        bad |= wrong
    return ~bad


DECODERS = {1: _gga, 2: _rmc, 3: _gns, 4: _gll, 5: _gsa, 6: _gsv, 7: _vtg, 8: _zda, 9: _gst}
