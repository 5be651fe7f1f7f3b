"""Typed NMEA sentences and named rejections: what :mod:`gnss.nmea.parser` hands the rest of
partymap.

Every input line becomes either one of the sentence values below or a :class:`Rejection` with a
:class:`Reason`. Numbers are numbers (never strings), missing values are ``None``, times of day
are integer microseconds since midnight UTC and satellites are ``(Constellation, number)`` pairs
with the number already normalised (BeiDou 1–63 whatever range the receiver used).

>>> gga = Gga(talker="GN", tod_us=3_596_000_000, lat=30.5, lon=114.25, quality=1,
...           sats_used=12, hdop=0.7, alt_m=21.5)
>>> gga.valid, gga.kind
(True, 'GGA')
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from gnss.model import Constellation, FixQuality

SatId = tuple[Constellation, int]

# Knots to metres per second: one nautical mile is 1852 m exactly.
KNOT_MPS = 1852.0 / 3600.0


class Reason(enum.Enum):
    """Why a line was not accepted. The value is the name used in counters and summaries."""

    COMMENT = "comment"  # a `#` line: gpsd-format log headers and annotations
    EMPTY = "empty"  # nothing but whitespace
    BINARY = "binary"  # bytes outside printable ASCII: binary receiver protocol, line noise
    FRAMING = "framing"  # does not start with `$`, or something follows the checksum
    TRUNCATED = "truncated"  # no `*hh` at the end: cut off, or sent without a checksum
    TOO_LONG = "too_long"  # far longer than any receiver's sentence: two sentences run together
    CHECKSUM = "checksum"  # `*hh` does not match the sentence
    UNKNOWN_TYPE = "unknown_type"  # well-formed, but not a sentence partymap reads
    TOO_SHORT = "too_short"  # fewer fields than the sentence type needs
    BAD_FIELD = "bad_field"  # a field partymap reads is malformed or out of range


@dataclass(frozen=True, slots=True)
class Rejection:
    """A line (or a piece of a line, when sentences were glued together) that was refused."""

    reason: Reason
    text: bytes
    detail: str = ""


def quality_from_mode_indicator(indicator: str) -> FixQuality:
    """The GGA-style quality implied by an FAA mode indicator (RMC, GNS, GLL, VTG).

    >>> quality_from_mode_indicator("R")
    <FixQuality.RTK_FIXED: 4>
    """
    return _MODE_INDICATOR_QUALITY.get(indicator[:1], FixQuality.GPS)


_MODE_INDICATOR_QUALITY = {
    "N": FixQuality.INVALID,
    "A": FixQuality.GPS,
    "D": FixQuality.DGPS,
    "P": FixQuality.DGPS,  # "precise": differential in practice
    "R": FixQuality.RTK_FIXED,
    "F": FixQuality.RTK_FLOAT,
    "E": FixQuality.ESTIMATED,
    "M": FixQuality.MANUAL,
    "S": FixQuality.SIMULATION,
}


@dataclass(frozen=True, slots=True)
class Gga:
    """Fix data: time, position, quality (GGA field 6), satellites used, HDOP, altitude MSL."""

    talker: str
    tod_us: int | None
    lat: float | None
    lon: float | None
    quality: int | None
    sats_used: int | None
    hdop: float | None
    alt_m: float | None

    kind = "GGA"

    @property
    def valid(self) -> bool:
        return bool(self.quality) and self.lat is not None and self.lon is not None


@dataclass(frozen=True, slots=True)
class Rmc:
    """Recommended minimum: time, status, position, speed, course, date, mode indicator."""

    talker: str
    tod_us: int | None
    status: str  # "A" valid, "V" void ("" when missing)
    lat: float | None
    lon: float | None
    speed_mps: float | None
    course_deg: float | None
    date: date | None
    mode_indicator: str  # NMEA 2.3+ FAA mode, "" when absent

    kind = "RMC"

    @property
    def valid(self) -> bool:
        # Validity is the status field (and the FAA mode when sent), never the NMEA 4.1
        # navigational status of field 13, which good receivers still send as "V".
        return (
            self.status in ("A", "D")
            and self.mode_indicator[:1] != "N"
            and self.lat is not None
            and self.lon is not None
        )


@dataclass(frozen=True, slots=True)
class Gns:
    """Multi-GNSS fix data: like GGA, with one mode character per constellation."""

    talker: str
    tod_us: int | None
    lat: float | None
    lon: float | None
    mode_indicator: str
    sats_used: int | None
    hdop: float | None
    alt_m: float | None

    kind = "GNS"

    @property
    def valid(self) -> bool:
        usable = self.mode_indicator[:1] not in ("", "N")
        return usable and self.lat is not None and self.lon is not None


@dataclass(frozen=True, slots=True)
class Gll:
    """Geographic position: latitude, longitude, time, status, mode indicator."""

    talker: str
    tod_us: int | None
    lat: float | None
    lon: float | None
    status: str
    mode_indicator: str

    kind = "GLL"

    @property
    def valid(self) -> bool:
        return (
            self.status == "A"
            and self.mode_indicator[:1] != "N"
            and self.lat is not None
            and self.lon is not None
        )


@dataclass(frozen=True, slots=True)
class Gsa:
    """DOPs and the satellites used; NMEA 4.10+ adds the system id (field 18)."""

    talker: str
    fix_type: int | None  # 1 no fix, 2 2D, 3 3D
    used: tuple[SatId, ...]
    pdop: float | None
    hdop: float | None
    vdop: float | None
    system_id: int | None

    kind = "GSA"
    tod_us = None


@dataclass(frozen=True, slots=True)
class Gsv:
    """One page of satellites in view; NMEA 4.10+ ends with a signal id (Quectel: and system)."""

    talker: str
    pages: int
    page: int
    in_view: tuple[SatId, ...]
    signal_id: int | None
    system_id: int | None

    kind = "GSV"
    tod_us = None


@dataclass(frozen=True, slots=True)
class Vtg:
    """Course and speed over ground."""

    talker: str
    course_deg: float | None
    speed_mps: float | None
    mode_indicator: str

    kind = "VTG"
    tod_us = None


@dataclass(frozen=True, slots=True)
class Zda:
    """Time and date, with a four-digit year."""

    talker: str
    tod_us: int | None
    date: date | None

    kind = "ZDA"


@dataclass(frozen=True, slots=True)
class Gst:
    """Pseudorange noise statistics: one-sigma errors in metres."""

    talker: str
    tod_us: int | None
    sigma_lat_m: float | None
    sigma_lon_m: float | None
    sigma_alt_m: float | None

    kind = "GST"


@dataclass(frozen=True, slots=True)
class Txt:
    """A text message (banners, antenna status). Accepted, but it says nothing about a fix."""

    talker: str
    text: str

    kind = "TXT"
    tod_us = None


Sentence = Gga | Rmc | Gns | Gll | Gsa | Gsv | Vtg | Zda | Gst | Txt
# Sentences that take part in epochs; TXT is accepted but belongs to no epoch.
EpochSentence = Gga | Rmc | Gns | Gll | Gsa | Gsv | Vtg | Zda | Gst
POSITION_KINDS = ("GGA", "RMC", "GNS", "GLL")
