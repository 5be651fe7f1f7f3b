"""Hypothesis strategies for JT/T 808 messages: every field anywhere in its range, text in GBK,
bodies within the 1023 bytes of one packet."""

from __future__ import annotations

from datetime import datetime

from hypothesis import strategies as st

from gnss.jt808.header import Header
from gnss.jt808.location import Location
from gnss.jt808.messages import (
    Authentication,
    Deregistration,
    Edition,
    Heartbeat,
    LocationBatch,
    LocationReport,
    Message,
    MessageId,
    PlatformResponse,
    Registration,
    RegistrationResponse,
    TerminalResponse,
)

U8 = st.integers(0, 0xFF)
U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFF_FFFF)
# ASCII and a few characters a plate or maker name uses; GBK encodes each in 1 or 2 bytes.
TEXT_CHARS = st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZabcxyz0123456789-._ 粤京测沪鄂川黑")


def text(max_bytes: int) -> st.SearchStrategy[str]:
    return st.text(TEXT_CHARS, max_size=max_bytes).filter(
        lambda s: len(s.encode("gbk")) <= max_bytes and s == s.strip("\x00")
    )


def header(msg_id: int, *, version: bool | None = None) -> st.SearchStrategy[Header]:
    versions = st.none() | U8 if version is None else (U8 if version else st.none())

    def build(protocol_version: int | None, serial: int, draw_phone: str) -> Header:
        digits = 20 if protocol_version is not None else 12
        return Header(msg_id, draw_phone[:digits].rjust(digits, "0"), serial, protocol_version)

    return st.builds(build, versions, U16, st.text("0123456789", min_size=20, max_size=20))


device_times = st.none() | st.datetimes(
    datetime(2000, 1, 1), datetime(2099, 12, 31, 23, 59, 59)
).map(lambda t: t.replace(microsecond=0))
extras = st.lists(st.tuples(U8, st.binary(max_size=12)), max_size=4).map(tuple)


@st.composite
def extras_tails(draw: st.DrawFn) -> bytes:
    """Nothing, or bytes that break the item format: an item longer than what follows."""
    if draw(st.booleans()):
        return b""
    data = draw(st.binary(max_size=10))
    return bytes((draw(U8), len(data) + draw(st.integers(1, 20)))) + data


locations = st.builds(
    Location,
    alarm=U32,
    status=U32,
    lat_microdeg=st.integers(0, 90_000_000),
    lon_microdeg=st.integers(0, 180_000_000),
    alt_m=st.integers(-0x8000, 0x7FFF),
    speed_tenth_kmh=U16,
    heading_deg=U16,
    device_time=device_times,
    extras=extras,
    extras_tail=extras_tails(),
)


@st.composite
def registrations(draw: st.DrawFn) -> Registration:
    edition = draw(st.sampled_from(Edition))
    sizes = {Edition.V2011: (5, 8, 7), Edition.V2013: (5, 20, 7), Edition.V2019: (11, 30, 30)}
    maker, model, terminal = sizes[edition]
    head = draw(header(MessageId.REGISTRATION, version=edition is Edition.V2019))
    plate = draw(text(20))
    if edition is Edition.V2011:
        # A 2011 body is told from a 2013 one by its length (under 37 bytes).
        plate = plate.encode("gbk")[:11].decode("gbk", errors="ignore")
    return Registration(
        head,
        province_id=draw(U16),
        city_id=draw(U16),
        manufacturer=draw(text(maker)),
        model=draw(text(model)),
        terminal_id=draw(text(terminal)),
        plate_color=draw(U8),
        plate=plate,
        edition=edition,
    )


@st.composite
def authentications(draw: st.DrawFn) -> Authentication:
    head = draw(header(MessageId.AUTHENTICATION))
    if head.is_2019:
        return Authentication(head, draw(st.binary(max_size=64)), draw(text(15)), draw(text(20)))
    return Authentication(head, draw(st.binary(max_size=64)))


def _responses(
    cls: type[TerminalResponse] | type[PlatformResponse], msg_id: int
) -> st.SearchStrategy[Message]:
    return st.builds(cls, header(msg_id), U16, U16, U8)


messages: st.SearchStrategy[Message] = st.one_of(
    _responses(TerminalResponse, MessageId.TERMINAL_RESPONSE),
    _responses(PlatformResponse, MessageId.PLATFORM_RESPONSE),
    st.builds(Heartbeat, header(MessageId.HEARTBEAT)),
    st.builds(Deregistration, header(MessageId.DEREGISTRATION)),
    registrations(),
    authentications(),
    st.builds(LocationReport, header(MessageId.LOCATION), locations),
    st.builds(
        LocationBatch,
        header(MessageId.LOCATION_BATCH),
        U8,
        st.lists(locations, max_size=6).map(tuple),
    ),
    st.builds(
        RegistrationResponse,
        header(MessageId.REGISTRATION_RESPONSE),
        U16,
        U8,
        st.binary(max_size=40),
    ),
)
