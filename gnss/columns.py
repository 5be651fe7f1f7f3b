"""Column-wise versions of :mod:`gnss.fields`: many fields converted at once with numpy.

Each function takes the byte buffer and the fields' ``start``/``end`` offsets and returns the
values together with a ``bad`` mask. ``bad`` marks fields that are malformed *or* merely outside
what the columns handle (wider than :data:`WIDTH`, more than 15 significant digits…): such lines
are handed to the reference parser, which has the last word. For every field not marked bad the
value is bit-for-bit the one :mod:`gnss.fields` gives: decimals are ``mantissa / 10**k``, which
IEEE division rounds exactly as ``float(text)`` does while the mantissa stays below 2**53.

>>> import numpy as np
>>> buf = np.frombuffer(b"-30.40,4552.65403,003956.25,x", np.uint8)
>>> decimal(buf, np.array([0]), np.array([6]))
(array([-30.4]), array([False]))
>>> bool(angle(buf, np.array([7]), np.array([17]), 90)[0][0] == 45 + 52.65403 / 60)
True
>>> time_of_day(buf, np.array([18]), np.array([27]))
(array([2396250000]), array([False]))
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "WIDTH",
    "angle",
    "ddmmyy",
    "decimal",
    "gather",
    "integer",
    "small_int",
    "time_of_day",
]

Bytes = npt.NDArray[np.uint8]
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

WIDTH = 16  # widest field the columns read
_COLS = np.arange(WIDTH, dtype=np.int64)
_POW10_INT = 10 ** np.arange(19, dtype=np.int64)
_POW10 = 10.0 ** np.arange(23)
_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def gather(
    buf: Bytes, start: Ints, end: Ints, width: int = WIDTH, least: int = 1
) -> tuple[Bytes, Ints, Mask, Mask, Ints]:
    """The fields as a matrix of bytes, zeros past each end: as wide as the longest field (at
    least ``least``, at most ``width`` columns). Also their lengths, which fit in ``width``,
    which cells are inside their field, and the column numbers."""
    length = end - start
    longest = int(length.max()) if len(length) else 0
    cols = _COLS[: max(least, min(width, longest))]
    inside = length[:, None] > cols
    index = np.minimum(start[:, None] + cols, len(buf) - 1)
    return np.where(inside, buf[index], 0).astype(np.uint8), length, length <= width, inside, cols


def _value(digits: Ints, counted: Mask, right: Ints) -> Ints:
    """Each row's counted digits as one integer; ``right``: counted digits right of each cell."""
    weights = _POW10_INT[np.clip(right, 0, 18)]
    return np.asarray(np.where(counted, digits * weights, 0).sum(axis=1), dtype=np.int64)


def decimal(buf: Bytes, start: Ints, end: Ints) -> tuple[Floats, Mask]:
    """``[+-]?(\\d+\\.?\\d*|\\.\\d+)`` as float; NaN where empty."""
    m, length, fits, inside, cols = gather(buf, start, end)
    signed = (m[:, 0] == 45) | (m[:, 0] == 43)
    body = inside & (signed[:, None] <= cols)
    is_digit = (m >= 48) & (m <= 57) & body
    is_dot = (m == 46) & body
    n_digits = is_digit.sum(axis=1)
    n_dots = is_dot.sum(axis=1)
    bad = (body & ~is_digit & ~is_dot).any(axis=1) | (n_dots > 1)
    bad |= (n_digits == 0) | (n_digits > 15) | ~fits
    dot_at = np.where(n_dots > 0, is_dot.argmax(axis=1), length)
    scale = np.maximum(length - 1 - dot_at, 0)
    right = (length - 1)[:, None] - cols - (dot_at[:, None] > cols) * (n_dots > 0)[:, None]
    value = _value(m.astype(np.int64) - 48, is_digit, right) / _POW10[np.minimum(scale, 22)]
    value = np.where(m[:, 0] == 45, -value, value)
    empty = length == 0
    return np.where(empty, np.nan, value), bad & ~empty


def integer(buf: Bytes, start: Ints, end: Ints) -> tuple[Ints, Mask]:
    """``\\d+`` as int; -1 where empty."""
    m, length, _, inside, cols = gather(buf, start, end, 10)
    is_digit = (m >= 48) & (m <= 57) & inside
    bad = (inside & ~is_digit).any(axis=1) | (length > 9)
    right = (length - 1)[:, None] - cols
    value = _value(m.astype(np.int64) - 48, is_digit, right)
    empty = length == 0
    return np.where(empty, -1, value), bad & ~empty


