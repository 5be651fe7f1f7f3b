"""Where each value sits in each sentence type: one table that both readers are built from.

A layout gives a sentence type's minimum number of data fields (gpsd's, so a sentence gpsd finds
too short is too short here as well) and the index of each value among its data fields (the
fields after the tag, counted from 0). The reference handlers (:mod:`gnss.nmea.handlers`) and
the compiled scanner (:mod:`gnss.nmea.scan`) read fields at these indices and nowhere else, so
adding a value to a sentence is one entry here and one reader on each side.

A ``position`` index is the latitude; its hemisphere, the longitude and the longitude's
hemisphere follow it.

>>> GGA.minimum, GGA.time, GGA.position, GGA.alt
(12, 0, 1, 8)
>>> MIN_FIELDS["GST"], GST.sigmas
(7, 5)
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "GGA",
    "GLL",
    "GNS",
    "GSA",
    "GST",
    "GSV",
    "LAYOUTS",
    "MIN_FIELDS",
    "RMC",
    "TXT",
    "VTG",
    "ZDA",
]


class GgaLayout(NamedTuple):
    minimum: int
    time: int
    position: int
    quality: int
    sats: int
    hdop: int
    alt: int


class RmcLayout(NamedTuple):
    minimum: int
    time: int
    status: int
    position: int
    speed_knots: int
    course: int
    date: int
    mode: int


class GnsLayout(NamedTuple):
    minimum: int
    time: int
    position: int
    mode: int
    sats: int
    hdop: int
    alt: int


class GllLayout(NamedTuple):
    minimum: int
    position: int
    time: int
    status: int
    mode: int


class GsaLayout(NamedTuple):
    """The 17- and 18-field layouts: twelve satellites, three DOPs, then (NMEA 4.10) the system
    id. Longer ones (24-channel receivers) list more satellites, the DOPs last, no system id."""

    minimum: int
    fix_type: int
    first_sat: int
    sats: int
    pdop: int
    hdop: int
    vdop: int
    system: int


class GsvLayout(NamedTuple):
    """Pages, page, in-view count, then per satellite ``per_sat`` fields starting with its
    number; NMEA 4.10 adds a signal id after them, Quectel a signal id and a system id."""

    minimum: int
    pages: int
    page: int
    first_sat: int
    per_sat: int


class VtgLayout(NamedTuple):
    minimum: int
    course: int
    speed_knots: int
    speed_kmh: int
    mode: int


class ZdaLayout(NamedTuple):
    minimum: int
    time: int
    day: int
    month: int
    year: int


class GstLayout(NamedTuple):
    """``sigmas``: the first of three, latitude, longitude and altitude error (1σ, metres)."""

    minimum: int
    time: int
    sigmas: int


class TxtLayout(NamedTuple):
    minimum: int
    text: int


GGA = GgaLayout(minimum=12, time=0, position=1, quality=5, sats=6, hdop=7, alt=8)
RMC = RmcLayout(minimum=7, time=0, status=1, position=2, speed_knots=6, course=7, date=8, mode=11)
GNS = GnsLayout(minimum=12, time=0, position=1, mode=5, sats=6, hdop=7, alt=8)
GLL = GllLayout(minimum=6, position=0, time=4, status=5, mode=6)
GSA = GsaLayout(minimum=17, fix_type=1, first_sat=2, sats=12, pdop=14, hdop=15, vdop=16, system=17)
GSV = GsvLayout(minimum=3, pages=0, page=1, first_sat=3, per_sat=4)
VTG = VtgLayout(minimum=4, course=0, speed_knots=4, speed_kmh=6, mode=8)
ZDA = ZdaLayout(minimum=4, time=0, day=1, month=2, year=3)
GST = GstLayout(minimum=7, time=0, sigmas=5)
TXT = TxtLayout(minimum=4, text=3)

LAYOUTS: dict[str, NamedTuple] = {
    "GGA": GGA,
    "RMC": RMC,
    "GNS": GNS,
    "GLL": GLL,
    "GSA": GSA,
    "GSV": GSV,
    "VTG": VTG,
    "ZDA": ZDA,
    "GST": GST,
    "TXT": TXT,
}
MIN_FIELDS: dict[str, int] = {kind: layout[0] for kind, layout in LAYOUTS.items()}
