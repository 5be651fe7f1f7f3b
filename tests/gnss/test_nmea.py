"""The reference parser: framing, named rejections, and the BeiDou fields pynmea2 gets wrong."""

from __future__ import annotations

import pynmea2
import pytest

from gnss.model import Constellation as Sys
from gnss.nmea.parser import parse, parse_line, split_lines
from gnss.nmea.sentences import Gga, Gsa, Gsv, Reason, Rejection, Rmc, Txt

from .helpers import nmea

GGA = nmea("GNGGA,013012.000,3035.6000,N,11418.3300,E,1,12,0.9,30.0,M,8.3,M,,")


def reason(line: bytes) -> Reason:
    outcome = parse(line)
    assert isinstance(outcome, Rejection), outcome
    return outcome.reason


def test_a_good_sentence_becomes_typed_values() -> None:
    gga = parse(GGA)
    assert isinstance(gga, Gga)
    assert (gga.talker, gga.tod_us, gga.quality, gga.sats_used, gga.hdop, gga.alt_m) == (
        "GN",
        5_412_000_000,
        1,
        12,
        0.9,
        30.0,
    )
    assert gga.lat == pytest.approx(30.593333333) and gga.lon == pytest.approx(114.3055)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"", Reason.EMPTY),
        (b"  \t", Reason.EMPTY),
        (b"# Name: a comment", Reason.COMMENT),
        (b"\xb5\x62\x01\x07" + GGA, Reason.BINARY),
        (GGA[:-3], Reason.TRUNCATED),  # no checksum at all
        (GGA[:-1], Reason.TRUNCATED),  # cut inside the checksum
        (GGA + b"XY", Reason.FRAMING),
        (GGA[1:], Reason.FRAMING),  # no `$`
        (GGA[:-1] + (b"0" if GGA[-1:] != b"0" else b"1"), Reason.CHECKSUM),
        (nmea("GNGBS,013013.000,2.3,3.5,4.0,,,,,,"), Reason.UNKNOWN_TYPE),
        (nmea("PUBX,00,013013.00"), Reason.UNKNOWN_TYPE),
        (nmea("GPGGA,013013,1"), Reason.TOO_SHORT),
        (
            nmea("GNGGA,013014.000,30x5.6000,N,11418.3300,E,1,12,0.9,30.0,M,8.3,M,,"),
            Reason.BAD_FIELD,
        ),
        (nmea("GNGGA,013014.000,3035.6,N,11418.33,E,9,12,0.9,30.0,M,8.3,M,,"), Reason.BAD_FIELD),
        (nmea("GPTXT,01,01,02," + "X" * 200), Reason.TOO_LONG),
    ],
)
def test_every_refusal_has_a_named_reason(line: bytes, why: Reason) -> None:
    assert reason(line) is why


def test_doubled_start_is_read_although_pynmea2_refuses_it() -> None:
    with pytest.raises(pynmea2.ParseError):
        pynmea2.parse((b"$" + GGA).decode(), check=True)
    assert parse(b"$" + GGA) == parse(GGA)


def test_glued_sentences_are_one_outcome_each() -> None:
    rmc = nmea("GNRMC,013012.000,A,3035.6000,N,11418.3300,E,0.5,,080526,,,A,V")
    assert [type(o) for o in parse_line(GGA + rmc)] == [Gga, Rmc]
    # A truncated sentence followed by a whole one (a receiver that lost bytes).
    outcomes = parse_line(b"$GPGSV,3,1,11,23,87,270,,13,68,270," + rmc)
    assert isinstance(outcomes[0], Rejection) and isinstance(outcomes[1], Rmc)


def test_binary_protocol_before_a_sentence_on_the_same_line() -> None:
    outcomes = parse_line(b"\xba\xce\x10\x00\x06\x01" + GGA)
    assert [getattr(o, "reason", None) for o in outcomes] == [Reason.BINARY, None]


def test_a_comment_mentioning_sentences_stays_one_comment() -> None:
    assert [o.reason for o in parse_line(b"# Note: " + GGA) if isinstance(o, Rejection)] == [
        Reason.COMMENT
    ]


def test_lowercase_checksums_and_trailing_whitespace_are_fine() -> None:
    assert isinstance(parse(GGA[:-2] + GGA[-2:].lower() + b" \r"), Gga)


def test_banners_are_accepted_but_say_nothing_of_a_fix() -> None:
    txt = parse(nmea("GPTXT,01,01,02,ANTSTATUS=OK"))
    assert isinstance(txt, Txt) and txt.text == "ANTSTATUS=OK"


