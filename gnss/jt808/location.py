"""JT/T 808 location information (the body of 0x0200, and each item of a 0x0704 batch).

The basic information is 28 bytes: alarm flags (4), status bits (4), latitude and longitude
(4 each, unsigned, 1e-6 degrees; the status says south and west), altitude (2, metres), speed
(2, 1/10 km/h), heading (2, degrees clockwise from north) and the time as BCD ``YYMMDDhhmmss``
in GMT+8. Additional items follow to the end of the body: an id byte, a length byte and that
many bytes. partymap reads 0x01 mileage (1/10 km), 0x30 signal strength and 0x31 satellites
used; every item is kept raw, in order, and bytes that break the item format (vendors do
that) are kept as they came, so nothing a terminal sent is lost.

A :class:`Location` holds the fields as sent (the wire's units are in their names), so decoding
and encoding are exact inverses, and gives the units partymap uses as properties:

>>> body = bytes.fromhex("00000001000c0006015752a006cb80800024004b005a260501080000"
...                      "0104000003e8300115310109")
>>> loc = LOCATION.read(body, 0)[0]
>>> loc.lat, loc.lon, loc.alt_m, round(loc.speed_mps, 3), loc.heading_deg
(-22.5, 114.0, 36, 2.083, 90)
>>> loc.time.isoformat(), loc.sos, sorted(c.value for c in loc.constellations)
('2026-05-01T00:00:00+00:00', True, ['BEIDOU', 'GPS'])
>>> loc.mileage_km, loc.signal_strength, loc.sats_used, loc.beidou_verified
(100.0, 21, 9, True)
>>> LOCATION.write(loc) == body
True

**From a location to a** :class:`gnss.model.Fix` (done by the ingestion pipeline, which owns
the device's settings):

- ``time`` ← :attr:`Location.time`: the terminal's clock read in its time zone (GMT+8 unless the
  device is set to UTC: ``dataclasses.replace(loc, utc_offset_s=0)``) and converted to UTC. A
  terminal that has never had a fix sends an all-zero time: ``time`` is None and, like an NMEA
  epoch without a time tag, it makes no fix (but the terminal is alive).
- ``lat``/``lon`` ← :attr:`lat`/:attr:`lon` (signed degrees, WGS 84/CGCS2000); ``alt_m``,
  ``speed_mps`` and ``course_deg`` (← ``heading_deg``) as named.
- ``mode``/``quality``: the status's *positioned* bit gives ``FixMode.THREE_D`` and
  ``FixQuality.GPS``; without it ``NO_FIX`` and ``INVALID`` (the report still proves the
  terminal alive). JT/T 808 says nothing of 2D/3D, differential or RTK.
- ``sats_used`` ← item 0x31. ``sats_used_by_system`` stays empty: the terminal reports which
  constellations it used (status bits 18–21, :attr:`constellations`) but not how many
  satellites of each, so NMEA's per-constellation counts cannot be filled in honestly.
- ``hdop``/``pdop``/``vdop`` and ``accuracy_m`` are None: the position carries no accuracy;
  the pipeline applies the device's (or its model's) documented default, and the quality rules
  must know that a terminal fix has no HDOP to test.
- BeiDou verification is the terminal's own claim (DESIGN §11, evidence ``terminal``):
  :attr:`beidou_verified` is true when the BeiDou bit is set and at least 4 satellites were used
  in all — weaker than a receiver's per-constellation count of 4 BeiDou satellites.
- ``raw_position``: the 28 bytes of basic information (:attr:`basic`) serve the anti-replay
  rule as a position sentence does for NMEA.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gnss.jt808.layout import I16, REST, U16, U32, BodyError, Codec, Field, Layout, read, write
from gnss.jt808.reasons import FrameReason
from gnss.model import Constellation

__all__ = [
    "BASIC_SIZE",
    "GMT8_S",
    "LOCATION",
    "Alarm",
    "Location",
    "Status",
]

GMT8_S = 8 * 3600  # the standard's time zone, Beijing time
BASIC_SIZE = 28
KMH_TENTH_MPS = 1 / 36  # 0.1 km/h in m/s


class Alarm(enum.IntFlag):
    """Alarm flags (DWORD): the bits partymap names; the rest are kept in the integer."""

    SOS = 1 << 0  # emergency alarm, triggered by the alarm switch
    OVERSPEED = 1 << 1
    FATIGUE = 1 << 2
    DANGER = 1 << 3  # danger warning (2013), early warning (2019)
    GNSS_FAULT = 1 << 4
    GNSS_ANTENNA_OPEN = 1 << 5
    GNSS_ANTENNA_SHORT = 1 << 6
    POWER_LOW = 1 << 7  # main power undervoltage
    POWER_OFF = 1 << 8


class Status(enum.IntFlag):
    """Status bits (DWORD) that partymap reads."""

    ACC = 1 << 0
    POSITIONED = 1 << 1
    SOUTH = 1 << 2
    WEST = 1 << 3
    OUT_OF_SERVICE = 1 << 4
    COORDINATES_ENCRYPTED = 1 << 5
    GPS = 1 << 18
    BEIDOU = 1 << 19
    GLONASS = 1 << 20
    GALILEO = 1 << 21


_CONSTELLATION_BITS = (
    (Status.GPS, Constellation.GPS),
    (Status.BEIDOU, Constellation.BEIDOU),
    (Status.GLONASS, Constellation.GLONASS),
    (Status.GALILEO, Constellation.GALILEO),
)
ITEM_MILEAGE = 0x01
ITEM_SIGNAL = 0x30
ITEM_SATELLITES = 0x31


@dataclass(frozen=True, slots=True)
class Location:
    """One location report as the terminal sent it; properties give partymap's units."""

    alarm: int  # Alarm flags
    status: int  # Status bits
    lat_microdeg: int  # magnitude, 1e-6 degrees; Status.SOUTH makes it south
    lon_microdeg: int  # magnitude, 1e-6 degrees; Status.WEST makes it west
    alt_m: int
    speed_tenth_kmh: int
    heading_deg: int  # 0–359, clockwise from north
    device_time: datetime | None  # the terminal's clock, naive; None: sent as all zeros
    extras: tuple[tuple[int, bytes], ...] = ()  # additional items (id, value), in order
    # What follows the last well-formed item: vendor data that breaks the item format (an item
    # whose length runs past the end, say). Kept raw; the position is still good.
    extras_tail: bytes = b""
    utc_offset_s: int = GMT8_S  # the zone of device_time (not sent: the device's setting)

    @property
    def lat(self) -> float:
        """Degrees, north positive."""
        return (-self.lat_microdeg if self.status & Status.SOUTH else self.lat_microdeg) / 1e6

    @property
    def lon(self) -> float:
        """Degrees, east positive."""
        return (-self.lon_microdeg if self.status & Status.WEST else self.lon_microdeg) / 1e6

    @property
    def time(self) -> datetime | None:
        """``device_time`` in UTC (timezone-aware), or None when the terminal sent no time."""
        if self.device_time is None:
            return None
        return (self.device_time - timedelta(seconds=self.utc_offset_s)).replace(tzinfo=UTC)

    @property
    def speed_mps(self) -> float:
        return self.speed_tenth_kmh * KMH_TENTH_MPS

    @property
    def positioned(self) -> bool:
        return bool(self.status & Status.POSITIONED)

    @property
    def sos(self) -> bool:
        return bool(self.alarm & Alarm.SOS)

    @property
    def constellations(self) -> frozenset[Constellation]:
        """The satellite systems the terminal says it used (status bits 18–21)."""
        return frozenset(c for bit, c in _CONSTELLATION_BITS if self.status & bit)

    @property
    def mileage_km(self) -> float | None:
        raw = self.extra(ITEM_MILEAGE)
        return int.from_bytes(raw, "big") / 10 if raw is not None and len(raw) == 4 else None

    @property
    def signal_strength(self) -> int | None:
        """Item 0x30: the wireless network's signal strength as the terminal reports it."""
        raw = self.extra(ITEM_SIGNAL)
        return raw[0] if raw is not None and len(raw) == 1 else None

    @property
    def sats_used(self) -> int | None:
        """Item 0x31: GNSS satellites used, all constellations together."""
        raw = self.extra(ITEM_SATELLITES)
        return raw[0] if raw is not None and len(raw) == 1 else None

    @property
    def beidou_verified(self) -> bool:
        """The terminal's own claim of a BeiDou fix: BeiDou bit set, ≥ 4 satellites used."""
        sats = self.sats_used
        return bool(self.status & Status.BEIDOU) and sats is not None and sats >= 4

    @property
    def basic(self) -> bytes:
        """The 28 bytes of basic information, as sent."""
        return write(_BASIC, _values(self))

    def extra(self, item: int) -> bytes | None:
        """The first additional item with this id, raw."""
        return next((value for key, value in self.extras if key == item), None)


