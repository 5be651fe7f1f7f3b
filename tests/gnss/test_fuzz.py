"""Bad input is a counted value: random bytes and damaged real lines never raise, and every
line is either accepted or rejected (DESIGN §10)."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devkit.simulate import FAMILIES, damage
from gnss.epoch.batch import BatchDecoder
from gnss.epoch.decoder import Decoder
from gnss.model import RawChunk
from gnss.nmea.framing import LineBuffer
from gnss.nmea.parser import parse_line, pieces

from .streams import clean_lines, device_lines

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NMEA_BYTES = st.sampled_from(list(b"$*,.0123456789ABCDEFGNPLRMSVWTXZ\r\n#")) | st.integers(0, 255)


@FUZZ
@given(
    st.lists(st.binary(max_size=120) | st.lists(NMEA_BYTES, max_size=100).map(bytes), max_size=40)
)
def test_random_lines_never_raise_and_are_all_counted(lines: list[bytes]) -> None:
    decoder = Decoder()
    for line in lines:
        decoder.feed(line)
        assert len(parse_line(line)) == len(pieces(line)) >= 1
    decoder.flush()
    counts = decoder.counts
    assert counts.lines == sum(len(pieces(line)) for line in lines)
    assert counts.accepted + counts.rejected_total == counts.lines


@FUZZ
@given(device_lines(max_edits=30))
def test_damaged_real_lines_never_raise_and_are_all_counted(lines: list[bytes]) -> None:
    decoder = Decoder()
    fixes = decoder.feed_lines(lines) + decoder.flush()
    counts = decoder.counts
    assert counts.accepted + counts.rejected_total == counts.lines >= len(lines)
    assert counts.fixes == len(fixes)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(1, 400), max_size=30))
def test_random_bytes_through_reads_and_batches(data: bytes, cuts: list[int]) -> None:
    """Arbitrary bytes, cut into reads at random, through the line buffer and the fast path."""
    buffer, fast = LineBuffer(), BatchDecoder()
    at = 0
    for size in [*cuts, len(data)]:
        block = buffer.take_complete(data[at : at + size])
        at += size
        fast.decode([RawChunk("dev", block, float(at))])
    fast.decode([RawChunk("dev", b"".join(buffer.flush()), float(at))])
    fast.flush()
    counts = fast.totals["dev"]
    assert counts.accepted + counts.rejected_total == counts.lines


@pytest.mark.slow
def test_a_hundred_thousand_damaged_and_random_lines_through_the_fast_path() -> None:
    """Volume: real output of every family with about one line in five damaged, and random
    lines, from ten devices in micro-batches."""
    rng = random.Random(11)
    lines = [
        line for name in sorted(FAMILIES) for seed in range(3) for line in clean_lines(name, seed)
    ]
    while len(lines) < 80_000:
        lines += lines
    hurt = damage(lines[:80_000], seed=5, every=5)
    hurt += [bytes(rng.randrange(256) for _ in range(rng.randrange(90))) for _ in range(20_000)]
    rng.shuffle(hurt)
    decoder = BatchDecoder()
    for k in range(0, len(hurt), 2000):
        chunk = b"".join(line + b"\n" for line in hurt[k : k + 2000])
        decoder.decode([RawChunk(f"dev-{k % 10}", chunk, float(k))])
    decoder.flush()
    for counts in decoder.totals.values():
        assert counts.accepted + counts.rejected_total == counts.lines
    assert sum(c.lines for c in decoder.totals.values()) >= len(hurt)
