"""Receiver families: how each class of receivers talks (talkers, order, NMEA version, extras).

:mod:`devkit.simulate` makes a family's sentences; a family is data, and a variant is one
:func:`dataclasses.replace` away (``devkit.simulate.family("casic", cold_start=0)``).

>>> FAMILIES["quectel-lc79d"].beidou_offset, FAMILIES["bd-only"].talker
(200, 'BD')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gnss.model import Constellation

__all__ = ["FAMILIES", "GSV_TALKERS", "SYSTEM_IDS", "Family", "TrackPoint"]


@dataclass(frozen=True, slots=True)
class TrackPoint:
    """Where the receiver is at one epoch. ``quality`` overrides the family's GGA quality."""

    time: datetime  # UTC
    lat: float
    lon: float
    alt_m: float = 30.0
    fix: bool = True
    quality: int | None = None


@dataclass(frozen=True, slots=True)
class Family:
    """How one class of receivers talks."""

    receiver: str
    notes: str
    talker: str = "GN"  # of GGA, RMC, GSA…
    order: tuple[str, ...] = ("RMC", "VTG", "GGA", "GSA", "GSV", "GLL")
    gsv_talkers: dict[Constellation, str] = field(default_factory=dict)
    signals: dict[Constellation, tuple[str, ...]] = field(default_factory=dict)  # () = NMEA 4.0
    gsa_system_id: bool = True
    beidou_offset: int = 0  # 0: 1–63 (NMEA 4.11); 200: 201–263 (Quectel, SiRF)
    time_decimals: int = 2
    coord_decimals: int = 5
    nav_status: bool = True  # NMEA 4.1 RMC field 13
    gga_cap: int = 12  # satellites GGA can report
    quality: int = 1
    banner: str | None = None
    binary_every: int = 0
    cold_start: int = 0  # epochs before the receiver knows the time


GSV_TALKERS = {
    Constellation.GPS: "GP",
    Constellation.GLONASS: "GL",
    Constellation.GALILEO: "GA",
    Constellation.BEIDOU: "GB",
    Constellation.QZSS: "GQ",
}
SYSTEM_IDS = {
    Constellation.GPS: 1,
    Constellation.GLONASS: 2,
    Constellation.GALILEO: 3,
    Constellation.BEIDOU: 4,
    Constellation.QZSS: 5,
}

FAMILIES: dict[str, Family] = {
    "casic": Family(
        "CASIC AT6558-class module (ATGM336H), GPS + BeiDou, NMEA 4.1",
        "BD talker for BeiDou satellites, $GPTXT antenna banner every epoch, CASIC binary "
        "packets mixed into the stream, a cold start with empty fields",
        order=("GGA", "GLL", "GSA", "GSV", "RMC", "VTG", "ZDA", "TXT"),
        gsv_talkers={Constellation.GPS: "GP", Constellation.BEIDOU: "BD"},
        signals={Constellation.GPS: (), Constellation.BEIDOU: ()},
        time_decimals=3,
        coord_decimals=5,
        banner="ANTENNA OK",
        binary_every=7,
        cold_start=4,
    ),
    "ublox-f9p": Family(
        "u-blox ZED-F9P, NMEA 4.11, four constellations, two signals each",
        "GB talker, one GNGSA per constellation with the system id, two GSV runs per "
        "constellation (signal ids), 13-field RMC whose navigational status is V",
        order=("RMC", "VTG", "GGA", "GSA", "GSV", "GLL", "GST", "ZDA"),
        signals={
            Constellation.GPS: ("1", "6"),
            Constellation.GLONASS: ("1", "3"),
            Constellation.GALILEO: ("7", "2"),
            Constellation.BEIDOU: ("1", "B"),
        },
    ),
    "unicore": Family(
        "Unicore UM980-class, all-constellation triple-frequency, NMEA 4.11",
        "three BeiDou signals (B1I, B2a, B3I: signal ids 1, 5, 8), GST every epoch, "
        "seven-decimal positions, 24 satellites in GGA",
        order=("GGA", "GSA", "GSV", "RMC", "GST", "ZDA"),
        signals={
            Constellation.GPS: ("1", "8"),
            Constellation.GALILEO: ("7", "1"),
            Constellation.BEIDOU: ("1", "5", "8"),
            Constellation.QZSS: ("1",),
        },
        coord_decimals=7,
        gga_cap=99,
    ),
    "quectel-lc79d": Family(
        "Quectel LC79D, dual-band GNSS, BeiDou numbered 201 and up",
        "GN talker for fixes, $GBGSV and GNGSA with BeiDou PRNs 201–263, system ids",
        order=("RMC", "GGA", "GSA", "GSV", "VTG"),
        signals={
            Constellation.GPS: ("1", "8"),
            Constellation.GLONASS: ("1",),
            Constellation.GALILEO: ("7",),
            Constellation.BEIDOU: ("1",),
        },
        beidou_offset=200,
        nav_status=False,
    ),
    "rtk": Family(
        "RTK rover (u-blox ZED-F9P with corrections), GGA quality 1 → 5 → 4",
        "single, then RTK float, then RTK fixed; eight-decimal positions, centimetre GST "
        "sigmas, correction age and base station id in GGA",
        order=("GGA", "RMC", "GSA", "GSV", "GST"),
        signals={Constellation.GPS: ("1",), Constellation.BEIDOU: ("1",)},
        coord_decimals=8,
        quality=4,
    ),
    "bd-only": Family(
        "BeiDou-only module (Chinese standard BD talker), NMEA 4.0",
        "every sentence under the BD talker: $BDGGA, $BDRMC, $BDGSA, $BDGSV with GEO "
        "satellites 1–5 and numbers above 32 (BeiDou, not SBAS)",
        talker="BD",
        order=("GGA", "GSA", "GSV", "RMC"),
        gsv_talkers={Constellation.BEIDOU: "BD"},
        signals={Constellation.BEIDOU: ()},
        gsa_system_id=False,
        nav_status=False,
    ),
}
