"""Reading the fields of each sentence type the reference parser knows, by table.

:data:`TABLE` maps a sentence type to (minimum data fields, handler); a handler reads the fields
at the indices of its layout (:mod:`gnss.nmea.layout`, shared with the compiled scanner) with
:mod:`gnss.nmea.fields` and raises :class:`~gnss.nmea.fields.BadFieldError` on a malformed one,
which :mod:`gnss.nmea.parser` turns into a ``bad_field`` rejection. Fields past the end read as
empty.

>>> TABLE["GSV"][1]("GB", Fields(["1", "1", "01", "07", "40", "083", "46", "1"])).in_view
((<Constellation.BEIDOU: 'BEIDOU'>, 7),)
"""

from __future__ import annotations

from collections.abc import Callable

from gnss.nmea import fields as f
from gnss.nmea.layout import GGA, GLL, GNS, GSA, GST, GSV, MIN_FIELDS, RMC, TXT, VTG, ZDA
from gnss.nmea.sentences import (
    KNOT_MPS,
    Gga,
    Gll,
    Gns,
    Gsa,
    Gst,
    Gsv,
    Rmc,
    Sentence,
    Txt,
    Vtg,
    Zda,
)

__all__ = ["TABLE", "Fields"]

_HEX_TEXT = frozenset("0123456789ABCDEFabcdef")


class Fields:
    """Field access where fields past the end read as empty (as in gpsd)."""

    __slots__ = ("data",)

    def __init__(self, data: list[str]) -> None:
        self.data = data

    def __getitem__(self, index: int) -> str:
        return self.data[index] if index < len(self.data) else ""

    def __len__(self) -> int:
        return len(self.data)


def dop(text: str) -> float | None:
    """A dilution of precision; 99.x is the "unknown" placeholder many receivers send."""
    value = f.decimal(text)
    return None if value is None or value >= 99.0 else value


def _position(d: Fields, first: int) -> tuple[float | None, float | None]:
    """Latitude and longitude from the four fields at ``first`` (value and hemisphere each)."""
    return (
        f.latitude(d[first], d[first + 1]),
        f.longitude(d[first + 2], d[first + 3]),
    )


def _gga(talker: str, d: Fields) -> Gga:
    quality = f.integer(d[GGA.quality])
    if quality is not None and quality > 8:
        raise f.BadFieldError(f"GGA quality {quality}")
    tod_us = f.time_of_day(d[GGA.time])
    lat, lon = _position(d, GGA.position)
    return Gga(
        talker=talker,
        tod_us=tod_us,
        lat=lat,
        lon=lon,
        quality=quality,
        sats_used=f.integer(d[GGA.sats]),
        hdop=dop(d[GGA.hdop]),
        alt_m=f.decimal(d[GGA.alt]),
    )


def _rmc(talker: str, d: Fields) -> Rmc:
    knots = f.decimal(d[RMC.speed_knots])
    tod_us = f.time_of_day(d[RMC.time])
    lat, lon = _position(d, RMC.position)
    return Rmc(
        talker=talker,
        tod_us=tod_us,
        status=d[RMC.status],
        lat=lat,
        lon=lon,
        speed_mps=None if knots is None else knots * KNOT_MPS,
        course_deg=f.decimal(d[RMC.course]),
        date=f.ddmmyy(d[RMC.date]),
        mode_indicator=d[RMC.mode],
    )


def _gns(talker: str, d: Fields) -> Gns:
    tod_us = f.time_of_day(d[GNS.time])
    lat, lon = _position(d, GNS.position)
    return Gns(
        talker=talker,
        tod_us=tod_us,
        lat=lat,
        lon=lon,
        mode_indicator=d[GNS.mode],
        sats_used=f.integer(d[GNS.sats]),
        hdop=dop(d[GNS.hdop]),
        alt_m=f.decimal(d[GNS.alt]),
    )


def _gll(talker: str, d: Fields) -> Gll:
    tod_us = f.time_of_day(d[GLL.time])
    lat, lon = _position(d, GLL.position)
    return Gll(
        talker=talker,
        tod_us=tod_us,
        lat=lat,
        lon=lon,
        status=d[GLL.status],
        mode_indicator=d[GLL.mode],
    )


