"""Compiled readers of the fields of a framed NMEA line, for :mod:`gnss.nmea.scan`.

Each reads data field ``j`` of a line whose delimiters (its commas, then its ``*``) are at
``bounds[0..fields]``, exactly as :mod:`gnss.nmea.fields` reads it, and returns the value (NaN, -1
or 0 where the field is empty) with a flag that is True when the field is malformed *or* merely
outside what these readers handle (wider than :data:`WIDTH`, more than 15 significant digits…): such
lines are left to the reference parser, which has the last word. A decimal is its digits as an
integer divided by a power of ten, which IEEE division rounds exactly as ``float(text)`` does while
the integer stays below 2**53.

>>> import numpy as np
>>> a = np.frombuffer(b"-30.40,4552.65403,003956.25*", np.uint8)
>>> bounds = np.array([-1, 6, 17, 27])  # field j runs from bounds[j] + 1 to bounds[j + 1]
>>> decimal(a, bounds, 3, 0, 10.0 ** np.arange(23)), time_of_day(a, bounds, 3, 2)
((-30.4, False), (2396250000, False))
>>> integer(a, bounds, 3, 0, 3)  # not digits alone: left to the reference
(-1, True)
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from gnss.jit import compiled

__all__ = [
    "WIDTH",
    "angle",
    "calendar_bad",
    "char",
    "ddmmyy",
    "decimal",
    "dop",
    "field",
    "integer",
    "position",
    "time_of_day",
]

Ints = npt.NDArray[np.int64]
Bytes = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float64]

WIDTH = 16  # widest decimal, angle or time field read here


@compiled
def decimal(a: Bytes, bounds: Ints, fields: int, j: int, pow10: Floats) -> tuple[float, bool]:
    """Field j, ``[+-]?(\\d+\\.?\\d*|\\.\\d+)``, as float (NaN where empty); True: not read here."""
    s, e = field(bounds, fields, j)
    n = e - s
    if n == 0:
        return math.nan, False
    if n > WIDTH:
        return math.nan, True
    first = a[s]
    k = s + 1 if first in (45, 43) else s
    mantissa, digits, dots, dot_at = 0, 0, 0, n
    while k < e:
        c = int(a[k])
        if 48 <= c <= 57:
            mantissa = mantissa * 10 + c - 48
            digits += 1
        elif c == 46:
            if dots == 0:
                dot_at = k - s
            dots += 1
        else:
            return math.nan, True
        k += 1
    if dots > 1 or digits == 0 or digits > 15:
        return math.nan, True
    value = mantissa / pow10[max(n - 1 - dot_at, 0)]
    return (-value if first == 45 else value), False


@compiled
def dop(a: Bytes, bounds: Ints, fields: int, j: int, pow10: Floats) -> tuple[float, bool]:
    """A dilution of precision: 99.x is the receivers' "unknown"."""
    value, bad = decimal(a, bounds, fields, j, pow10)
    return (math.nan if value >= 99.0 else value), bad


@compiled
def integer(a: Bytes, bounds: Ints, fields: int, j: int, widest: int) -> tuple[int, bool]:
    """Field j, ``\\d+`` of at most ``widest`` digits, as int (-1 where empty)."""
    s, e = field(bounds, fields, j)
    if e == s:
        return -1, False
    if e - s > widest:
        return -1, True
    value = 0
    for k in range(s, e):
        c = int(a[k]) - 48
        if c < 0 or c > 9:
            return -1, True
        value = value * 10 + c
    return value, False


@compiled
def angle(a: Bytes, s: int, e: int, limit: int, pow10: Floats) -> tuple[float, bool]:
    """``-?d…dmm[.m…]`` as unsigned degrees (the caller applies sign and hemisphere)."""
    n = e - s
    if n == 0:
        return math.nan, False
    if n > WIDTH:
        return math.nan, True
    minus = 1 if a[s] == 45 else 0
    dots, dot_at = 0, n
    for k in range(s + minus, e):
        c = a[k]
        if c == 46:
            if dots == 0:
                dot_at = k - s
            dots += 1
        elif c < 48 or c > 57:
            return math.nan, True
    if dots > 1 or dot_at - minus < 3 or n + 1 - dot_at > 15:
        return math.nan, True
    degrees, minutes = 0, 0
    for k in range(s + minus, e):
        c = int(a[k])
        if c == 46:
            continue
        if k - s < dot_at - 2:
            degrees = degrees * 10 + c - 48
        else:
            minutes = minutes * 10 + c - 48
    fraction = minutes / pow10[max(n - 1 - dot_at, 0)]
    value = degrees + fraction / 60.0
    if fraction >= 60.0 or value > limit:
        return math.nan, True
    return value, False


