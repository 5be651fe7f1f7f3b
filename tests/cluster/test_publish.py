"""An edge's publisher against the test's NATS cluster: messages gathered per partition, bounded in
size, each partition's chunks in order, a delivery done only once JetStream has them all."""

from __future__ import annotations

import asyncio
from typing import Any

import nats

from devkit.nats import NatsCluster
from partymap.cluster.edge import EdgeStats, Publisher
from partymap.cluster.stream import decode_chunks, ensure_stream, partition_of, raw_subject
from partymap.settings import Settings

DEVICES = [f"dev-{k}" for k in range(12)]


def test_gathered_bounded_in_order_and_acknowledged(nats_cluster: NatsCluster) -> None:
    settings = Settings(
        nats_url=nats_cluster.url,
        cluster_partitions=4,
        cluster_publish_seconds=0.2,
        cluster_publish_bytes=2_000,
    )

    async def body() -> None:
        nc = await nats.connect(servers=nats_cluster.url.split(","))
        js = nc.jetstream()
        await ensure_stream(js, settings)
        stats = EdgeStats()
        publisher = Publisher(js, settings, stats)
        publisher.start()
        sent = [
            ("tcp", DEVICES[k % len(DEVICES)], 1e9 + k, b"$GPGGA,%05d*00\r\n" % k)
            for k in range(600)
        ]
        first = await publisher.add(sent[:300], lambda uid: None)
        assert not first.done.done()  # gathering: nothing is due yet
        await publisher.publish(sent[300:], lambda uid: None)
        assert first.done.done()
        await publisher.close()
        messages = await stream_messages(js, settings)
        assert all(len(m) <= settings.cluster_publish_bytes for ms in messages.values() for m in ms)
        got = {p: [c for m in ms for c in decode_chunks(m)] for p, ms in messages.items()}
        for p, chunks in got.items():
            expected = [c for c in sent if partition_of(f"d:{c[1]}", 4) == p]
            assert chunks == expected
        assert sum(len(c) for c in got.values()) == len(sent)
        assert stats.messages < len(sent) / 10  # gathered, not one message per chunk
        await nc.close()

    asyncio.run(body())


async def stream_messages(js: Any, settings: Settings) -> dict[int, list[bytes]]:
    """Every message of the raw stream, by partition."""
    got = {}
    for p in range(settings.cluster_partitions):
        sub = await js.pull_subscribe(raw_subject(settings, p), stream=settings.cluster_stream)
        try:
            msgs = await sub.fetch(1000, timeout=1.0)
        except TimeoutError:
            msgs = []
        got[p] = [m.data for m in msgs]
    return got