def small_int(buf: Bytes, start: Ints, end: Ints) -> tuple[Ints, Mask]:
    """:func:`integer` for fields of at most three digits (satellite numbers, counts, pages);
    longer ones are marked bad for the reference to read."""
    length = end - start
    value = np.zeros(len(start), dtype=np.int16)  # at most 999: small types, less to move
    bad = length > 3
    top = len(buf) - 1
    for k in range(3):
        digit = buf[np.minimum(start + k, top)] - np.uint8(48)  # non-digits wrap past 9
        here = length > k
        bad |= here & (digit > 9)
        value = np.where(here, value * 10 + digit, value)
    empty = length == 0
    return np.where(empty, -1, value).astype(np.int64), bad & ~empty


def angle(buf: Bytes, start: Ints, end: Ints, limit: int) -> tuple[Floats, Mask]:
    """``-?d…dmm[.m…]`` as unsigned degrees (the caller applies the sign and hemisphere);
    NaN where empty."""
    m, length, fits, inside, cols = gather(buf, start, end)
    minus = m[:, 0] == 45
    inside &= minus[:, None] <= cols
    is_digit = (m >= 48) & (m <= 57) & inside
    is_dot = (m == 46) & inside
    n_dots = is_dot.sum(axis=1)
    dot_at = np.where(n_dots > 0, is_dot.argmax(axis=1), length)
    n_whole = dot_at - minus
    bad = (inside & ~is_digit & ~is_dot).any(axis=1) | (n_dots > 1)
    bad |= (n_whole < 3) | ~fits | (length - 1 - dot_at + 2 > 15)
    digits = m.astype(np.int64) - 48
    degree_digits = is_digit & ((dot_at - 2)[:, None] > cols)
    degrees = _value(digits, degree_digits, (dot_at - 3)[:, None] - cols)
    scale = np.maximum(length - 1 - dot_at, 0)
    right = (length - 1)[:, None] - cols - (dot_at[:, None] > cols) * (n_dots > 0)[:, None]
    minute_digits = is_digit & ((dot_at - 2)[:, None] <= cols)
    minutes = _value(digits, minute_digits, right) / _POW10[np.minimum(scale, 22)]
    value = degrees + minutes / 60.0
    bad |= (minutes >= 60.0) | (value > limit)
    empty = length == 0
    return np.where(empty, np.nan, value), bad & ~empty


def time_of_day(buf: Bytes, start: Ints, end: Ints) -> tuple[Ints, Mask]:
    """``hhmmss[.s…]`` as microseconds since midnight; -1 where empty."""
    m, length, fits, inside, cols = gather(buf, start, end, least=7)
    digits = m.astype(np.int64) - 48
    is_digit = (m >= 48) & (m <= 57) & inside
    fraction = inside & (cols > 6)
    bad = ~is_digit[:, :6].all(axis=1) | ~fits
    bad |= (length > 6) & (m[:, 6] != 46)
    bad |= (fraction & ~is_digit).any(axis=1)
    hours = digits[:, 0] * 10 + digits[:, 1]
    minutes = digits[:, 2] * 10 + digits[:, 3]
    seconds = digits[:, 4] * 10 + digits[:, 5]
    bad |= (hours > 23) | (minutes > 59) | (seconds > 59)
    # Digits past the sixth of the fraction are dropped, as in gnss.fields.time_of_day.
    micro_digits = fraction & (cols <= 12)
    micros = (np.where(micro_digits, digits, 0) * _POW10_INT[np.maximum(12 - cols, 0)]).sum(axis=1)
    value = ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + micros
    empty = length == 0
    return np.where(empty | bad, -1, value), bad & ~empty


def calendar_bad(year: Ints, month: Ints, day: Ints) -> Mask:
    """Which (year, month, day) are not dates (years outside 1000–9999 count as not handled)."""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    days = _DAYS[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    bad = ~month_ok | (day < 1) | (day > days) | (year < 1000) | (year > 9999)
    return np.asarray(bad, dtype=bool)


def ddmmyy(buf: Bytes, start: Ints, end: Ints) -> tuple[Ints, Mask]:
    """RMC's date as ``yyyymmdd``; 0 where empty."""
    m, length, _, _, _ = gather(buf, start, end, 6, least=6)
    digits = m[:, :6].astype(np.int64) - 48
    bad = (length != 6) | ~((m[:, :6] >= 48) & (m[:, :6] <= 57)).all(axis=1)
    day = digits[:, 0] * 10 + digits[:, 1]
    month = digits[:, 2] * 10 + digits[:, 3]
    year = digits[:, 4] * 10 + digits[:, 5]
    year += np.where(year >= 80, 1900, 2000)
    bad |= calendar_bad(year, month, day)
    empty = length == 0
    return np.where(empty | bad, 0, year * 10000 + month * 100 + day), bad & ~empty
