"""Reading the fields of each sentence type the reference parser knows, by table.

:data:`TABLE` maps a sentence type to (minimum data fields, handler); a handler reads fields with
:mod:`gnss.nmea.fields` and raises :class:`~gnss.nmea.fields.BadFieldError` on a malformed one,
which :mod:`gnss.nmea.parser` turns into a ``bad_field`` rejection. Fields past the end read as
empty.

>>> TABLE["GSV"][1]("GB", Fields(["1", "1", "01", "07", "40", "083", "46", "1"])).in_view
((<Constellation.BEIDOU: 'BEIDOU'>, 7),)
"""

from __future__ import annotations

from collections.abc import Callable

from gnss.nmea import fields as f
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

__all__ = ["MIN_FIELDS", "TABLE", "Fields"]

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


def _gga(talker: str, d: Fields) -> Gga:
    quality = f.integer(d[5])
    if quality is not None and quality > 8:
        raise f.BadFieldError(f"GGA quality {quality}")
    return Gga(
        talker=talker,
        tod_us=f.time_of_day(d[0]),
        lat=f.latitude(d[1], d[2]),
        lon=f.longitude(d[3], d[4]),
        quality=quality,
        sats_used=f.integer(d[6]),
        hdop=dop(d[7]),
        alt_m=f.decimal(d[8]),
    )


def _rmc(talker: str, d: Fields) -> Rmc:
    knots = f.decimal(d[6])
    return Rmc(
        talker=talker,
        tod_us=f.time_of_day(d[0]),
        status=d[1],
        lat=f.latitude(d[2], d[3]),
        lon=f.longitude(d[4], d[5]),
        speed_mps=None if knots is None else knots * KNOT_MPS,
        course_deg=f.decimal(d[7]),
        date=f.ddmmyy(d[8]),
        mode_indicator=d[11],
    )


def _gns(talker: str, d: Fields) -> Gns:
    return Gns(
        talker=talker,
        tod_us=f.time_of_day(d[0]),
        lat=f.latitude(d[1], d[2]),
        lon=f.longitude(d[3], d[4]),
        mode_indicator=d[5],
        sats_used=f.integer(d[6]),
        hdop=dop(d[7]),
        alt_m=f.decimal(d[8]),
    )


def _gll(talker: str, d: Fields) -> Gll:
    return Gll(
        talker=talker,
        tod_us=f.time_of_day(d[4]),
        lat=f.latitude(d[0], d[1]),
        lon=f.longitude(d[2], d[3]),
        status=d[5],
        mode_indicator=d[6],
    )


def _gsa(talker: str, d: Fields) -> Gsa:
    # 17 fields before NMEA 4.10; 18 with the system id. Longer ones (24-channel receivers)
    # carry more satellites and no system id.
    n = len(d)
    system_id = f.integer(d[17]) if n == 18 else None
    last_prn = 14 if n in (17, 18) else n - 3
    used = []
    for text in d.data[2:last_prn]:
        number = f.integer(text)
        sat = None if number is None else f.satellite(talker, number, system_id)
        if sat is not None:
            used.append(sat)
    return Gsa(
        talker=talker,
        fix_type=int(d[1]) if d[1] in ("1", "2", "3") else None,
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
    extra = (len(d) - 3) % 4
    if extra == 3:
        raise f.BadFieldError(f"{len(d)} fields do not make satellites")
    signal_id = _hex(d[len(d) - extra]) if extra else None
    system_id = f.integer(d[len(d) - 1]) if extra == 2 else None
    in_view = []
    for group in range(3, len(d) - extra, 4):
        number = f.integer(d[group])
        sat = None if number is None else f.satellite(talker, number, system_id)
        if sat is not None:
            in_view.append(sat)
    pages, page = f.integer(d[0]), f.integer(d[1])
    if pages is None or page is None:
        raise f.BadFieldError("GSV without page numbers")
    return Gsv(talker, pages, page, tuple(in_view), signal_id, system_id)


def _vtg(talker: str, d: Fields) -> Vtg:
    knots, kmh = f.decimal(d[4]), f.decimal(d[6])
    speed: float | None = None
    if knots is not None:
        speed = knots * KNOT_MPS
    elif kmh is not None:
        speed = kmh / 3.6
    return Vtg(talker, f.decimal(d[0]), speed, d[8])


def _zda(talker: str, d: Fields) -> Zda:
    day, month, year = f.integer(d[1]), f.integer(d[2]), f.integer(d[3])
    date = None
    if day is not None and month is not None and year is not None:
        date = f.calendar_date(day, month, year)
    return Zda(talker, f.time_of_day(d[0]), date)


def _gst(talker: str, d: Fields) -> Gst:
    return Gst(talker, f.time_of_day(d[0]), f.decimal(d[5]), f.decimal(d[6]), f.decimal(d[7]))


def _txt(talker: str, d: Fields) -> Txt:
    return Txt(talker, ",".join(d.data[3:]))


# Sentence type → (minimum data fields, handler). The minimums are gpsd's, so a sentence gpsd
# finds too short is too short here as well.
TABLE: dict[str, tuple[int, Callable[[str, Fields], Sentence]]] = {
    "GGA": (12, _gga),
    "RMC": (7, _rmc),
    "GNS": (12, _gns),
    "GLL": (6, _gll),
    "GSA": (17, _gsa),
    "GSV": (3, _gsv),
    "VTG": (4, _vtg),
    "ZDA": (4, _zda),
    "GST": (7, _gst),
    "TXT": (4, _txt),
}
MIN_FIELDS = {kind: minimum for kind, (minimum, _) in TABLE.items()}
