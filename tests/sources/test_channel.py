"""The bounded channel between a source and its consumer."""

from __future__ import annotations

import asyncio

import pytest

from gnss.model import RawChunk
from gnss.sources.channel import ChunkChannel
from tests.sources.helpers import run


def chunk(n: int) -> RawChunk:
    return RawChunk("d", b"%d\n" % n, 0.0)


def test_offer_refuses_when_full_and_room_comes_back_after_a_get() -> None:
    async def body() -> None:
        channel = ChunkChannel(2)
        assert channel.offer(chunk(1)) and channel.offer(chunk(2))
        assert not channel.offer(chunk(3))
        room = channel.wait_for_room()
        assert not room.done()
        assert (await channel.get()).data == b"1\n"
        assert room.done()
        assert channel.offer(chunk(3))
        assert [c.data for c in await channel.get_batch(10)] == [b"2\n", b"3\n"]

    run(body())


def test_put_waits_for_the_consumer_and_order_is_kept() -> None:
    async def body() -> list[bytes]:
        channel = ChunkChannel(1)

        async def produce() -> None:
            for n in range(50):
                await channel.put(chunk(n))
            channel.close()

        producer = asyncio.create_task(produce())
        await asyncio.sleep(0.01)
        assert len(channel) == 1 and not producer.done()  # blocked on a full channel
        got = [c.data async for c in _iterate(channel)]
        await producer
        return got

    assert run(body()) == [b"%d\n" % n for n in range(50)]


async def _iterate(channel: ChunkChannel):  # type: ignore[no-untyped-def]
    while True:
        try:
            yield await channel.get()
        except StopAsyncIteration:
            return


def test_close_lets_the_consumer_drain_then_ends_or_raises() -> None:
    async def body() -> None:
        channel = ChunkChannel(4)
        channel.offer(chunk(1))
        channel.close(ValueError("bad config"))
        assert (await channel.get()).data == b"1\n"
        with pytest.raises(ValueError, match="bad config"):
            await channel.get()
        ended = ChunkChannel(4)
        ended.close()
        assert await ended.get_batch(5) == []
        with pytest.raises(StopAsyncIteration):
            await ended.get()
        with pytest.raises(RuntimeError):
            ended.offer(chunk(1))

    run(body())


def test_a_waiting_consumer_wakes_on_offer_and_on_close() -> None:
    async def body() -> None:
        channel = ChunkChannel(4)
        getter = asyncio.create_task(channel.get())
        await asyncio.sleep(0)
        channel.offer(chunk(7))
        assert (await getter).data == b"7\n"
        batch = asyncio.create_task(channel.get_batch(3))
        await asyncio.sleep(0)
        channel.close()
        assert await batch == []

    run(body())


def test_a_cancelled_putter_hands_its_room_to_the_next() -> None:
    async def body() -> None:
        channel = ChunkChannel(1)
        channel.offer(chunk(0))
        first = asyncio.create_task(channel.put(chunk(1)))
        second = asyncio.create_task(channel.put(chunk(2)))
        await asyncio.sleep(0)
        await channel.get()  # room for one: goes to `first`…
        first.cancel()  # …which is cancelled before it could use it
        await asyncio.gather(first, return_exceptions=True)
        await asyncio.wait_for(second, 1)  # so `second` must have been woken instead
        assert (await channel.get()).data == b"2\n"

    run(body())


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ChunkChannel(0)
