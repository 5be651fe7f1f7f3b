"""Bad input is a counted value: random bytes and mutated frames — bit flips, truncations,
huge lengths, escape storms — never raise, every frame read is accepted or rejected with a
reason, and damage costs only the frames it touches (DESIGN §10)."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnss.jt808.codec import Reader, encode
from gnss.jt808.framing import MAX_ESCAPED
from gnss.jt808.messages import Message, PlatformResponse, RegistrationResponse
from gnss.jt808.reasons import FrameReason, FrameRejection
from gnss.jt808.session import SessionState, Terminal, lookup_phone, step

from .samples import SAMPLES
from .strategies import messages

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JT808_BYTES = st.sampled_from([0x7E, 0x7D, 0x01, 0x02, 0x00, 0xFF]) | st.integers(0, 255)


def read_all(chunks: list[bytes]) -> tuple[Reader, list[Message | FrameRejection]]:
    reader = Reader()
    out: list[Message | FrameRejection] = []
    for chunk in chunks:
        out += reader.feed(chunk)
        assert reader.pending <= MAX_ESCAPED
    out += reader.flush()
    counts = reader.counts
    assert counts.frames == len(out) == counts.accepted + counts.rejected_total
    assert counts.accepted == sum(not isinstance(o, FrameRejection) for o in out)
    return reader, out


def through_a_session(outcomes: list[Message | FrameRejection]) -> None:
    """Every outcome goes through the session without raising; each reply is a valid frame."""
    code = b"code"
    terminal = Terminal("t", code_sha256=hashlib.sha256(code).digest())
    state = SessionState()
    for item in outcomes:
        state, outcome = step(state, item, terminal if lookup_phone(item) else None)
        for reply in outcome.replies:
            _, (answer,) = read_all([reply])
            assert isinstance(answer, PlatformResponse | RegistrationResponse)


@FUZZ
@given(
    st.lists(st.binary(max_size=200) | st.lists(JT808_BYTES, max_size=200).map(bytes), max_size=20)
)
def test_random_bytes_never_raise_and_every_frame_is_counted(chunks: list[bytes]) -> None:
    _, outcomes = read_all(chunks)
    through_a_session(outcomes)


@FUZZ
@given(
    st.lists(st.binary(max_size=3000) | st.lists(JT808_BYTES, max_size=300).map(bytes), max_size=8),
    st.lists(st.integers(1, 700), max_size=20),
)
def test_the_outcomes_do_not_depend_on_how_the_stream_was_cut(
    pieces: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(pieces)
    _, whole = read_all([stream])
    chunks, at = [], 0
    for size in cuts:
        chunks.append(stream[at : at + size])
        at += size
    _, cut = read_all([*chunks, stream[at:]])
    assert cut == whole


@pytest.mark.parametrize("size", [10, 2081, 2083, 5000])
@pytest.mark.parametrize("read", [1, 100, 1460, 10_000])
def test_garbage_before_the_first_flag_is_one_framing_rejection_however_it_is_read(
    size: int, read: int
) -> None:
    """Regression: a long run before the first flag, read in pieces, was counted as too_long."""
    stream = b"\x55" * size + SAMPLES[0] + b"\x55" * size
    _, out = read_all([stream[k : k + read] for k in range(0, len(stream), read)])
    reasons = [o.reason if isinstance(o, FrameRejection) else "frame" for o in out]
    tail = FrameReason.TOO_LONG if size > MAX_ESCAPED else FrameReason.TRUNCATED
    assert reasons == [FrameReason.FRAMING, "frame", tail]


MUTATIONS = ("flip", "truncate", "insert_flag", "insert_escape", "drop_byte", "escape_storm")


@FUZZ
@given(
    st.lists(messages, min_size=3, max_size=6),
    st.data(),
)
def test_damage_inside_a_frame_costs_only_that_frame(
    sent: list[Message], data: st.DataObject
) -> None:
    frames = [encode(m) for m in sent]
    victim = data.draw(st.integers(0, len(frames) - 1))
    inner = bytearray(frames[victim][1:-1])
    kind = data.draw(st.sampled_from(MUTATIONS))
    at = data.draw(st.integers(0, len(inner) - 1))
    if kind == "flip":
        inner[at] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "truncate":
        del inner[at:]
    elif kind == "insert_flag":
        inner.insert(at, 0x7E)
    elif kind == "insert_escape":
        inner.insert(at, 0x7D)
    elif kind == "drop_byte":
        del inner[at]
    else:
        inner[at:at] = bytes(
            data.draw(st.lists(st.sampled_from([0x7D, 0x7E, 0x01, 0x02]), max_size=64))
        )
    frames[victim] = b"\x7e" + bytes(inner) + b"\x7e"
    stream = b"".join(frames)
    cuts = data.draw(st.lists(st.integers(1, len(stream)), max_size=6))
    chunks, at = [], 0
    for size in cuts:
        chunks.append(stream[at : at + size])
        at += size
    chunks.append(stream[at:])
    _, outcomes = read_all(chunks)
    others = iter(outcomes)
    # Every other frame comes through, in order (``in`` on an iterator consumes it).
    assert all(m in others for k, m in enumerate(sent) if k != victim)
    through_a_session(outcomes)


def test_a_huge_run_without_a_flag_is_one_rejection_and_is_not_buffered() -> None:
    reader = Reader()
    out = reader.feed(b"\x7e")
    for _ in range(1000):
        out += reader.feed(b"\x55" * 1024)
        assert reader.pending <= MAX_ESCAPED
    out += reader.feed(b"\x7e" + SAMPLES[0])
    out += reader.flush()
    assert [o.reason for o in out if isinstance(o, FrameRejection)] == [FrameReason.TOO_LONG]
    assert reader.counts.frames == 2 and reader.counts.accepted == 1


def test_escape_storms_are_counted_rejections() -> None:
    storms = [b"\x7d" * 5000, b"\x7d\x7e" * 3000, b"\x7d\x01" * 1000, b"\x7d\x02\x7d" * 300]
    _, out = read_all([b"\x7e" + storm + b"\x7e" for storm in storms])
    assert [o.reason for o in out if isinstance(o, FrameRejection)] == [
        FrameReason.TOO_LONG,  # 5000 bytes: longer than any frame
        *[FrameReason.ESCAPE] * 3000,  # each 0x7d alone between two flags
        # 1000 × 0x7d once unescaped: an even count XORs to a valid check code, and the header
        # read from it says 381 bytes of body where there are 978.
        FrameReason.BAD_LENGTH,
        FrameReason.ESCAPE,  # 7d 7d
    ]
    assert len(out) == 3003


def _damaged(rng: random.Random, frame: bytes) -> bytes:
    damaged = bytearray(frame)
    at = rng.randrange(1, len(damaged) - 1)
    choice = rng.randrange(4)
    if choice == 0:
        damaged[at] ^= 1 << rng.randrange(8)
    elif choice == 1:
        del damaged[at:-1]
    elif choice == 2:
        damaged.insert(at, rng.choice((0x7D, 0x7E)))
    else:
        damaged[at:at] = rng.randbytes(rng.randrange(1, 40))
    return bytes(damaged)


def test_many_mutated_frames_seeded() -> None:
    """A larger deterministic run than hypothesis makes: 20,000 frames, one in three damaged,
    cut into TCP-sized segments."""
    rng = random.Random(808)
    chunks, intact = [], 0
    for _ in range(20_000):
        frame = rng.choice(SAMPLES)
        if rng.random() < 1 / 3:
            chunks.append(_damaged(rng, frame))
        else:
            chunks.append(frame)
            intact += 1
    stream = b"".join(chunks)
    reader, outcomes = read_all([stream[k : k + 1460] for k in range(0, len(stream), 1460)])
    # A flip can leave a frame valid by chance (in a text field, say), never the reverse.
    assert intact <= reader.counts.accepted <= 20_000 <= reader.counts.frames
    assert reader.counts.rejected_total >= (20_000 - intact) // 2
    through_a_session(outcomes[:3000])
