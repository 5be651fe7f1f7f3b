"""Chunks longer than one NATS message, against NATS servers that take small messages: cut at
line boundaries and stored once each, in order; a line too long for any message refused (HTTP
413) or dropped and counted, never tried again forever."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from devkit.cluster import Node
from devkit.nats import NatsCluster
from partymap.cluster.edge import EdgeStats, Publisher
from partymap.cluster.payload import fit, longest_line
from partymap.cluster.stream import decode_chunks, ensure_stream
from partymap.settings import Settings
from store.db import make_engine
from tests.cluster.test_publish import stream_messages
from tests.ingest.helpers import build_world, nmea, stored, visit_track

MAX_PAYLOAD = 8192


@pytest.fixture
def small_nats() -> Iterator[NatsCluster]:
    with NatsCluster(max_payload=MAX_PAYLOAD) as cluster:
        yield cluster


def lines(n: int, tag: str) -> bytes:
    return b"".join(b"$GPTXT,01,01,02,%s %05d*00\r\n" % (tag.encode(), k) for k in range(n))


@pytest.mark.parametrize("room", [1, 7, 30, 1000])
def test_pieces_are_whole_lines_in_order_and_only_overlong_lines_are_dropped(room: int) -> None:
    data = b"a\nbbbbbbbbbbbb\n\ncc\n" + b"d" * 40 + b"\n" + lines(20, "x")
    pieces, dropped = fit(data, room)
    assert all(len(p) <= room and p.endswith(b"\n") for p in pieces)
    kept = [line for line in data.splitlines(keepends=True) if len(line) <= room]
    assert b"".join(pieces) == b"".join(kept)
    assert dropped == len(data.splitlines()) - len(kept)
    assert longest_line(data) == 41


async def read_stream(js: Any, settings: Settings) -> list[tuple[int, list[Any]]]:
    """Every message of every partition: (its size, its chunks)."""
    messages = await stream_messages(js, settings)
    return [(len(m), decode_chunks(m)) for ms in messages.values() for m in ms]


def test_long_chunks_are_cut_and_a_server_taking_less_is_never_tried_forever(
    small_nats: NatsCluster,
) -> None:
    settings = Settings(
        nats_url=small_nats.url,
        cluster_partitions=2,
        cluster_publish_seconds=0.2,
        cluster_publish_bytes=256_000,  # above what these servers take
    )
    big = lines(600, "big")  # about 20 kB: cut into pieces
    overlong = b"$GPTXT," + b"z" * (3 * MAX_PAYLOAD) + b"\r\n"
    mqtt = lines(3, "m1") + overlong + lines(3, "m2")
    sent = [
        ("http", "dev-big", 1.0, big),
        ("mqtt", "dev-mqtt", 2.0, mqtt),
        ("tcp", "dev-big", 3.0, lines(2, "after")),
    ]

    async def body() -> None:
        nc = await nats.connect(servers=small_nats.url.split(","))
        assert nc.max_payload == MAX_PAYLOAD
        js = nc.jetstream()
        await ensure_stream(js, settings)
        stats = EdgeStats()
        heard = {"max_payload": 1_048_576}  # as if last heard from a server taking 1 MB
        publisher = Publisher(js, settings, stats, max_payload=lambda: heard["max_payload"])
        publisher.start()
        delivery = await publisher.add(sent, lambda uid: None)
        # ... and now connected to one that takes less: the gathered message is cut again.
        heard["max_payload"] = nc.max_payload
        await asyncio.wait_for(delivery.done, 20)
        await publisher.close()
        got = await read_stream(js, settings)
        await nc.close()
        assert all(size <= MAX_PAYLOAD for size, _ in got)
        by_device: dict[str, bytes] = {}
        for _, chunks in got:
            for _, uid, _, data in chunks:
                by_device[uid] = by_device.get(uid, b"") + data
        assert by_device["dev-big"] == big + lines(2, "after")
        assert by_device["dev-mqtt"] == lines(3, "m1") + lines(3, "m2")
        assert stats.oversized_lines_dropped == 1
        assert stats.chunks_cut >= 2
        assert len(got) >= 3

    asyncio.run(body())


@pytest.mark.postgis
def test_an_edge_cuts_large_bodies_and_refuses_an_overlong_line_with_413(
    small_nats: NatsCluster, cluster_databases: Any, tmp_path: Path
) -> None:
    url = cluster_databases.create()
    engine = make_engine(url)
    person = build_world(engine, 1).people[0]
    track = visit_track(stay_s=120)
    body = nmea(track)
    assert len(body) > 3 * MAX_PAYLOAD
    env = {
        "PARTYMAP_DATABASE_URL": url,
        "PARTYMAP_NATS_URL": small_nats.url,
        "PARTYMAP_CLUSTER_PARTITIONS": "4",
        "PARTYMAP_INGEST_DECODER_PROCESS": "0",
        "PARTYMAP_DATA_DIR": str(tmp_path),
    }
    edge = Node("edge", env, name="e1", log_dir=tmp_path)
    worker = Node("worker", env, name="w1", log_dir=tmp_path)
    try:
        for node in (edge, worker):
            node.start()
        for node in (edge, worker):
            node.wait_up()
        post = f"http://127.0.0.1:{edge.port}/api/v1/devices/{person.uid}/nmea"
        headers = {"Authorization": f"Bearer {person.token}", "Content-Type": "text/plain"}
        answer = httpx.post(post, content=body, headers=headers, timeout=30)
        assert answer.status_code == 202, answer.text
        bad = b"$GPTXT," + b"z" * (2 * MAX_PAYLOAD) + b"\r\n"
        answer = httpx.post(post, content=bad, headers=headers, timeout=30)
        assert answer.status_code == 413
        assert "longer than one cluster message" in answer.json()["detail"]
        deadline = time.monotonic() + 60
        while len(stored(engine)) < len(track) and time.monotonic() < deadline:
            time.sleep(0.3)
        times = stored(engine)
        assert len(times) == len(track)  # every fix once
        assert times == sorted(times)
        health = edge.health()
        assert health is not None
        facts = health["cluster"]
        assert facts["oversized_bodies_refused"] == 1
        assert facts["chunks_cut"] >= 1
        metrics = httpx.get(f"http://127.0.0.1:{edge.port}/metrics").text
        assert "partymap_cluster_oversized_bodies_refused 1.0" in metrics
    finally:
        for node in (edge, worker):
            node.stop(10)
        engine.dispose()
