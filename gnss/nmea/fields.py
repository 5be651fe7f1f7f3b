"""Strict conversions of NMEA field text into typed values, and satellite numbering.

Both decode paths agree on these definitions (the fast path mirrors them column-wise), so they
are spelled out precisely: a decimal field is ``[+-]digits[.digits]`` and converts with Python's
correctly rounded ``float``; latitude ``ddmm.mmmm`` is ``dd + mm.mmmm / 60``; times of day are
integer microseconds. An empty field is ``None``; a malformed one raises :class:`BadFieldError`,
which the parser turns into a ``bad_field`` rejection. So does a value Python reads but partymap
cannot keep: an integer above :data:`INT_MAX` (the widest integer column), a date past year 9999.

>>> decimal("-30.40"), latitude("4552.65403", "S"), time_of_day("003956.25")
(-30.4, -45.877567166666665, 2396250000)
>>> satellite("GB", 209, None), satellite("GP", 33, 4), satellite("GP", 33, None)
((<Constellation.BEIDOU: 'BEIDOU'>, 9), (<Constellation.BEIDOU: 'BEIDOU'>, 33), \
(<Constellation.SBAS: 'SBAS'>, 120))
"""

from __future__ import annotations

import math
import re
from datetime import date

from gnss.model import Constellation

__all__ = [
    "INT_MAX",
    "BadFieldError",
    "calendar_date",
    "decimal",
    "integer",
    "latitude",
    "longitude",
    "satellite",
    "satellite_for",
    "system_hint",
    "time_of_day",
]


# Counts, numbers and page numbers go into SMALLINT columns (or int16 arrays): a wider value is
# damage, never a receiver's (NMEA gives them two or three digits).
INT_MAX = 32_767


class BadFieldError(ValueError):
    """A field partymap reads is malformed (internal to the parser: it becomes a rejection)."""


_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)\Z")
_INTEGER = re.compile(r"\d+\Z")
_ANGLE = re.compile(r"(-?)(\d*)(\d\d)(\.\d*)?\Z")
_TIME = re.compile(r"(\d\d)(\d\d)(\d\d)(?:\.(\d*))?\Z")
_DDMMYY = re.compile(r"(\d\d)(\d\d)(\d\d)\Z")

# NMEA 4.10 system ids (GSA field 18, Quectel's GSV extension).
SYSTEM_IDS = {
    1: Constellation.GPS,
    2: Constellation.GLONASS,
    3: Constellation.GALILEO,
    4: Constellation.BEIDOU,
    5: Constellation.QZSS,
    6: Constellation.NAVIC,
}
# What a talker says about the constellation. GP, GN and unknown talkers say nothing sure
# (GP carries SBAS and QZSS too); PQ is Quectel's BeiDou talker when no system id is sent.
TALKER_SYSTEMS = {
    "GL": 2,
    "GA": 3,
    "GB": 4,
    "BD": 4,
    "PQ": 4,
    "GQ": 5,
    "QZ": 5,
    "GI": 6,
}


def decimal(text: str) -> float | None:
    if not text:
        return None
    if not _DECIMAL.match(text):
        raise BadFieldError(f"not a number: {text!r}")
    value = float(text)
    if not math.isfinite(value):  # 309+ digits: longer than a sentence, but say why if ever
        raise BadFieldError(f"number out of range: {text[:20]!r}")
    return value


def integer(text: str) -> int | None:
    if not text:
        return None
    if not _INTEGER.match(text):
        raise BadFieldError(f"not an integer: {text!r}")
    value = int(text)  # a sentence is at most 160 characters: never near int()'s digit limit
    if value > INT_MAX:
        raise BadFieldError(f"integer out of range: {text[:20]!r}")
    return value


def _angle(text: str, hemisphere: str, limit: int, positive: str, negative: str) -> float | None:
    if not text or not hemisphere:
        # gpsd's rule too: a position needs both the value and its hemisphere.
        return None
    found = _ANGLE.match(text)
    if found is None or len(found[2]) + len(found[3]) < 3 or hemisphere not in (positive, negative):
        raise BadFieldError(f"not an angle: {text!r},{hemisphere!r}")
    sign, degrees_text, minutes_text, fraction = found.groups()
    degrees = int(degrees_text)
    minutes = float(minutes_text + (fraction or ""))
    if minutes >= 60.0 or degrees + minutes / 60.0 > limit:
        raise BadFieldError(f"angle out of range: {text!r}")
    value = degrees + minutes / 60.0
    # Some receivers sign the value as well as giving the hemisphere: either one makes it
    # south/west (a signed value with W is still west, not east).
    return -value if sign or hemisphere == negative else value


def latitude(text: str, hemisphere: str) -> float | None:
    return _angle(text, hemisphere, 90, "N", "S")