def _read_time(data: bytes, at: int) -> tuple[datetime | None, int]:
    raw = data[at : at + 6]
    if len(raw) < 6:
        raise BodyError(FrameReason.TOO_SHORT, "location time: needs 6 bytes")
    digits = raw.hex()
    if digits == "000000000000":
        return None, at + 6
    if not digits.isdigit():
        raise BodyError(FrameReason.BAD_FIELD, f"time {digits!r} is not BCD")
    year, month, day, hour, minute, second = [(b >> 4) * 10 + (b & 15) for b in raw]
    try:
        return datetime(2000 + year, month, day, hour, minute, second), at + 6
    except ValueError as error:
        raise BodyError(FrameReason.BAD_FIELD, f"time {digits!r}: {error}") from None


def _write_time(value: datetime | None) -> bytes:
    if value is None:
        return bytes(6)
    if not 2000 <= value.year <= 2099:
        raise ValueError(f"{value} cannot be sent as YYMMDDhhmmss")
    return bytes.fromhex(value.strftime("%y%m%d%H%M%S"))


BCD_TIME = Codec("bcd_time", _read_time, _write_time)


def _read_items(data: bytes, at: int) -> tuple[tuple[tuple[int, bytes], ...], int]:
    """Additional items up to the end, or up to the first that would run past it."""
    items = []
    while at + 2 <= len(data) and at + 2 + data[at + 1] <= len(data):
        key, size = data[at], data[at + 1]
        items.append((key, data[at + 2 : at + 2 + size]))
        at += 2 + size
    return tuple(items), at