def test_cold_start_empty_fields_are_none() -> None:
    gga = parse(nmea("GNGGA,,,,,,0,00,25.5,,,,,,"))
    assert isinstance(gga, Gga)
    assert (gga.tod_us, gga.lat, gga.lon, gga.quality, gga.hdop, gga.alt_m) == (
        None,
        None,
        None,
        0,
        25.5,
        None,
    )
    assert not gga.valid
    rmc = parse(nmea("GNRMC,,V,,,,,,,,,,N,V"))
    assert isinstance(rmc, Rmc) and not rmc.valid and rmc.date is None


def test_placeholder_dops_are_unknown() -> None:
    gga = parse(nmea("GNGGA,013012.000,,,,,0,00,99.99,,,,,,"))
    assert isinstance(gga, Gga) and gga.hdop is None


def test_13_field_rmc_validity_ignores_the_navigational_status() -> None:
    rmc = parse(nmea("GNRMC,003956.00,A,4552.65403,S,17030.00668,E,0.025,,120419,,,A,V"))
    assert isinstance(rmc, Rmc) and rmc.valid
    assert rmc.speed_mps == pytest.approx(0.025 * 1852 / 3600)
    void = parse(nmea("GNRMC,003956.00,A,4552.65403,S,17030.00668,E,0.025,,120419,,,N,V"))
    assert isinstance(void, Rmc) and not void.valid  # FAA mode N: not valid


def test_gsa_system_id_which_pynmea2_hides() -> None:
    line = nmea("GNGSA,A,3,13,12,22,19,08,21,,,,,,,1.05,0.64,0.83,4")
    assert "4" not in [getattr(pynmea2.parse(line.decode()), f[1]) for f in pynmea2.GSA.fields]
    gsa = parse(line)
    assert isinstance(gsa, Gsa) and gsa.system_id == 4
    assert gsa.used == tuple((Sys.BEIDOU, n) for n in (13, 12, 22, 19, 8, 21))
    assert (gsa.pdop, gsa.hdop, gsa.vdop, gsa.fix_type) == (1.05, 0.64, 0.83, 3)


def test_short_beidou_gsv_page_signal_id_is_not_a_satellite() -> None:
    line = nmea("GBGSV,3,3,10,21,41,301,35,22,82,135,17,1")
    # pynmea2 reads the signal id as the PRN of a third satellite on this short page.
    assert pynmea2.parse(line.decode()).sv_prn_num_3 == "1"
    gsv = parse(line)
    assert isinstance(gsv, Gsv)
    assert gsv.in_view == ((Sys.BEIDOU, 21), (Sys.BEIDOU, 22)) and gsv.signal_id == 1


def test_nmea_411_hexadecimal_signal_ids() -> None:
    gsv = parse(nmea("GBGSV,1,1,01,19,28,123,16,B"))
    assert isinstance(gsv, Gsv) and gsv.signal_id == 11


def test_quectel_pq_talker_with_signal_and_system_ids() -> None:
    gsv = parse(nmea("PQGSV,1,1,02,12,46,282,30,19,50,092,31,0,4"))
    assert isinstance(gsv, Gsv)
    assert (gsv.talker, gsv.signal_id, gsv.system_id) == ("PQ", 0, 4)
    assert gsv.in_view == ((Sys.BEIDOU, 12), (Sys.BEIDOU, 19))
    qzss = parse(nmea("PQGSA,A,3,,,,,,,,,,,,,1.2,0.9,0.9,5"))
    assert isinstance(qzss, Gsa) and qzss.system_id == 5


def test_beidou_numbers_above_32_under_bd_talker_are_not_sbas() -> None:
    gsv = parse(nmea("BDGSV,1,1,02,35,72,090,40,45,67,121,33"))
    assert isinstance(gsv, Gsv)
    assert gsv.in_view == ((Sys.BEIDOU, 35), (Sys.BEIDOU, 45))


def test_gsv_with_a_broken_satellite_block_is_a_bad_field() -> None:
    assert reason(nmea("GPGSV,1,1,01,07,40,083")) is Reason.BAD_FIELD


def test_lines_are_split_on_lf_with_one_cr_dropped() -> None:
    assert split_lines(b"$A*00\r\n$B*00\n\r\n$C*00") == [b"$A*00", b"$B*00", b"", b"$C*00"]
