"""Strict field conversions and satellite numbering (gnss.nmea.fields)."""

from __future__ import annotations

from datetime import date

import pytest

from gnss.model import Constellation as Sys
from gnss.nmea import fields


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1.7", 1.7),
        ("-30.40", -30.4),
        ("03.4", 3.4),
        ("5.", 5.0),
        (".5", 0.5),
        ("+2", 2.0),
        ("", None),
    ],
)
def test_decimals(text: str, value: float | None) -> None:
    assert fields.decimal(text) == value


@pytest.mark.parametrize("text", ["1e5", "nan", "inf", "1_0", " 1", "1.2.3", ".", "-", "0x1"])
def test_decimals_refuse_what_float_would_take(text: str) -> None:
    with pytest.raises(fields.BadFieldError):
        fields.decimal(text)


def test_angles_are_degrees_and_minutes_with_hemisphere() -> None:
    assert fields.latitude("4552.65403", "S") == -(45 + 52.65403 / 60)
    assert fields.longitude("17030.00668", "E") == 170 + 30.00668 / 60
    assert fields.longitude("08704.08478", "W") == -(87 + 4.08478 / 60)
    assert fields.latitude("0000.0000", "N") == 0.0


def test_a_signed_longitude_is_west_whatever_hemisphere_follows() -> None:
    assert fields.longitude("-11418.3300", "E") == -(114 + 18.33 / 60)
    assert fields.longitude("-11418.3300", "W") == -(114 + 18.33 / 60)


def test_a_position_needs_value_and_hemisphere() -> None:
    assert fields.latitude("", "N") is None
    assert fields.latitude("3035.6", "") is None


@pytest.mark.parametrize(
    ("text", "hemisphere"),
    [("30x5.6", "N"), ("3060.0", "N"), ("9100.0", "N"), ("35.6", "N"), ("3035.6", "E")],
)
def test_bad_angles(text: str, hemisphere: str) -> None:
    with pytest.raises(fields.BadFieldError):
        fields.latitude(text, hemisphere)


def test_times_of_day_in_microseconds() -> None:
    assert fields.time_of_day("000000") == 0
    assert fields.time_of_day("235959.999") == 86_399_999_000
    assert fields.time_of_day("120000.1234567") == 43_200_123_456  # past microseconds: dropped
    for bad in ("240000", "126000", "120060", "12000", "1200a0", "120000,5"):
        with pytest.raises(fields.BadFieldError):
            fields.time_of_day(bad)


def test_rmc_dates_take_their_century_from_gps() -> None:
    assert fields.ddmmyy("300626") == date(2026, 6, 30)
    assert fields.ddmmyy("231299") == date(1999, 12, 23)
    with pytest.raises(fields.BadFieldError):
        fields.ddmmyy("310226")


@pytest.mark.parametrize(
    ("talker", "number", "system_id", "expected"),
    [
        # BeiDou arrives as 1–63, 201–263 or 401–463 depending on the vendor: all are BeiDou.
        ("GB", 7, None, (Sys.BEIDOU, 7)),
        ("BD", 37, None, (Sys.BEIDOU, 37)),
        ("GN", 209, None, (Sys.BEIDOU, 9)),
        ("GP", 245, None, (Sys.BEIDOU, 45)),
        ("GN", 401, None, (Sys.BEIDOU, 1)),
        ("GN", 13, 4, (Sys.BEIDOU, 13)),
        ("PQ", 12, None, (Sys.BEIDOU, 12)),
        # 33–64 is SBAS only when nothing says otherwise.
        ("GP", 33, None, (Sys.SBAS, 120)),
        ("GN", 33, 4, (Sys.BEIDOU, 33)),
        ("BD", 58, None, (Sys.BEIDOU, 58)),
        ("GL", 82, None, (Sys.GLONASS, 18)),
        ("GN", 82, 2, (Sys.GLONASS, 18)),
        ("GA", 103, 3, (Sys.GALILEO, 3)),
        ("GP", 193, None, (Sys.QZSS, 1)),
        ("GQ", 3, None, (Sys.QZSS, 3)),
        ("PQ", 3, 5, (Sys.QZSS, 3)),
        ("GP", 0, None, None),
        ("GP", 99, None, None),
        ("GB", 64, None, None),
    ],
)
def test_satellite_numbering(
    talker: str, number: int, system_id: int | None, expected: tuple[Sys, int] | None
) -> None:
    assert fields.satellite(talker, number, system_id) == expected
