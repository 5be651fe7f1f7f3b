"""A terminal's session with the platform, sans-IO: a state value and a pure step function
that decides what to answer to each frame, given what the device directory says.

The caller (the TCP server) owns the socket, the directory and the store. For each message or
rejection its :class:`~gnss.jt808.codec.Reader` returns, it calls :func:`step` — with the
directory's answer (:class:`Terminal`) for registrations and authentications, whose phone
number :func:`lookup_phone` names — keeps the new state and carries out the :class:`Outcome`:

- ``replies``: frames to send now, in order;
- ``locations`` (``blind_area`` when they came in a supplementary batch): hand them to the
  pipeline; then send ``ack.frame()`` once they are committed, and only then: a terminal keeps
  and re-sends what was not acknowledged, so nothing acknowledged is ever lost (DESIGN §11);
- ``grant``: the directory allows this registration; issue a fresh authentication code, store
  it (the terminal is then registered) and send ``grant.reply(code)``;
- ``close``: end the connection after sending the replies;
- ``event``: what happened, for counters and the log (never the code).

The rules: a known, active terminal that is not registered may register once (0x8100 with a
code); a registered one is refused with "terminal already registered" until an admin reopens
its registration; an unknown or inactive one is refused with "no such terminal" and the
connection closed. Nothing but registration and authentication is accepted before the terminal
authenticates (0x0102; the code's SHA-256 compared in constant time; a wrong code closes the
connection). Every terminal message is answered with 0x8001 — except 0x0001, a response itself
— and every frame refused for its framing, escapes, check code, length or fields is answered
with result 2 (message error) when its serial number could be read, or 3 (not supported) when
it was well-formed but of a kind partymap does not read.

>>> import hashlib
>>> from gnss.jt808.codec import decode
>>> from gnss.jt808.header import Header
>>> from gnss.jt808.messages import Authentication, Heartbeat
>>> terminal = Terminal("helmet-7", code_sha256=hashlib.sha256(b"s3cret").digest())
>>> auth = Authentication(Header(0x0102, "013800000007", 0), b"s3cret")
>>> state, outcome = step(SessionState(), auth, terminal)
>>> state.phase, outcome.event, decode(outcome.replies[0]).result
(<Phase.AUTHENTICATED: 'authenticated'>, <SessionEvent.AUTHENTICATED: 'authenticated'>, 0)
>>> state, outcome = step(state, Heartbeat(Header(0x0002, "013800000007", 1)))
>>> reply = decode(outcome.replies[0])
>>> hex(reply.header.msg_id), reply.header.serial, reply.reply_serial, reply.reply_id, reply.result
('0x8001', 1, 1, 2, 0)
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import struct
from dataclasses import dataclass

from gnss.jt808.codec import encode
from gnss.jt808.framing import wrap
from gnss.jt808.header import PHONE_DIGITS, Header
from gnss.jt808.location import GMT8_S, Location
from gnss.jt808.messages import (
    Authentication,
    Deregistration,
    Heartbeat,
    LocationReport,
    Message,
    MessageId,
    PlatformResponse,
    Registration,
    RegistrationResponse,
    RegistrationResult,
    Result,
    TerminalResponse,
)
from gnss.jt808.reasons import ANSWER_MESSAGE_ERROR, ANSWER_NOT_SUPPORTED, FrameRejection

__all__ = [
    "Ack",
    "Grant",
    "Outcome",
    "Phase",
    "Responder",
    "SessionEvent",
    "SessionState",
    "Terminal",
    "lookup_phone",
    "step",
]

# Hashed against when the terminal is unknown or has no code, so that every refusal of an
# authentication costs the same time as a wrong code.
_NO_CODE = hashlib.sha256(b"partymap: no jt808 authentication code").digest()


class Phase(enum.Enum):
    CONNECTED = "connected"  # only registration and authentication are accepted
    AUTHENTICATED = "authenticated"


class SessionEvent(enum.Enum):
    """What a step did that counters and the log should know; the value is the counter name."""

    REGISTRATION_GRANTED = "registration_granted"
    ALREADY_REGISTERED = "already_registered"
    UNKNOWN_TERMINAL = "unknown_terminal"
    INACTIVE_TERMINAL = "inactive_terminal"
    AUTHENTICATED = "authenticated"
    BAD_CODE = "bad_code"
    UNAUTHENTICATED = "unauthenticated"  # a message before authentication, refused
    WRONG_TERMINAL = "wrong_terminal"  # a message under another phone number than the session's
    DEREGISTERED = "deregistered"
    UNEXPECTED = "unexpected"  # a platform message sent by a terminal


@dataclass(frozen=True, slots=True)
class Terminal:
    """What the device directory says of one terminal phone number."""

    device_id: str
    code_sha256: bytes | None = None  # SHA-256 of its current authentication code, if issued
    # It holds a code (issued out of band or by an earlier registration) and no admin has
    # reopened its registration since: registering again is refused.
    registered: bool = False
    active: bool = True
    utc_offset_s: int = GMT8_S  # the zone of its clock: GMT+8 unless it sends UTC


@dataclass(frozen=True, slots=True)
class SessionState:
    phase: Phase = Phase.CONNECTED
    phone: str | None = None  # the authenticated terminal's
    device_id: str | None = None
    utc_offset_s: int = GMT8_S
    serial: int = 0  # the platform's next message serial number
    granted: bool = False  # a registration was granted on this connection


@dataclass(frozen=True, slots=True)
class Ack:
    """A general response held back until the locations it answers are committed."""

    header: Header  # the response's own header (its serial number is already taken)
    reply_serial: int
    reply_id: int

    def frame(self, result: Result = Result.OK) -> bytes:
        """The 0x8001 to send: OK once committed (FAILURE if storing failed for good)."""
        return encode(PlatformResponse(self.header, self.reply_serial, self.reply_id, result))


_RESPONSE_BODY = struct.Struct(">HHHB")  # serial; reply serial, reply id, result


@dataclass(frozen=True, slots=True)
class Responder:
    """General responses (0x8001) to one terminal, written from a prefix made once: what a
    server answering thousands of reports a second writes instead of encoding each
    :class:`~gnss.jt808.messages.PlatformResponse` (the bytes are the same).

    >>> responder = Responder.to(Header(0x0200, "013800000007", 5))
    >>> ack = Ack(Header(0x8001, "013800000007", 9), 5, 0x0200)
    >>> responder.frame(9, 5, 0x0200, Result.OK) == ack.frame(Result.OK)
    True
    """

    prefix: bytes  # message id, properties, protocol version (2019) and phone number

    @classmethod
    def to(cls, header: Header) -> Responder:
        """Responses under the phone number and protocol version of ``header``."""
        properties = 5 | (0x4000 if header.is_2019 else 0)
        version = b"" if header.protocol_version is None else bytes((header.protocol_version,))
        phone = bytes.fromhex(header.phone.rjust(PHONE_DIGITS[header.is_2019], "0"))
        return cls(struct.pack(">HH", MessageId.PLATFORM_RESPONSE, properties) + version + phone)

    def frame(self, serial: int, reply_serial: int, reply_id: int, result: int) -> bytes:
        return wrap(self.prefix + _RESPONSE_BODY.pack(serial, reply_serial, reply_id, result))


@dataclass(frozen=True, slots=True)
class Grant:
    """A registration the directory allows; the caller issues and stores the code. If storing
    it fails, the caller closes the connection: the terminal registers again on its next one."""

    device_id: str
    phone: str
    header: Header  # of the 0x8100 to send
    reply_serial: int

    def reply(self, code: bytes) -> bytes:
        """The 0x8100 carrying the code, to send once its hash is stored."""
        response = RegistrationResponse(self.header, self.reply_serial, RegistrationResult.OK, code)
        return encode(response)


@dataclass(frozen=True, slots=True)
class Outcome:
    replies: tuple[bytes, ...] = ()
    locations: tuple[Location, ...] = ()
    blind_area: bool = False
    ack: Ack | None = None
    grant: Grant | None = None
    event: SessionEvent | None = None
    close: bool = False


def lookup_phone(item: Message | FrameRejection) -> str | None:
    """The phone number whose :class:`Terminal` :func:`step` needs for ``item``, if any."""
    if isinstance(item, Registration | Authentication):
        return item.header.phone
    return None


def step(
    state: SessionState, item: Message | FrameRejection, terminal: Terminal | None = None
) -> tuple[SessionState, Outcome]:
    """The next state and what to do about ``item``. ``terminal`` is the directory's answer for
    :func:`lookup_phone` (None: unknown); other messages do not need it."""
    if isinstance(item, FrameRejection):
        return _refused(state, item)
    if isinstance(item, TerminalResponse):
        return state, Outcome()  # a response is not answered
    if isinstance(item, Registration):
        return _register(state, item, terminal)
    if isinstance(item, Authentication):
        return _authenticate(state, item, terminal)
    if isinstance(item, PlatformResponse | RegistrationResponse):
        return _respond(state, item.header, Result.NOT_SUPPORTED, event=SessionEvent.UNEXPECTED)
    if state.phase is not Phase.AUTHENTICATED:
        return _respond(state, item.header, Result.FAILURE, event=SessionEvent.UNAUTHENTICATED)
    if item.header.phone != state.phone:
        return _respond(state, item.header, Result.FAILURE, event=SessionEvent.WRONG_TERMINAL)
    if isinstance(item, Heartbeat):
        return _respond(state, item.header, Result.OK)
    if isinstance(item, Deregistration):
        after = dataclasses.replace(state, phase=Phase.CONNECTED, phone=None, device_id=None)
        return _respond(after, item.header, Result.OK, event=SessionEvent.DEREGISTERED)
    if isinstance(item, LocationReport):
        return _locations(state, item.header, (item.location,), blind_area=False)
    return _locations(state, item.header, item.locations, blind_area=item.blind_area)


def _reply_header(
    state: SessionState, msg_id: MessageId, to: Header
) -> tuple[SessionState, Header]:
    header = Header(msg_id, to.phone, state.serial, protocol_version=to.protocol_version)
    return dataclasses.replace(state, serial=(state.serial + 1) & 0xFFFF), header


def _respond(
    state: SessionState,
    to: Header,
    result: Result,
    *,
    event: SessionEvent | None = None,
    close: bool = False,
) -> tuple[SessionState, Outcome]:
    state, header = _reply_header(state, MessageId.PLATFORM_RESPONSE, to)
    reply = encode(PlatformResponse(header, to.serial, to.msg_id, result))
    return state, Outcome(replies=(reply,), event=event, close=close)


def _refused(state: SessionState, rejection: FrameRejection) -> tuple[SessionState, Outcome]:
    to = rejection.header
    if to is None or to.msg_id == MessageId.TERMINAL_RESPONSE:
        return state, Outcome()
    if rejection.reason in ANSWER_MESSAGE_ERROR:
        return _respond(state, to, Result.MESSAGE_ERROR)
    if rejection.reason in ANSWER_NOT_SUPPORTED:
        return _respond(state, to, Result.NOT_SUPPORTED)
    return state, Outcome()


def _register(
    state: SessionState, message: Registration, terminal: Terminal | None
) -> tuple[SessionState, Outcome]:
    to = message.header
    after, header = _reply_header(state, MessageId.REGISTRATION_RESPONSE, to)
    if terminal is None or not terminal.active:
        refusal = encode(RegistrationResponse(header, to.serial, RegistrationResult.NO_TERMINAL))
        event = (
            SessionEvent.UNKNOWN_TERMINAL if terminal is None else SessionEvent.INACTIVE_TERMINAL
        )
        return after, Outcome(replies=(refusal,), event=event, close=True)
    if terminal.registered or state.granted:
        result = RegistrationResult.TERMINAL_REGISTERED
        refusal = encode(RegistrationResponse(header, to.serial, result))
        return after, Outcome(replies=(refusal,), event=SessionEvent.ALREADY_REGISTERED)
    grant = Grant(terminal.device_id, to.phone, header, to.serial)
    granted = dataclasses.replace(after, granted=True)
    return granted, Outcome(grant=grant, event=SessionEvent.REGISTRATION_GRANTED)


def _authenticate(
    state: SessionState, message: Authentication, terminal: Terminal | None
) -> tuple[SessionState, Outcome]:
    stored = terminal.code_sha256 if terminal is not None and terminal.active else None
    matches = hmac.compare_digest(hashlib.sha256(message.code).digest(), stored or _NO_CODE)
    if terminal is None or stored is None or not matches:
        event = (
            SessionEvent.UNKNOWN_TERMINAL
            if terminal is None
            else SessionEvent.INACTIVE_TERMINAL
            if not terminal.active
            else SessionEvent.BAD_CODE
        )
        after = dataclasses.replace(state, phase=Phase.CONNECTED, phone=None, device_id=None)
        return _respond(after, message.header, Result.FAILURE, event=event, close=True)
    after = dataclasses.replace(
        state,
        phase=Phase.AUTHENTICATED,
        phone=message.header.phone,
        device_id=terminal.device_id,
        utc_offset_s=terminal.utc_offset_s,
    )
    return _respond(after, message.header, Result.OK, event=SessionEvent.AUTHENTICATED)


def _locations(
    state: SessionState, to: Header, locations: tuple[Location, ...], *, blind_area: bool
) -> tuple[SessionState, Outcome]:
    if not locations:  # an empty batch: nothing to store, nothing to wait for
        return _respond(state, to, Result.OK)
    if state.utc_offset_s != GMT8_S:
        locations = tuple(
            dataclasses.replace(loc, utc_offset_s=state.utc_offset_s) for loc in locations
        )
    after, header = _reply_header(state, MessageId.PLATFORM_RESPONSE, to)
    ack = Ack(header, to.serial, to.msg_id)
    return after, Outcome(locations=locations, blind_area=blind_area, ack=ack)
