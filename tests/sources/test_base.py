"""Counters, backoff, framing helpers and the in-memory double."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gnss.nmea.framing import MAX_PENDING, LineBuffer
from gnss.sources import (
    Backoff,
    MemorySource,
    Source,
    SourceRejection,
    SourceStats,
    valid_device_id,
)
from gnss.sources.lines import complete_lines, drop_heartbeats
from tests.sources.helpers import EPOCH, GARBAGE, joined, run


def test_backoff_grows_to_its_cap_with_bounded_jitter() -> None:
    backoff = Backoff(initial_s=0.5, max_s=4.0, factor=2.0, jitter=0.1)
    for failures, base in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (10, 4.0), (10_000, 4.0)]:
        delays = [backoff.delay(failures) for _ in range(50)]
        assert all(base * 0.9 <= d <= base * 1.1 for d in delays)
    assert Backoff(jitter=0).delay(0) == 0.5


@pytest.mark.parametrize(
    ("device_id", "ok"),
    [("dtu-1", True), ("861234567890123", True), ("a.b:c_d-e", True), ("", False),
     ("-x", False), ("a/b", False), ("a+b", False), ("a b", False), ("x" * 65, False),
     ("设备", False)],
)  # fmt: skip
def test_device_ids_are_safe_in_topics_and_logs(device_id: str, ok: bool) -> None:
    assert valid_device_id(device_id) is ok


def test_heartbeats_are_dropped_and_counted_and_nothing_else_is() -> None:
    block = b"HB\r\n$GPGGA,1*00\r\nHB\nHBX\n$HB,1\n"
    assert drop_heartbeats(block) == (b"$GPGGA,1*00\r\nHBX\n$HB,1\n", 2)
    assert drop_heartbeats(EPOCH) == (EPOCH, 0)


def test_complete_lines_counts_a_run_too_long_for_a_line() -> None:
    stats = SourceStats("t")
    buffer = LineBuffer()
    assert complete_lines(buffer, b"$GPGGA,1*00\r\n$GP", stats) == b"$GPGGA,1*00\r\n"
    assert stats.rejections[SourceRejection.LINE_TOO_LONG] == 0
    long_run = b"x" * (MAX_PENDING + 1)
    assert complete_lines(buffer, long_run, stats) == b"$GP" + long_run + b"\n"
    assert stats.rejections[SourceRejection.LINE_TOO_LONG] == 1
    assert buffer.pending == 0


def test_stats_as_dict_lists_every_reason() -> None:
    stats = SourceStats("tcp")
    stats.rejections[SourceRejection.BAD_TOKEN] += 2
    values = stats.as_dict()
    assert values["rejected_bad_token"] == 2
    assert {f"rejected_{r.value}" for r in SourceRejection} <= values.keys()
    assert set(values.values()) == {0, 2}


def test_memory_source_frames_per_device_and_is_a_source() -> None:
    async def body() -> None:
        feed = [("a", EPOCH[:10]), ("b", b"HB\n" + EPOCH[:20]), ("a", EPOCH[10:]),
                ("b", EPOCH[20:] + GARBAGE[:40])]  # fmt: skip
        async with MemorySource(feed) as source:
            assert isinstance(source, Source)
            chunks = [c async for c in source]
        assert joined(chunks, "a") == EPOCH
        assert joined(chunks, "b") == EPOCH + GARBAGE[:40][: GARBAGE[:40].rfind(b"\n") + 1]
        assert all(c.data.endswith(b"\n") for c in chunks)
        assert source.stats.heartbeats == 1
        assert source.stats.rejections[SourceRejection.PARTIAL_LINE] == 1  # b's unterminated tail
        assert source.stats.lines == 2 * EPOCH.count(b"\n") + 1
        a_offsets = [c.offset for c in chunks if c.device_id == "a"]
        assert a_offsets[-1] == len(EPOCH)

    run(body())


def test_memory_source_send_waits_while_the_consumer_is_behind() -> None:
    async def body() -> None:
        async with MemorySource(queue_size=1) as source:
            await source.send("a", b"$1\n")
            blocked = asyncio.create_task(source.send("a", b"$2\n"))
            await asyncio.sleep(0.02)
            assert not blocked.done()
            assert (await source.get_batch(10))[0].data == b"$1\n"
            await blocked
            source.end()
            assert [c.data async for c in source] == [b"$2\n"]
            assert await source.get_batch(10) == []

    run(body())


@given(st.lists(st.integers(0, len(EPOCH)), max_size=8))
def test_any_split_of_a_stream_gives_back_the_same_lines(cuts: list[int]) -> None:
    edges = [0, *sorted(cuts), len(EPOCH)]
    pieces = [EPOCH[a:b] for a, b in itertools.pairwise(edges)]

    async def body() -> bytes:
        async with MemorySource([("d", p) for p in pieces]) as source:
            return joined([c async for c in source])

    assert run(body()) == EPOCH


def test_a_source_is_entered_once() -> None:
    async def body() -> None:
        source = MemorySource([])
        async with source:
            with pytest.raises(RuntimeError):
                await source.__aenter__()

    run(body())
