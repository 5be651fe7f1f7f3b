"""Headers, layouts and locations at their edges: each malformed body is refused with the
reason that says what is wrong, and the odd but valid ones are read."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from gnss.jt808.codec import decode, decode_payload, encode
from gnss.jt808.framing import wrap
from gnss.jt808.header import Header, parse
from gnss.jt808.header import encode as encode_header
from gnss.jt808.location import LOCATION, Location
from gnss.jt808.messages import (
    Edition,
    Heartbeat,
    LocationBatch,
    LocationReport,
    Registration,
    TerminalResponse,
    decode_body,
    encode_body,
)
from gnss.jt808.reasons import FrameReason, FrameRejection

from .samples import FIX, PHONE

H200 = Header(0x0200, PHONE, 1)


def body_of(location: Location) -> bytes:
    return LOCATION.write(location)


def refused(header: Header, body: bytes) -> FrameReason:
    outcome = decode_body(header, body)
    assert isinstance(outcome, FrameRejection), outcome
    assert outcome.header == header
    return outcome.reason


# --- headers ------------------------------------------------------------------------------------


def test_a_body_shorter_or_longer_than_the_header_says() -> None:
    payload = encode_header(Header(0x0002, PHONE, 5), b"")
    short = payload[:2] + b"\x00\x04" + payload[4:]  # says 4 bytes of body, has none
    long = payload + b"\x00"
    for data, reason in ((short, FrameReason.TRUNCATED), (long, FrameReason.BAD_LENGTH)):
        outcome = parse(data)
        assert isinstance(outcome, FrameRejection) and outcome.reason is reason
        assert outcome.header is not None and outcome.header.serial == 5


@pytest.mark.parametrize("size", [0, 3, 4, 11, 16])
def test_a_payload_shorter_than_its_header_is_too_short(size: int) -> None:
    payload = encode_header(Header(0x0002, "0" * 20, 5, protocol_version=1), b"")[:size]
    outcome = parse(payload)
    assert isinstance(outcome, FrameRejection) and outcome.reason is FrameReason.TOO_SHORT


def test_sub_packaged_headers_carry_the_packet_count_and_index() -> None:
    header = Header(0x0801, PHONE, 9, packet_count=3, packet_index=2)
    parsed = parse(encode_header(header, b"abc"))
    assert parsed == (header, b"abc")
    assert refused(header, b"abc") is FrameReason.SUBPACKAGED


def test_encoding_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        encode_header(Header(0x0200, PHONE, 1), bytes(1024))
    with pytest.raises(ValueError, match="digits"):
        encode_header(Header(0x0200, "0" * 13, 1), b"")


def test_a_short_phone_number_is_padded_with_zeros_in_front() -> None:
    frame = encode(Heartbeat(Header(0x0002, "13800138000", 1)))
    decoded = decode(frame)
    assert isinstance(decoded, Heartbeat) and decoded.header.phone == "013800138000"


# --- layouts ------------------------------------------------------------------------------------


def test_bytes_after_the_last_field_are_refused() -> None:
    body = encode_body(TerminalResponse(Header(0x0001, PHONE, 1), 1, 2, 0))
    assert refused(Header(0x0001, PHONE, 1), body + b"\x00") is FrameReason.BAD_FIELD
    assert refused(Header(0x0001, PHONE, 1), body[:-1]) is FrameReason.TOO_SHORT
    assert refused(Header(0x0002, PHONE, 1), b"\x00") is FrameReason.BAD_FIELD


def test_a_batch_must_hold_as_many_items_as_it_counts() -> None:
    header = Header(0x0704, PHONE, 1)
    body = encode_body(LocationBatch(header, 0, (FIX, FIX)))
    assert refused(header, b"\x00\x03" + body[2:]) is FrameReason.TOO_SHORT
    assert refused(header, b"\x00\x01" + body[2:]) is FrameReason.BAD_FIELD
    # An item whose length leaves out part of its basic information.
    item = body[5 : 5 + 27]
    assert refused(header, b"\x00\x01\x00\x00\x1b" + item) is FrameReason.TOO_SHORT


def test_registrations_are_told_apart_by_header_and_length() -> None:
    base = Registration(Header(0x0100, PHONE, 1), 1, 2, "M", "X", "T", 1, "京A00001")
    for edition, header in (
        (Edition.V2011, base.header),
        (Edition.V2013, base.header),
        (Edition.V2019, Header(0x0100, "0" * 20, 1, protocol_version=1)),
    ):
        message = dataclasses.replace(base, header=header, edition=edition)
        assert decode_body(header, encode_body(message)) == message
    with pytest.raises(ValueError, match="2019"):
        encode_body(dataclasses.replace(base, edition=Edition.V2019))


def test_undecodable_text_is_kept_with_replacement_characters() -> None:
    header = Header(0x0100, PHONE, 1)
    body = encode_body(Registration(header, 1, 2, "M", "X", "T", 1, ""))
    registration = decode_body(header, body + b"\xff\xff\x81")
    assert isinstance(registration, Registration) and "\ufffd" in registration.plate


# --- locations ----------------------------------------------------------------------------------


def report(location: Location) -> Location | FrameReason:
    outcome = decode_payload(encode_header(H200, body_of(location)))
    if isinstance(outcome, FrameRejection):
        return outcome.reason
    assert isinstance(outcome, LocationReport)
    return outcome.location


def test_a_terminal_without_a_clock_yet_sends_no_time() -> None:
    location = report(dataclasses.replace(FIX, device_time=None))
    assert isinstance(location, Location) and location.device_time is None
    assert location.time is None


@pytest.mark.parametrize("raw", ["2605011600aa", "261301160000", "260230160000", "260501246000"])
def test_a_time_that_is_not_a_time_is_a_bad_field(raw: str) -> None:
    body = bytearray(body_of(FIX))
    body[22:28] = bytes.fromhex(raw)
    assert refused(H200, bytes(body)) is FrameReason.BAD_FIELD


@pytest.mark.parametrize(
    ("lat", "lon", "ok"),
    [(90_000_000, 180_000_000, True), (90_000_001, 0, False), (0, 180_000_001, False)],
)
def test_coordinates_beyond_the_poles_or_the_antimeridian_are_refused(
    lat: int, lon: int, ok: bool
) -> None:
    outcome = report(dataclasses.replace(FIX, lat_microdeg=lat, lon_microdeg=lon))
    assert isinstance(outcome, Location) if ok else outcome is FrameReason.BAD_FIELD


def test_a_basic_information_shorter_than_28_bytes_is_too_short() -> None:
    for size in (0, 10, 21, 27):
        assert refused(H200, body_of(FIX)[:size]) is FrameReason.TOO_SHORT


def test_below_sea_level_and_odd_items() -> None:
    location = dataclasses.replace(
        FIX, alt_m=-430, extras=((0x31, b"\x01\x02"), (0x30, b""), (0x01, b"\x00\x01"))
    )
    decoded = report(location)
    assert isinstance(decoded, Location) and decoded.alt_m == -430
    # Items of the wrong size are kept raw but not read as numbers.
    assert (decoded.sats_used, decoded.signal_strength, decoded.mileage_km) == (None, None, None)


def test_the_first_item_of_a_kind_counts() -> None:
    decoded = report(dataclasses.replace(FIX, extras=((0x31, b"\x09"), (0x31, b"\x02"))))
    assert isinstance(decoded, Location) and decoded.sats_used == 9


def test_beidou_verified_needs_the_bit_and_four_satellites() -> None:
    def claim(status: int, sats: int) -> bool:
        return dataclasses.replace(
            FIX, status=status, extras=((0x31, bytes((sats,))),)
        ).beidou_verified

    assert claim(FIX.status, 4) and not claim(FIX.status, 3)
    assert not claim(FIX.status & ~(1 << 19), 12)
    assert not dataclasses.replace(FIX, extras=()).beidou_verified


def test_the_basic_information_is_the_first_28_bytes_as_sent() -> None:
    assert FIX.basic == body_of(FIX)[:28]
    assert FIX.device_time == datetime(2026, 5, 1, 16, 0)


def test_a_frame_round_trips_through_wrap() -> None:
    payload = encode_header(H200, body_of(FIX))
    assert decode(wrap(payload)) == LocationReport(H200, FIX)