def _gsa(talker: str, d: Fields) -> Gsa:
    # 17 fields before NMEA 4.10; 18 with the system id. Longer ones (24-channel receivers)
    # carry more satellites and no system id.
    n = len(d)
    system_id = f.integer(d[GSA.system]) if n == GSA.system + 1 else None
    last_prn = GSA.pdop if n in (GSA.minimum, GSA.system + 1) else n - 3
    used = []
    for text in d.data[GSA.first_sat : last_prn]:
        number = f.integer(text)
        sat = None if number is None else f.satellite(talker, number, system_id)
        if sat is not None:
            used.append(sat)
    return Gsa(
        talker=talker,
        fix_type=int(d[GSA.fix_type]) if d[GSA.fix_type] in ("1", "2", "3") else None,
        used=tuple(used),
        pdop=dop(d[last_prn]),
        hdop=dop(d[last_prn + 1]),
        vdop=dop(d[last_prn + 2]),
        system_id=system_id,
    )


def _hex(text: str) -> int | None:
    """NMEA 4.11 signal ids are hexadecimal (BeiDou B3I is 8, B2b is 6, B2I is B…)."""
    if not text:
        return None
    if not set(text) <= _HEX_TEXT:
        raise f.BadFieldError(f"not a signal id: {text!r}")
    return int(text, 16)


def _gsv(talker: str, d: Fields) -> Gsv:
    # Four fields per satellite after the three header fields; NMEA 4.10 adds a signal id,
    # Quectel a signal id and a system id. Anything else is a damaged page.
    extra = (len(d) - GSV.first_sat) % GSV.per_sat
    if extra == 3:
        raise f.BadFieldError(f"{len(d)} fields do not make satellites")
    signal_id = _hex(d[len(d) - extra]) if extra else None
    system_id = f.integer(d[len(d) - 1]) if extra == 2 else None
    in_view = []
    for group in range(GSV.first_sat, len(d) - extra, GSV.per_sat):
        number = f.integer(d[group])
        sat = None if number is None else f.satellite(talker, number, system_id)
        if sat is not None:
            in_view.append(sat)
    pages, page = f.integer(d[GSV.pages]), f.integer(d[GSV.page])
    if pages is None or page is None:
        raise f.BadFieldError("GSV without page numbers")
    return Gsv(talker, pages, page, tuple(in_view), signal_id, system_id)


def _vtg(talker: str, d: Fields) -> Vtg:
    knots, kmh = f.decimal(d[VTG.speed_knots]), f.decimal(d[VTG.speed_kmh])
    speed: float | None = None
    if knots is not None:
        speed = knots * KNOT_MPS
    elif kmh is not None:
        speed = kmh / 3.6
    return Vtg(talker, f.decimal(d[VTG.course]), speed, d[VTG.mode])


def _zda(talker: str, d: Fields) -> Zda:
    day, month, year = f.integer(d[ZDA.day]), f.integer(d[ZDA.month]), f.integer(d[ZDA.year])
    date = None
    if day is not None and month is not None and year is not None:
        date = f.calendar_date(day, month, year)
    return Zda(talker, f.time_of_day(d[ZDA.time]), date)


def _gst(talker: str, d: Fields) -> Gst:
    tod_us, first = f.time_of_day(d[GST.time]), GST.sigmas
    sigmas = (f.decimal(d[first]), f.decimal(d[first + 1]), f.decimal(d[first + 2]))
    return Gst(talker, tod_us, *sigmas)


def _txt(talker: str, d: Fields) -> Txt:
    return Txt(talker, ",".join(d.data[TXT.text :]))


_HANDLERS: dict[str, Callable[[str, Fields], Sentence]] = {
    "GGA": _gga,
    "RMC": _rmc,
    "GNS": _gns,
    "GLL": _gll,
    "GSA": _gsa,
    "GSV": _gsv,
    "VTG": _vtg,
    "ZDA": _zda,
    "GST": _gst,
    "TXT": _txt,
}
# Sentence type → (minimum data fields, handler); the minimums come from the layouts.
TABLE: dict[str, tuple[int, Callable[[str, Fields], Sentence]]] = {
    kind: (MIN_FIELDS[kind], handler) for kind, handler in _HANDLERS.items()
}
