"""The session state machine: registration once, authentication before anything else, refusals,
every terminal message answered, and location acknowledgements held until the caller says the
fixes are stored."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from gnss.jt808.codec import Reader, decode, encode
from gnss.jt808.header import Header
from gnss.jt808.messages import (
    Authentication,
    Deregistration,
    Heartbeat,
    LocationBatch,
    LocationReport,
    Message,
    PlatformResponse,
    Registration,
    RegistrationResponse,
    RegistrationResult,
    Result,
    TerminalResponse,
)
from gnss.jt808.reasons import FrameReason, FrameRejection
from gnss.jt808.session import (
    Outcome,
    Phase,
    SessionEvent,
    SessionState,
    Terminal,
    lookup_phone,
    step,
)

from .samples import FIX

PHONE = "013800138000"
CODE = b"0f9Q-token"
KNOWN = Terminal("helmet-1", code_sha256=hashlib.sha256(CODE).digest(), registered=True)


def header(msg_id: int, serial: int, phone: str = PHONE, version: int | None = None) -> Header:
    return Header(msg_id, phone, serial, protocol_version=version)


def registration(serial: int = 0, phone: str = PHONE) -> Registration:
    return Registration(header(0x0100, serial, phone), 42, 100, "PTMAP", "H1", "T1", 0, "")


def reply(outcome: Outcome, index: int = 0) -> Message:
    decoded = decode(outcome.replies[index])
    assert not isinstance(decoded, FrameRejection)
    return decoded


def general(outcome: Outcome) -> tuple[int, int, int]:
    """(reply serial, reply id, result) of the outcome's only reply, a 0x8001."""
    (frame,) = outcome.replies
    response = decode(frame)
    assert isinstance(response, PlatformResponse)
    return response.reply_serial, response.reply_id, response.result


def authenticated(terminal: Terminal = KNOWN) -> SessionState:
    state, outcome = step(SessionState(), Authentication(header(0x0102, 0), CODE), terminal)
    assert state.phase is Phase.AUTHENTICATED and outcome.event is SessionEvent.AUTHENTICATED
    return state


# --- registration -------------------------------------------------------------------------------


def test_a_known_unregistered_terminal_registers_once_and_gets_a_code() -> None:
    fresh = Terminal("helmet-1")
    state, outcome = step(SessionState(), registration(serial=7), fresh)
    assert outcome.event is SessionEvent.REGISTRATION_GRANTED and outcome.replies == ()
    grant = outcome.grant
    assert grant is not None and (grant.device_id, grant.phone) == ("helmet-1", PHONE)
    response = decode(grant.reply(b"fresh-code"))
    assert isinstance(response, RegistrationResponse)
    assert (response.reply_serial, response.result, response.code) == (7, 0, b"fresh-code")
    assert response.header.phone == PHONE
    # A second registration on the same connection is refused, though the directory has not
    # caught up yet…
    state, again = step(state, registration(serial=8), fresh)
    refusal = reply(again)
    assert isinstance(refusal, RegistrationResponse)
    assert refusal.result == RegistrationResult.TERMINAL_REGISTERED and refusal.code == b""
    assert (
        again.grant is None and again.event is SessionEvent.ALREADY_REGISTERED and not again.close
    )
    # …and on a later connection, once the directory says it is registered.
    _, later = step(SessionState(), registration(), dataclasses.replace(fresh, registered=True))
    assert later.grant is None and later.event is SessionEvent.ALREADY_REGISTERED


def test_a_reopened_registration_is_granted_again() -> None:
    _, refused = step(SessionState(), registration(), KNOWN)
    _, granted = step(SessionState(), registration(), dataclasses.replace(KNOWN, registered=False))
    assert refused.grant is None and granted.grant is not None


@pytest.mark.parametrize(
    ("terminal", "event"),
    [
        (None, SessionEvent.UNKNOWN_TERMINAL),
        (Terminal("t", active=False), SessionEvent.INACTIVE_TERMINAL),
    ],
)
def test_an_unknown_or_inactive_terminal_is_refused_and_disconnected(
    terminal: Terminal | None, event: SessionEvent
) -> None:
    state, outcome = step(SessionState(), registration(serial=3), terminal)
    refusal = reply(outcome)
    assert isinstance(refusal, RegistrationResponse)
    assert (refusal.reply_serial, refusal.result) == (3, RegistrationResult.NO_TERMINAL)
    assert outcome.close and outcome.event is event and outcome.grant is None
    assert state.phase is Phase.CONNECTED


# --- authentication -----------------------------------------------------------------------------


def test_the_right_code_authenticates() -> None:
    state, outcome = step(SessionState(), Authentication(header(0x0102, 5), CODE), KNOWN)
    assert general(outcome) == (5, 0x0102, Result.OK)
    assert (state.phase, state.phone, state.device_id) == (Phase.AUTHENTICATED, PHONE, "helmet-1")


