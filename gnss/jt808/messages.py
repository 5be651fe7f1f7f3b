"""The JT/T 808 messages partymap reads and writes, each with one layout table
(:mod:`gnss.jt808.layout`) that both :func:`decode_body` and :func:`encode_body` use.

Terminal to platform: 0x0001 general response, 0x0002 heartbeat, 0x0003 deregistration,
0x0100 registration, 0x0102 authentication, 0x0200 location report, 0x0704 location batch.
Platform to terminal: 0x8001 general response, 0x8100 registration response. Registration and
authentication bodies differ between versions: registration's maker, model and terminal id are
5, 8 and 7 bytes in 2011, 5, 20 and 7 in 2013 and 11, 30 and 30 in 2019; 2011 and 2013 share a
header, so their registrations are told apart by length (a 2013 body is at least 37 bytes).
Authentication is the whole body in 2011/2013; 2019 gives the code a length byte and adds the
IMEI (15 bytes) and software version (20).

>>> from gnss.jt808.header import Header
>>> message = decode_body(Header(0x0102, "012345678900", 5), b"secret")
>>> message
Authentication(header=Header(msg_id=258, ...), code=b'secret', imei=None, software_version=None)
>>> encode_body(message)
b'secret'
>>> decode_body(Header(0x0900, "012345678900", 6), b"").reason
<FrameReason.UNKNOWN_MESSAGE: 'unknown_message'>
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gnss.jt808.header import Header
from gnss.jt808.layout import (
    REST,
    REST_TEXT,
    SHORT_BYTES,
    U8,
    U16,
    BodyError,
    Field,
    Layout,
    read,
    sized,
    text,
    write,
)
from gnss.jt808.location import LOCATION, Location
from gnss.jt808.reasons import KEPT_BYTES, FrameReason, FrameRejection

__all__ = [
    "Authentication",
    "BatchType",
    "Deregistration",
    "Edition",
    "Heartbeat",
    "LocationBatch",
    "LocationReport",
    "Message",
    "MessageId",
    "PlatformResponse",
    "Registration",
    "RegistrationResponse",
    "RegistrationResult",
    "Result",
    "TerminalResponse",
    "decode_body",
    "encode_body",
]


class MessageId(enum.IntEnum):
    TERMINAL_RESPONSE = 0x0001
    HEARTBEAT = 0x0002
    DEREGISTRATION = 0x0003
    REGISTRATION = 0x0100
    AUTHENTICATION = 0x0102
    LOCATION = 0x0200
    LOCATION_BATCH = 0x0704
    PLATFORM_RESPONSE = 0x8001
    REGISTRATION_RESPONSE = 0x8100


class Result(enum.IntEnum):
    """Result of a general response (0x0001 and 0x8001)."""

    OK = 0
    FAILURE = 1
    MESSAGE_ERROR = 2
    NOT_SUPPORTED = 3
    ALARM_CONFIRMED = 4  # 0x8001 only: the platform has handled the alarm


class RegistrationResult(enum.IntEnum):
    """Result of a registration response (0x8100); only OK carries an authentication code."""

    OK = 0
    VEHICLE_REGISTERED = 1
    NO_VEHICLE = 2
    TERMINAL_REGISTERED = 3
    NO_TERMINAL = 4


class BatchType(enum.IntEnum):
    NORMAL = 0  # a batch of current reports
    BLIND_AREA = 1  # supplementary: reports kept while the terminal had no network


class Edition(enum.Enum):
    """The version of the standard a body follows, where bodies differ."""

    V2011 = "2011"
    V2013 = "2013"
    V2019 = "2019"


@dataclass(frozen=True, slots=True)
class TerminalResponse:
    header: Header
    reply_serial: int
    reply_id: int
    result: int  # Result


@dataclass(frozen=True, slots=True)
class Heartbeat:
    header: Header


@dataclass(frozen=True, slots=True)
class Deregistration:
    header: Header


@dataclass(frozen=True, slots=True)
class Registration:
    header: Header
    province_id: int
    city_id: int
    manufacturer: str
    model: str
    terminal_id: str
    plate_color: int  # 0: not on a vehicle (then ``plate`` is the VIN, if any)
    plate: str
    edition: Edition = Edition.V2013


@dataclass(frozen=True, slots=True)
class Authentication:
    header: Header
    code: bytes  # the authentication code, compared as bytes
    imei: str | None = None  # 2019 only
    software_version: str | None = None  # 2019 only


@dataclass(frozen=True, slots=True)
class LocationReport:
    header: Header
    location: Location


@dataclass(frozen=True, slots=True)
class LocationBatch:
    header: Header
    batch_type: int  # BatchType
    locations: tuple[Location, ...]

    @property
    def blind_area(self) -> bool:
        return self.batch_type == BatchType.BLIND_AREA


@dataclass(frozen=True, slots=True)
class PlatformResponse:
    header: Header
    reply_serial: int
    reply_id: int
    result: int  # Result


@dataclass(frozen=True, slots=True)
class RegistrationResponse:
    header: Header
    reply_serial: int
    result: int  # RegistrationResult
    code: bytes = b""  # the authentication code, when the result is OK


Message = (
    TerminalResponse
    | Heartbeat
    | Deregistration
    | Registration
    | Authentication
    | LocationReport
    | LocationBatch
    | PlatformResponse
    | RegistrationResponse
)

_RESPONSE: Layout = (Field("reply_serial", U16), Field("reply_id", U16), Field("result", U8))


def _registration(maker: int, model: int, terminal_id: int) -> Layout:
    return (
        Field("province_id", U16),
        Field("city_id", U16),
        Field("manufacturer", text(maker)),
        Field("model", text(model)),
        Field("terminal_id", text(terminal_id)),
        Field("plate_color", U8),
        Field("plate", REST_TEXT),
    )


@dataclass(frozen=True, slots=True)
class Spec:
    """A message type in one edition: its class and its body's layout."""

    cls: type[Message]
    layout: Layout
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # values not sent


