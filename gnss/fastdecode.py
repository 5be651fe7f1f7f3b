"""Columnar decode of a buffer of NMEA lines: framing, checksum and fields, all lines at once.

:func:`decode_lines` classifies every line of a buffer (which ends in a newline) as a decoded
epoch sentence (GGA, RMC, GNS, GLL, GSA, GSV, VTG, ZDA, GST, with its fields in columns), an
accepted TXT, a rejection whose reason is certain (empty, comment, checksum, unknown type), or
*declined*: anything the columns do not handle exactly — binary, ``$$``, glued sentences, short
or malformed fields, unusual layouts. Declined lines go to the reference parser, which decides.
Values are the reference's bit for bit (:mod:`gnss.columns`).

>>> lines = decode_lines(b"$GPZDA,120000,01,05,2026,,*49\\n$GPZDA,1*00\\n#c\\n")
>>> lines.status.tolist(), int(lines.tod[0]), int(lines.date[0])
([0, 2, 2], 43200000000, 20260501)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gnss.epoch import KIND_INDEX
from gnss.fastkinds import DECODERS, SAT_STRIDE
from gnss.fastlines import HEX, Lines, Spans
from gnss.nmea import MAX_SENTENCE, MIN_FIELDS
from gnss.sentences import Reason

__all__ = [
    "DECLINED",
    "DECODED",
    "NEUTRAL",
    "REASONS",
    "REJECTED",
    "SAT_STRIDE",
    "Lines",
    "decode_lines",
]

Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

DECODED, NEUTRAL, REJECTED, DECLINED = 0, 1, 2, 3
REASONS = tuple(Reason)
_REASON = {reason: i for i, reason in enumerate(REASONS)}

_UPPER = np.arange(256, dtype=np.int64)
_UPPER[97:123] -= 32
_TAG_CHAR = np.zeros(256, dtype=bool)
_TAG_CHAR[48:58] = _TAG_CHAR[65:91] = True
_KINDS = sorted((ord(k[0]) << 16 | ord(k[1]) << 8 | ord(k[2]), i) for k, i in KIND_INDEX.items())
_KIND_CODES = np.array([code for code, _ in _KINDS], dtype=np.int64)
_KIND_VALUES = np.array([i for _, i in _KINDS], dtype=np.int64)
_MIN_FIELDS = np.zeros(len(KIND_INDEX) + 1, dtype=np.int64)
for _k, _i in KIND_INDEX.items():
    _MIN_FIELDS[_i] = MIN_FIELDS[_k]
_TXT_CODE = ord("T") << 16 | ord("X") << 8 | ord("T")


def decode_lines(buf: bytes) -> Lines:
    """Every line of ``buf`` (which must end with a newline)."""
    a = np.frombuffer(buf, dtype=np.uint8)
    newline = np.flatnonzero(a == 10)
    start = np.concatenate(([0], newline[:-1] + 1)).astype(np.int64)
    end = newline.astype(np.int64)
    end -= (end > start) & (a[np.maximum(end - 1, 0)] == 13)
    n = len(start)
    length = end - start
    first = a[np.minimum(start, len(a) - 1)]
    status = np.full(n, DECLINED, dtype=np.int64)
    reason = np.zeros(n, dtype=np.int64)
    _reject(status, reason, length == 0, Reason.EMPTY)
    _reject(status, reason, (length > 0) & (first == 35), Reason.COMMENT)

    # Framed: `$` + printable text + `*hh`, no second `$` or `*`.
    frame = (length >= 10) & (length <= MAX_SENTENCE) & (first == 36)
    star = np.where(frame, end - 3, 0)
    frame &= a[np.minimum(start + 1, len(a) - 1)] != 36
    top = len(a) - 1
    high, low = HEX[a[np.minimum(star + 1, top)]], HEX[a[np.minimum(star + 2, top)]]
    frame &= (a[star] == 42) & (high >= 0) & (low >= 0)
    # Count `$`, `*` and unprintable bytes per line (line ends included: expect them too);
    # uint8 sums cannot wrap for the lines that matter, which are at most MAX_SENTENCE long.
    odd = ((a < 32) | (a > 126) | (a == 36) | (a == 42)).view(np.uint8)
    following = np.append(start[1:], len(a))
    frame &= np.add.reduceat(odd, start, dtype=np.uint8) == 2 + following - end
    f = np.flatnonzero(frame)
    checks = np.empty(2 * len(f), dtype=np.int64)
    checks[0::2], checks[1::2] = start[f] + 1, star[f]
    xor = np.bitwise_xor.reduceat(a, checks)[0::2] if len(f) else np.zeros(0, np.uint8)
    summed = high[f] * 16 + low[f]
    _reject(status, reason, _scatter(n, f[xor != summed]), Reason.CHECKSUM)
    f = f[xor == summed]

    # Every `,` and `*`: in a framed line the only `*` is its checksum's, the last delimiter.
    delims = np.append(np.flatnonzero((a == 44) | (a == 42)), len(a))
    first_delim = np.searchsorted(delims, start[f])
    tag_end = delims[first_delim]
    fields = np.searchsorted(delims, star[f]) - first_delim
    s = start[f]
    kind3 = _UPPER[a[s + 3]] << 16 | _UPPER[a[s + 4]] << 8 | _UPPER[a[s + 5]]
    at = np.minimum(np.searchsorted(_KIND_CODES, kind3), len(_KIND_CODES) - 1)
    kind = np.where(_KIND_CODES[at] == kind3, _KIND_VALUES[at], 0)
    is_txt = kind3 == _TXT_CODE
    unknown = (tag_end - s != 6) | ((kind == 0) & ~is_txt)
    _reject(status, reason, _scatter(n, f[unknown]), Reason.UNKNOWN_TYPE)
    tag_ok = _TAG_CHAR[a[s + 1]] & _TAG_CHAR[a[s + 2]] & _TAG_CHAR[a[s + 3]]
    tag_ok &= _TAG_CHAR[a[s + 4]] & _TAG_CHAR[a[s + 5]]
    tag_ok &= (a[s + 1] != 80) | (a[s + 2] == 81)  # P… is proprietary, except Quectel's PQ
    keep = ~unknown & tag_ok
    status[f[keep & is_txt & (fields >= 4)]] = NEUTRAL
    go = keep & (kind > 0) & (fields >= _MIN_FIELDS[kind])
    lines = Lines.blank(buf, start, end, status, reason)
    talker = a[s + 1].astype(np.int64) << 8 | a[s + 2]
    spans = Spans(a, delims, first_delim, fields, star[f])
    for code, decode in DECODERS.items():
        rows = np.flatnonzero(go & (kind == code))
        if len(rows):
            ok = decode(lines, spans.subset(rows), f[rows], talker[rows])
            lines.status[f[rows[ok]]] = DECODED
            lines.kind[f[rows]] = code
    return lines


def _reject(status: Ints, reason: Ints, where: Mask, why: Reason) -> None:
    hit = where & (status == DECLINED)
    status[hit] = REJECTED
    reason[hit] = _REASON[why]


def _scatter(n: int, rows: Ints) -> Mask:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return mask