def test_a_2019_terminal_authenticates_and_is_answered_with_2019_headers() -> None:
    phone = "00000000013800138000"
    auth = Authentication(header(0x0102, 1, phone, 1), CODE, "864800000000001", "1.0")
    state, outcome = step(SessionState(), auth, KNOWN)
    response = reply(outcome)
    assert response.header.protocol_version == 1 and response.header.phone == phone
    assert state.phase is Phase.AUTHENTICATED


@pytest.mark.parametrize(
    ("terminal", "event"),
    [
        (
            dataclasses.replace(KNOWN, code_sha256=hashlib.sha256(b"other").digest()),
            SessionEvent.BAD_CODE,
        ),
        (Terminal("helmet-1"), SessionEvent.BAD_CODE),  # no code issued yet
        (None, SessionEvent.UNKNOWN_TERMINAL),
        (dataclasses.replace(KNOWN, active=False), SessionEvent.INACTIVE_TERMINAL),
    ],
)
def test_a_wrong_code_is_refused_and_disconnected(
    terminal: Terminal | None, event: SessionEvent
) -> None:
    state, outcome = step(SessionState(), Authentication(header(0x0102, 9), CODE), terminal)
    assert general(outcome) == (9, 0x0102, Result.FAILURE)
    assert outcome.close and outcome.event is event and state.phase is Phase.CONNECTED


def test_every_code_check_is_one_constant_time_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr("gnss.jt808.session.hmac.compare_digest", recording)
    for terminal in (KNOWN, None, Terminal("x"), dataclasses.replace(KNOWN, active=False)):
        step(SessionState(), Authentication(header(0x0102, 0), b"guess"), terminal)
    assert len(calls) == 4
    assert all(len(a) == len(b) == 32 for a, b in calls)


def test_nothing_is_accepted_before_authentication() -> None:
    state = SessionState()
    for message in (
        Heartbeat(header(0x0002, 1)),
        LocationReport(header(0x0200, 2), FIX),
        LocationBatch(header(0x0704, 3), 1, (FIX,)),
        Deregistration(header(0x0003, 4)),
    ):
        state, outcome = step(state, message)
        serial, reply_id, result = general(outcome)
        assert (serial, reply_id, result) == (message.header.serial, message.header.msg_id, 1)
        assert outcome.locations == () and outcome.ack is None
        assert outcome.event is SessionEvent.UNAUTHENTICATED
    assert state.phase is Phase.CONNECTED


def test_lookup_phone_names_what_the_directory_must_answer() -> None:
    assert lookup_phone(registration()) == PHONE
    assert lookup_phone(Authentication(header(0x0102, 0), CODE)) == PHONE
    assert lookup_phone(Heartbeat(header(0x0002, 0))) is None
    assert lookup_phone(FrameRejection(FrameReason.CHECKSUM, b"", header=header(0x0102, 0))) is None


# --- after authentication -----------------------------------------------------------------------


def test_heartbeats_are_answered_at_once() -> None:
    state, outcome = step(authenticated(), Heartbeat(header(0x0002, 11)))
    assert general(outcome) == (11, 0x0002, Result.OK)
    assert outcome.ack is None and state.phase is Phase.AUTHENTICATED


def test_a_location_is_acknowledged_only_when_the_caller_releases_it() -> None:
    state, outcome = step(authenticated(), LocationReport(header(0x0200, 12), FIX))
    assert outcome.replies == () and outcome.locations == (FIX,) and not outcome.blind_area
    assert outcome.ack is not None
    ack = decode(outcome.ack.frame())
    assert isinstance(ack, PlatformResponse)
    assert (ack.reply_serial, ack.reply_id, ack.result) == (12, 0x0200, Result.OK)
    assert ack.header.phone == PHONE
    failed = decode(outcome.ack.frame(Result.FAILURE))
    assert isinstance(failed, PlatformResponse) and failed.result == Result.FAILURE
    # The acknowledgement's serial number was taken when the location arrived.
    state, beat = step(state, Heartbeat(header(0x0002, 13)))
    assert reply(beat).header.serial == ack.header.serial + 1


def test_a_blind_area_batch_is_handed_over_as_such_and_acknowledged_later() -> None:
    batch = LocationBatch(header(0x0704, 14), 1, (FIX, FIX))
    _, outcome = step(authenticated(), batch)
    assert outcome.blind_area and outcome.locations == (FIX, FIX) and outcome.replies == ()
    assert outcome.ack is not None
    assert (outcome.ack.reply_serial, outcome.ack.reply_id) == (14, 0x0704)


def test_an_empty_batch_is_answered_at_once() -> None:
    _, outcome = step(authenticated(), LocationBatch(header(0x0704, 15), 0, ()))
    assert general(outcome) == (15, 0x0704, Result.OK) and outcome.ack is None


