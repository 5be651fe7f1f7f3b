"""Encoding and decoding are inverses for every message partymap reads or writes, however the
frames are cut into reads."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnss.jt808.codec import Reader, decode, encode
from gnss.jt808.framing import FLAG, MAX_ESCAPED
from gnss.jt808.messages import Message

from .strategies import messages

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(messages)
def test_decode_inverts_encode(message: Message) -> None:
    frame = encode(message)
    assert frame[0] == frame[-1] == FLAG
    assert FLAG not in frame[1:-1]
    assert len(frame) <= MAX_ESCAPED + 2
    assert decode(frame) == message


@SETTINGS
@given(st.lists(messages, max_size=8), st.lists(st.integers(1, 300), max_size=12))
def test_a_stream_cut_anywhere_gives_the_same_messages(
    sent: list[Message], cuts: list[int]
) -> None:
    stream = b"".join(encode(m) for m in sent)
    reader = Reader()
    got = []
    at = 0
    for size in [*cuts, len(stream)]:
        got += reader.feed(stream[at : at + size])
        at += size
    got += reader.flush()
    assert got == sent
    assert reader.counts.frames == reader.counts.accepted == len(sent)
    assert reader.pending == 0
