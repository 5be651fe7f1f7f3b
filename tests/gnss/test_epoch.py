"""Epoch assembly and the fix it becomes: dates, enders, satellites, mode, accuracy."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, date, datetime

import pytest

from gnss.epoch.assemble import new_fix
from gnss.epoch.decoder import Decoder
from gnss.epoch.rules import MAX_EPOCH
from gnss.model import Constellation as Sys
from gnss.model import Fix, FixMode, FixQuality

from .helpers import decode, nmea


def gga(
    time: str, quality: int = 1, sats: str = "12", alt: str = "30.0", hdop: str = "0.9"
) -> bytes:
    return nmea(f"GNGGA,{time},3035.6000,N,11418.3300,E,{quality},{sats},{hdop},{alt},M,8.3,M,,")


def rmc(time: str, day: str = "300626", status: str = "A", mode: str = "A") -> bytes:
    return nmea(f"GNRMC,{time},{status},3035.6000,N,11418.3300,E,1.0,90.0,{day},,,{mode},V")


def test_gga_before_rmc_takes_the_date_of_its_epoch() -> None:
    fixes, _ = decode(gga("120000"), rmc("120000"))
    assert [f.time for f in fixes] == [datetime(2026, 6, 30, 12, 0, tzinfo=UTC)]


def test_midnight_rollover_for_gga_only_epochs() -> None:
    fixes, _ = decode(rmc("235959", "300626"), gga("235959"), gga("000000"), gga("000001"))
    assert [f.time.date() for f in fixes] == [date(2026, 6, 30), date(2026, 7, 1), date(2026, 7, 1)]


def test_a_gga_only_receiver_is_dated_from_arrival() -> None:
    arrival = datetime(2026, 7, 1, 0, 0, 5, tzinfo=UTC).timestamp()  # just after midnight
    fixes, decoder = decode(gga("235958"), gga("235959"), received_at=arrival)
    assert [f.time for f in fixes] == [
        datetime(2026, 6, 30, 23, 59, 58, tzinfo=UTC),
        datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC),
    ]
    assert fixes[-1].received_at == datetime.fromtimestamp(arrival, UTC)
    assert decoder.counts.undated_epochs == 0


def test_without_a_date_or_an_arrival_time_epochs_are_counted_not_fixes() -> None:
    fixes, decoder = decode(gga("120000"), gga("120001"))
    assert fixes == [] and decoder.counts.undated_epochs == 2


def test_cold_start_epochs_without_time_are_counted() -> None:
    cycle = (
        nmea("GPGGA,,,,,,0,,,,M,,M,,"),
        nmea("GPGSA,A,1,,,,,,,,,,,,,,,"),
        nmea("GPRMC,,V,,,,,,,,,,N"),
    )
    fixes, decoder = decode(*cycle, *cycle, *cycle)
    assert fixes == [] and decoder.counts.untimed_epochs == 3


def test_several_gsv_runs_count_each_satellite_once() -> None:
    fixes, _ = decode(
        gga("120000"),
        rmc("120000"),
        nmea("GBGSV,1,1,03,07,40,083,46,08,20,100,40,35,60,200,44,1"),  # B1I
        nmea("GBGSV,1,1,02,07,40,083,41,35,60,200,40,5"),  # B2a: the same satellites again
        nmea("GPGSV,1,1,02,33,10,100,30,07,45,120,40"),  # SBAS 120 and GPS 7
    )
    assert dict(fixes[0].sats_in_view_by_system) == {Sys.GPS: 1, Sys.BEIDOU: 3, Sys.SBAS: 1}


def test_satellites_used_per_constellation_from_every_gsa() -> None:
    fixes, _ = decode(
        gga("120000"),
        rmc("120000"),
        nmea("GNGSA,A,3,02,09,13,,,,,,,,,,1.65,0.96,1.34,1"),
        nmea("GNGSA,A,3,201,205,233,,,,,,,,,,1.65,0.96,1.34,4"),
        nmea("GNGSA,A,3,401,405,402,401,,,,,,,,,1.65,0.96,1.34,4"),  # 401-style, repeats
    )
    fix = fixes[0]
    assert dict(fix.sats_used_by_system) == {Sys.GPS: 3, Sys.BEIDOU: 4}
    assert fix.sats_used == 7 and fix.beidou_used == 4
    assert (fix.pdop, fix.hdop, fix.vdop) == (1.65, 0.9, 1.34)  # HDOP from GGA first


def test_a_learned_cycle_ender_lets_the_epoch_out_at_once() -> None:
    decoder = Decoder()
    emitted = []
    for second in range(3):
        time = f"12000{second}"
        for line in (rmc(time), gga(time), nmea("GNZDA," + time + ",30,06,2026,00,00")):
            emitted.append(len(decoder.feed(line)))
    # Cycle 1 closes when cycle 2 starts (ZDA is then learned as the last sentence of a cycle);
    # cycle 2 and 3 each close on their own ZDA.
    assert emitted == [0, 0, 0, 1, 0, 1, 0, 0, 1]


def test_a_wrong_ender_is_forgotten() -> None:
    gsa = nmea("GNGSA,A,3,02,09,13,,,,,,,,,,1.65,0.96,1.34,1")
    lines = [gga("120000"), rmc("120000"), gsa, gga("120001"), rmc("120001"), gsa]
    # GSA was last twice, so it is the ender; then a cycle sends it before RMC.
    lines += [gga("120002"), gsa, rmc("120002"), gga("120003"), gsa, rmc("120003")]
    fixes, _ = decode(*lines)
    times = [f.time.second for f in fixes]
    assert times == [0, 1, 2, 2, 3]  # the mistaken cut once, then the ender is learned again


def test_a_receiver_stuck_on_one_time_makes_epochs_of_bounded_size() -> None:
    decoder = Decoder()
    for _ in range(MAX_EPOCH + 10):
        decoder.feed(gga("120000"))
    assert len(decoder.state.pending) <= MAX_EPOCH


def test_no_fix_epochs_still_make_fixes_for_liveness() -> None:
    fixes, _ = decode(
        nmea("GNGGA,120000.00,,,,,0,00,99.99,,,,,,"), nmea("GNRMC,120000.00,V,,,,,,,300626,,,N,V")
    )
    (fix,) = fixes
    assert (fix.mode, fix.quality, fix.lat, fix.raw_position, fix.accuracy_m) == (
        FixMode.NO_FIX,
        FixQuality.INVALID,
        None,
        None,
        None,
    )


def test_modes() -> None:
    only_rmc, _ = decode(rmc("120000"), rmc("120001"))
    assert [f.mode for f in only_rmc] == [FixMode.TWO_D] * 2
    three_then_rmc, _ = decode(gga("120000"), rmc("120000"), rmc("120001"))
    assert [f.mode for f in three_then_rmc] == [FixMode.THREE_D] * 2  # 3D is kept, as in gpsd
    gsa_says_3d, _ = decode(rmc("120000"), nmea("GNGSA,A,3,02,09,13,14,,,,,,,,,1.6,0.9,1.3,1"))
    assert gsa_says_3d[0].mode is FixMode.THREE_D
    no_satellites, _ = decode(gga("120000", sats="00"), rmc("120000"))
    assert no_satellites[0].mode is FixMode.TWO_D and no_satellites[0].alt_m == 30.0


@pytest.mark.parametrize(
    ("indicator", "quality"),
    [
        ("A", FixQuality.GPS),
        ("D", FixQuality.DGPS),
        ("R", FixQuality.RTK_FIXED),
        ("F", FixQuality.RTK_FLOAT),
        ("E", FixQuality.ESTIMATED),
    ],
)
def test_without_gga_the_quality_comes_from_the_faa_mode(
    indicator: str, quality: FixQuality
) -> None:
    fixes, _ = decode(rmc("120000", mode=indicator))
    assert fixes[0].quality is quality


def test_accuracy_from_gst_sigmas_else_hdop_times_uere() -> None:
    plain, _ = decode(gga("120000", hdop="0.8"), rmc("120000"))
    assert plain[0].accuracy_m == 3.2  # 0.8 × 4 m (autonomous)
    rtk, _ = decode(
        gga("120000", quality=4, hdop="0.6"),
        rmc("120000", mode="R"),
        nmea("GNGST,120000,1.2,,,,0.012,0.016,0.03"),
    )
    assert rtk[0].accuracy_m == 0.02
    assert (rtk[0].sigma_lat_m, rtk[0].sigma_lon_m, rtk[0].sigma_alt_m) == (0.012, 0.016, 0.03)


def test_speed_and_course_from_rmc_else_vtg() -> None:
    with_rmc, _ = decode(gga("120000"), rmc("120000"), nmea("GNVTG,45.0,T,,M,3.0,N,5.6,K,A"))
    assert with_rmc[0].course_deg == 90.0
    only_vtg, _ = decode(
        nmea("GNZDA,120000,30,06,2026,00,00"), gga("120000"), nmea("GNVTG,45.0,T,,M,,N,3.6,K,A")
    )
    assert (only_vtg[0].course_deg, only_vtg[0].speed_mps) == (45.0, 1.0)


def test_the_first_position_sentence_is_kept_for_anti_replay() -> None:
    fixes, _ = decode(nmea("GNZDA,120000,30,06,2026,00,00"), rmc("120000"), gga("120000"))
    assert fixes[0].raw_position == rmc("120000").decode()


def test_received_at_is_the_arrival_of_the_epochs_last_line() -> None:
    decoder = Decoder()
    decoder.feed(gga("120000"), 1000.0)
    decoder.feed(rmc("120000"), 1000.5)
    (fix,) = decoder.flush()
    assert fix.received_at == datetime.fromtimestamp(1000.5, UTC)


def test_fixes_built_slot_by_slot_equal_fixes_built_normally() -> None:
    fixes, _ = decode(gga("120000"), rmc("120000"), nmea("GNGST,120000,1.2,,,,0.5,0.6,0.9"))
    values = [getattr(fixes[0], f.name) for f in fields(Fix)]
    built, normal = new_fix(*values), Fix(*values)
    assert built == normal and repr(built) == repr(normal)