@compiled
def time_of_day(a: Bytes, bounds: Ints, fields: int, j: int) -> tuple[int, bool]:
    """Field j, ``hhmmss[.s…]``, as microseconds since midnight (-1: empty or not read here)."""
    s, e = field(bounds, fields, j)
    n = e - s
    if n == 0:
        return -1, False
    if n < 6 or n > WIDTH or (n > 6 and a[s + 6] != 46):
        return -1, True
    for k in range(s, e):
        if k != s + 6 and (a[k] < 48 or a[k] > 57):
            return -1, True
    hours = (int(a[s]) - 48) * 10 + int(a[s + 1]) - 48
    minutes = (int(a[s + 2]) - 48) * 10 + int(a[s + 3]) - 48
    seconds = (int(a[s + 4]) - 48) * 10 + int(a[s + 5]) - 48
    if hours > 23 or minutes > 59 or seconds > 59:
        return -1, True
    micros = 0
    for k in range(s + 7, s + 13):  # digits past the sixth are dropped, as gnss.nmea.fields does
        micros = micros * 10 + (int(a[k]) - 48 if k < e else 0)
    return ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + micros, False


@compiled
def calendar_bad(year: int, month: int, day: int, days: Ints) -> bool:
    """Not a date (years outside 1000–9999 count as not read here)."""
    if month < 1 or month > 12 or year < 1000 or year > 9999:
        return True
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return day < 1 or day > days[month] + (1 if month == 2 and leap else 0)


@compiled
def ddmmyy(a: Bytes, bounds: Ints, fields: int, j: int, days: Ints) -> tuple[int, bool]:
    """RMC's date, field j, as ``yyyymmdd`` (0 where empty or not read here)."""
    s, e = field(bounds, fields, j)
    if e == s:
        return 0, False
    if e - s != 6:
        return 0, True
    for k in range(s, e):
        if a[k] < 48 or a[k] > 57:
            return 0, True
    day = (int(a[s]) - 48) * 10 + int(a[s + 1]) - 48
    month = (int(a[s + 2]) - 48) * 10 + int(a[s + 3]) - 48
    year = (int(a[s + 4]) - 48) * 10 + int(a[s + 5]) - 48
    year += 1900 if year >= 80 else 2000
    if calendar_bad(year, month, day, days):
        return 0, True
    return year * 10000 + month * 100 + day, False


@compiled
def position(
    a: Bytes, bounds: Ints, fields: int, j: int, pow10: Floats
) -> tuple[float, float, bool]:
    """Latitude and longitude from fields j…j+3; NaN unless value and hemisphere are there."""
    lat, lon, bad = math.nan, math.nan, False
    for offset in (0, 2):
        s, e = field(bounds, fields, j + offset)
        hs, he = field(bounds, fields, j + offset + 1)
        if e == s or he == hs:
            continue  # absent: a position needs both the value and its hemisphere
        limit, negative, positive = (90, 83, 78) if offset == 0 else (180, 87, 69)
        value, wrong = angle(a, s, e, limit, pow10)
        hemisphere = a[hs]
        if wrong or he - hs != 1 or hemisphere not in (negative, positive):
            bad = True
        # A signed value is south or west whatever the hemisphere says.
        signed = -value if a[s] == 45 or hemisphere == negative else value
        if offset == 0:
            lat = signed
        else:
            lon = signed
    return lat, lon, bad


@compiled
def field(bounds: Ints, fields: int, j: int) -> tuple[int, int]:
    """Start and end of data field j (empty past the last)."""
    if j >= fields:
        return bounds[fields], bounds[fields]
    return bounds[j] + 1, bounds[j + 1]


@compiled
def char(a: Bytes, bounds: Ints, fields: int, j: int) -> tuple[int, int]:
    """First character of field j (0 if empty) and its length."""
    s, e = field(bounds, fields, j)
    return (int(a[s]) if e > s else 0), e - s