def _write_items(items: tuple[tuple[int, bytes], ...]) -> bytes:
    return b"".join(bytes((key, len(value))) + value for key, value in items)


ITEMS = Codec("additional_items", _read_items, _write_items)

_BASIC: Layout = (
    Field("alarm", U32),
    Field("status", U32),
    Field("lat_microdeg", U32),
    Field("lon_microdeg", U32),
    Field("alt_m", I16),
    Field("speed_tenth_kmh", U16),
    Field("heading_deg", U16),
    Field("device_time", BCD_TIME),
)
LAYOUT: Layout = (*_BASIC, Field("extras", ITEMS), Field("extras_tail", REST))


def _values(location: Location) -> dict[str, Any]:
    return {field.name: getattr(location, field.name) for field in LAYOUT}


def _read_location(data: bytes, at: int) -> tuple[Location, int]:
    location = Location(**read(LAYOUT, data[at:]))
    if location.lat_microdeg > 90_000_000 or location.lon_microdeg > 180_000_000:
        raise BodyError(FrameReason.BAD_FIELD, "latitude or longitude out of range")
    return location, len(data)


def _write_location(location: Location) -> bytes:
    return write(LAYOUT, _values(location))


LOCATION = Codec("location", _read_location, _write_location)  # runs to the end of its bytes