_REGISTRATION_2013 = 37  # bytes before the plate in a 2013 registration body

SPECS: dict[tuple[int, Edition | None], Spec] = {
    (MessageId.TERMINAL_RESPONSE, None): Spec(TerminalResponse, _RESPONSE),
    (MessageId.HEARTBEAT, None): Spec(Heartbeat, ()),
    (MessageId.DEREGISTRATION, None): Spec(Deregistration, ()),
    (MessageId.REGISTRATION, Edition.V2011): Spec(
        Registration, _registration(5, 8, 7), {"edition": Edition.V2011}
    ),
    (MessageId.REGISTRATION, Edition.V2013): Spec(
        Registration, _registration(5, 20, 7), {"edition": Edition.V2013}
    ),
    (MessageId.REGISTRATION, Edition.V2019): Spec(
        Registration, _registration(11, 30, 30), {"edition": Edition.V2019}
    ),
    (MessageId.AUTHENTICATION, Edition.V2013): Spec(Authentication, (Field("code", REST),)),
    (MessageId.AUTHENTICATION, Edition.V2019): Spec(
        Authentication,
        (Field("code", SHORT_BYTES), Field("imei", text(15)), Field("software_version", text(20))),
    ),
    (MessageId.LOCATION, None): Spec(LocationReport, (Field("location", LOCATION),)),
    (MessageId.LOCATION_BATCH, None): Spec(
        LocationBatch,
        (
            Field("count", U16, count_of="locations"),
            Field("batch_type", U8),
            Field("locations", sized(LOCATION), repeat=True),
        ),
    ),
    (MessageId.PLATFORM_RESPONSE, None): Spec(PlatformResponse, _RESPONSE),
    (MessageId.REGISTRATION_RESPONSE, None): Spec(
        RegistrationResponse,
        (Field("reply_serial", U16), Field("result", U8), Field("code", REST)),
    ),
}

# Which edition's layout a body follows, for the messages whose layout depends on it.
_EDITION: dict[int, Callable[[Header, int], Edition]] = {
    MessageId.REGISTRATION: lambda header, size: (
        Edition.V2019
        if header.is_2019
        else Edition.V2013
        if size >= _REGISTRATION_2013
        else Edition.V2011
    ),
    MessageId.AUTHENTICATION: lambda header, _: Edition.V2019 if header.is_2019 else Edition.V2013,
}


def _spec(header: Header, size: int) -> Spec | None:
    edition = _EDITION.get(header.msg_id)
    key = (header.msg_id, edition(header, size) if edition else None)
    return SPECS.get(key)


def decode_body(header: Header, body: bytes) -> Message | FrameRejection:
    """The typed message for a header and body, or why it was refused."""
    if header.subpackaged:
        return FrameRejection(
            FrameReason.SUBPACKAGED, body[:KEPT_BYTES], "multi-packet message", header
        )
    if header.encryption:
        return FrameRejection(FrameReason.ENCRYPTED, body[:KEPT_BYTES], "encrypted body", header)
    spec = _spec(header, len(body))
    if spec is None:
        detail = f"message 0x{header.msg_id:04x}"
        return FrameRejection(FrameReason.UNKNOWN_MESSAGE, body[:KEPT_BYTES], detail, header)
    try:
        values = read(spec.layout, body)
    except BodyError as error:
        return FrameRejection(error.reason, body[:KEPT_BYTES], error.detail, header)
    return spec.cls(header=header, **values, **spec.extra)


def encode_body(message: Message) -> bytes:
    """The body of ``message``; a registration's edition must match its header."""
    header = message.header
    if isinstance(message, Registration):
        if (message.edition is Edition.V2019) != header.is_2019:
            raise ValueError("a 2019 registration needs a 2019 header, and only it does")
        key: tuple[int, Edition | None] = (MessageId.REGISTRATION, message.edition)
    elif isinstance(message, Authentication):
        edition = Edition.V2019 if header.is_2019 else Edition.V2013
        key = (MessageId.AUTHENTICATION, edition)
    else:
        key = (header.msg_id, None)
    spec = SPECS.get(key)
    if spec is None or not isinstance(message, spec.cls):
        raise ValueError(f"{type(message).__name__} under message id 0x{header.msg_id:04x}")
    values = {f.name: getattr(message, f.name) for f in spec.layout if not f.count_of}
    return write(spec.layout, values)
