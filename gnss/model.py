"""Typed values that leave the GNSS layer: constellations, quality, mode and the epoch ``Fix``.

Units are in the names (``alt_m``, ``speed_mps``, ``accuracy_m``) and fix *mode* (2D/3D) is kept
apart from fix *quality* (RTK fixed, DGPS…), as in gpsd's ``gps_fix_t``.

>>> from datetime import datetime, UTC
>>> fix = Fix(time=datetime(2026, 5, 1, 8, 0, tzinfo=UTC), lat=30.5, lon=114.3,
...           mode=FixMode.THREE_D, quality=FixQuality.GPS)
>>> fix.has_position
True
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType


def _no_counts() -> Mapping[Constellation, int]:
    return MappingProxyType({})


class Constellation(enum.Enum):
    """A satellite system. NMEA 4.10 system ids are 1–6; SBAS has none of its own."""

    GPS = "GPS"
    GLONASS = "GLONASS"
    GALILEO = "GALILEO"
    BEIDOU = "BEIDOU"
    QZSS = "QZSS"
    NAVIC = "NAVIC"
    SBAS = "SBAS"


class FixQuality(enum.IntEnum):
    """GGA field 6: how the position was obtained (not whether it is 2D or 3D)."""

    INVALID = 0
    GPS = 1
    DGPS = 2
    PPS = 3
    RTK_FIXED = 4
    RTK_FLOAT = 5
    ESTIMATED = 6
    MANUAL = 7
    SIMULATION = 8


class FixMode(enum.IntEnum):
    """gpsd's mode: 1 no fix, 2 two-dimensional, 3 three-dimensional."""

    NO_FIX = 1
    TWO_D = 2
    THREE_D = 3


@dataclass(frozen=True, slots=True)
class Fix:
    """One navigation epoch of one receiver: every sentence that shared one time tag.

    An epoch without a usable position still yields a ``Fix`` (``mode`` NO_FIX, ``lat``/``lon``
    None): the device is alive, which presence needs to know (DESIGN §4).
    """

    time: datetime  # UTC, timezone-aware
    lat: float | None = None  # degrees WGS 84, north positive
    lon: float | None = None  # degrees WGS 84, east positive
    alt_m: float | None = None  # above mean sea level
    mode: FixMode = FixMode.NO_FIX
    quality: FixQuality = FixQuality.INVALID
    hdop: float | None = None
    pdop: float | None = None
    vdop: float | None = None
    sats_used: int | None = None
    sats_used_by_system: Mapping[Constellation, int] = field(default_factory=_no_counts)
    sats_in_view_by_system: Mapping[Constellation, int] = field(default_factory=_no_counts)
    speed_mps: float | None = None
    course_deg: float | None = None
    # GST one-sigma errors, metres, when the receiver sends GST.
    sigma_lat_m: float | None = None
    sigma_lon_m: float | None = None
    sigma_alt_m: float | None = None
    accuracy_m: float | None = None  # estimated horizontal one-sigma accuracy
    # The epoch's first position sentence (GGA/RMC/GNS/GLL) as received, without line ending:
    # evidence for the anti-replay rule, which compares it across devices.
    raw_position: str | None = None
    received_at: datetime | None = None  # when the epoch's last line arrived, if known

    @property
    def has_position(self) -> bool:
        return self.mode >= FixMode.TWO_D and self.lat is not None and self.lon is not None

    @property
    def beidou_used(self) -> int:
        return self.sats_used_by_system.get(Constellation.BEIDOU, 0)


@dataclass(frozen=True, slots=True)
class RawChunk:
    """Bytes from one device as a source received them: zero or more complete lines.

    Sources hold back a partial last line (see :class:`gnss.nmea.framing.LineBuffer`) so a chunk
    never ends mid-line; ``offset`` is where the chunk ends in its source (a replay resumes from
    it)."""

    device_id: str
    data: bytes
    received_at: float  # UTC, seconds since the epoch
    offset: int | None = None