def longitude(text: str, hemisphere: str) -> float | None:
    return _angle(text, hemisphere, 180, "E", "W")


def time_of_day(text: str) -> int | None:
    """``hhmmss[.s…]`` as microseconds since midnight (digits past the sixth are dropped)."""
    if not text:
        return None
    found = _TIME.match(text)
    if found is None:
        raise BadFieldError(f"not a time: {text!r}")
    hours, minutes, seconds = int(found[1]), int(found[2]), int(found[3])
    if hours > 23 or minutes > 59 or seconds > 59:
        raise BadFieldError(f"time out of range: {text!r}")
    micros = int(((found[4] or "") + "000000")[:6])
    return ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + micros


def calendar_date(day: int, month: int, year: int) -> date:
    try:
        return date(year, month, day)
    except (ValueError, OverflowError):
        raise BadFieldError(f"not a date: {year:04d}-{month:02d}-{day:02d}") from None


def ddmmyy(text: str) -> date | None:
    """RMC's date; two-digit years 80–99 are 1980–1999 (GPS began in 1980)."""
    if not text:
        return None
    found = _DDMMYY.match(text)
    if found is None:
        raise BadFieldError(f"not a date: {text!r}")
    year = int(found[3])
    return calendar_date(int(found[1]), int(found[2]), year + (1900 if year >= 80 else 2000))


def system_hint(talker: str, system_id: int | None) -> int | None:
    """The NMEA system id a sentence's satellites belong to, if the sentence says so."""
    if system_id in SYSTEM_IDS:
        return system_id
    return TALKER_SYSTEMS.get(talker)


def satellite(talker: str, number: int, system_id: int | None) -> tuple[Constellation, int] | None:
    """A satellite as (constellation, native number), or None for numbers that mean nothing.

    The constellation comes from the system id or talker first; the number range is only used
    when neither says (GP/GN talkers): 33–64 is SBAS there, but BeiDou under a BeiDou talker.
    """
    return satellite_for(system_hint(talker, system_id), number)


def satellite_for(hint: int | None, number: int) -> tuple[Constellation, int] | None:
    """:func:`satellite` once the system id or talker has been reduced to a system hint."""
    if number < 1:
        return None
    if hint == 2:  # GLONASS: 1–24 natively, 65–96 in NMEA numbering
        return _within(Constellation.GLONASS, number, 1, 32) or _offset(
            Constellation.GLONASS, number, 65, 96, 64
        )
    if hint == 3:  # Galileo: 1–36; Quectel 101–136; extended 301–336
        return (
            _within(Constellation.GALILEO, number, 1, 36)
            or _offset(Constellation.GALILEO, number, 101, 136, 100)
            or _offset(Constellation.GALILEO, number, 301, 336, 300)
        )
    if hint == 4:  # BeiDou: 1–63 (NMEA 4.11), 201–263 (Quectel, SiRF), 401–463 (u-blox 4.10)
        return (
            _within(Constellation.BEIDOU, number, 1, 63)
            or _offset(Constellation.BEIDOU, number, 201, 263, 200)
            or _offset(Constellation.BEIDOU, number, 401, 463, 400)
        )
    if hint == 5:  # QZSS: 1–10; 193–202 in NMEA numbering
        return _within(Constellation.QZSS, number, 1, 10) or _offset(
            Constellation.QZSS, number, 193, 202, 192
        )
    if hint == 6:
        return _within(Constellation.NAVIC, number, 1, 14)
    # GPS-family or combined talker: the extended NMEA numbering decides.
    return (
        _within(Constellation.GPS, number, 1, 32)
        or _offset(Constellation.SBAS, number, 33, 64, -87)
        or _offset(Constellation.GLONASS, number, 65, 96, 64)
        or _offset(Constellation.GALILEO, number, 101, 136, 100)
        or _within(Constellation.SBAS, number, 120, 158)
        # QZSS's NMEA numbers run to 202, but 201–263 is BeiDou in every BeiDou receiver that
        # uses it (SiRF, Quectel): BeiDou wins the overlap.
        or _offset(Constellation.QZSS, number, 193, 200, 192)
        or _offset(Constellation.BEIDOU, number, 201, 263, 200)
        or _offset(Constellation.GALILEO, number, 301, 336, 300)
        or _offset(Constellation.BEIDOU, number, 401, 463, 400)
    )


def _within(system: Constellation, n: int, low: int, high: int) -> tuple[Constellation, int] | None:
    return (system, n) if low <= n <= high else None


def _offset(
    system: Constellation, n: int, low: int, high: int, minus: int
) -> tuple[Constellation, int] | None:
    return (system, n - minus) if low <= n <= high else None