def test_a_terminal_that_sends_utc_has_its_times_read_as_utc() -> None:
    state = authenticated(dataclasses.replace(KNOWN, utc_offset_s=0))
    _, outcome = step(state, LocationReport(header(0x0200, 16), FIX))
    assert outcome.locations[0].time == datetime(2026, 5, 1, 16, 0, tzinfo=UTC)
    _, beijing = step(authenticated(), LocationReport(header(0x0200, 16), FIX))
    assert beijing.locations[0].time == datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def test_another_phone_number_on_the_connection_is_refused() -> None:
    message = LocationReport(header(0x0200, 17, phone="013800138001"), FIX)
    _, outcome = step(authenticated(), message)
    assert general(outcome) == (17, 0x0200, Result.FAILURE)
    assert outcome.event is SessionEvent.WRONG_TERMINAL and outcome.locations == ()


def test_deregistration_is_answered_and_ends_the_authentication() -> None:
    state, outcome = step(authenticated(), Deregistration(header(0x0003, 18)))
    assert (
        general(outcome) == (18, 0x0003, Result.OK) and outcome.event is SessionEvent.DEREGISTERED
    )
    assert state.phase is Phase.CONNECTED
    _, after = step(state, LocationReport(header(0x0200, 19), FIX))
    assert general(after)[2] == Result.FAILURE


def test_a_terminal_response_is_not_answered() -> None:
    _, outcome = step(authenticated(), TerminalResponse(header(0x0001, 20), 3, 0x8001, 0))
    assert outcome == Outcome()


def test_a_platform_message_from_a_terminal_is_not_supported() -> None:
    message = PlatformResponse(header(0x8001, 21), 0, 2, 0)
    _, outcome = step(authenticated(), message)
    assert general(outcome) == (21, 0x8001, Result.NOT_SUPPORTED)
    assert outcome.event is SessionEvent.UNEXPECTED


def test_platform_serial_numbers_count_up_and_wrap() -> None:
    state = dataclasses.replace(authenticated(), serial=0xFFFE)
    serials = []
    for k in range(3):
        state, outcome = step(state, Heartbeat(header(0x0002, k)))
        serials.append(reply(outcome).header.serial)
    assert serials == [0xFFFE, 0xFFFF, 0]


# --- refused frames -----------------------------------------------------------------------------


def frames_read(data: bytes) -> list[Message | FrameRejection]:
    reader = Reader()
    return reader.feed(data) + reader.flush()


def test_a_broken_frame_is_answered_message_error_when_its_serial_can_be_read() -> None:
    good = encode(LocationReport(header(0x0200, 22), FIX))
    broken = good[:-2] + bytes((good[-2] ^ 1,)) + b"\x7e"  # wrong check code
    (rejection,) = frames_read(broken)
    assert isinstance(rejection, FrameRejection) and rejection.reason is FrameReason.CHECKSUM
    _, outcome = step(authenticated(), rejection)
    assert general(outcome) == (22, 0x0200, Result.MESSAGE_ERROR)
    assert outcome.locations == () and outcome.ack is None


@pytest.mark.parametrize(
    ("frame", "result"),
    [
        ("7E0801200500123456789002DE001A00022808000102537E", Result.NOT_SUPPORTED),  # packet
        ("7E0801040500123456789002DE001A000221757E", Result.NOT_SUPPORTED),  # encrypted
        ("7e0002000000000000067900007d7e", Result.MESSAGE_ERROR),  # stray escape
        ("7E0801200500123456789002DE001A000228080001517E", Result.MESSAGE_ERROR),  # truncated
    ],
)
def test_refusals_with_a_header_are_answered(frame: str, result: Result) -> None:
    (rejection,) = frames_read(bytes.fromhex(frame))
    assert isinstance(rejection, FrameRejection) and rejection.header is not None
    _, outcome = step(SessionState(), rejection)
    assert general(outcome) == (rejection.header.serial, rejection.header.msg_id, result)


@pytest.mark.parametrize("frame", ["ffff7e", "7e01017e", "7e" + "55" * 3000 + "7e"])
def test_refusals_without_a_header_are_not_answered(frame: str) -> None:
    for rejection in frames_read(bytes.fromhex(frame)):
        assert isinstance(rejection, FrameRejection) and rejection.header is None
        assert step(SessionState(), rejection)[1] == Outcome()


def test_a_broken_terminal_response_is_not_answered() -> None:
    good = encode(TerminalResponse(header(0x0001, 23), 3, 0x8001, 0))
    (rejection,) = frames_read(good[:-2] + b"\x00\x7e")
    assert isinstance(rejection, FrameRejection) and rejection.header is not None
    assert step(authenticated(), rejection)[1] == Outcome()
