"""The daemon's TCP server over real sockets: a member's receiver walking into a site checks in
(store and live feed), wrong tokens and half-sent registrations are refused and counted, and a
storm of connects and disconnects leaves nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gnss.sources import SourceRejection
from partymap.ingest.daemon import Daemon
from partymap.ingest.sources import SourcePlan
from partymap.settings import Settings
from store.db import make_engine
from store.live import LiveFeed
from tests.ingest.helpers import build_world, count_positions, nmea, visit_track, visits_of
from tests.sources.helpers import run, wait_until
from tests.sources.test_tcp import close, closed_by_server

TCP = SourcePlan(tcp_port=0, tcp_host="127.0.0.1", http=False)


async def device(
    daemon: Daemon, first: bytes = b""
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert daemon.sources.tcp is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", daemon.sources.tcp.port)
    if first:
        writer.write(first)
        await writer.drain()
    return reader, writer


def test_a_walk_into_the_site_over_tcp_is_a_check_in_in_the_store_and_on_the_feed(
    settings: Settings, engine: Engine
) -> None:
    world = build_world(engine, 1)
    person = world.people[0]
    track = visit_track()
    lines = nmea(track).splitlines(keepends=True)
    # Heartbeats between lines now and then; the stream is then cut anywhere.
    data = b"".join(line + (b"HB\r\n" if k % 50 == 49 else b"") for k, line in enumerate(lines))
    live = LiveFeed(queue_size=100_000)

    async def scenario() -> dict[str, Any]:
        with live.subscribe() as subscription:
            async with Daemon(settings, engine, TCP, live=live) as daemon:
                _, writer = await device(daemon, f"REG,{person.uid},{person.token}\r\n".encode())
                rng = random.Random(5)
                at = 0
                while at < len(data):  # segments cut anywhere, heartbeats in between
                    step = rng.randint(1, 1500)
                    writer.write(data[at : at + step])
                    at += step
                    if rng.random() < 0.05:
                        await writer.drain()
                await writer.drain()
                while (event := await subscription.get(timeout=10)) is not None:
                    if event["type"] == "checkin":
                        checkin = dict(event)
                        break
                await close(writer)
        return checkin

    checkin = run(scenario())
    ((start, end, checkin_at),) = visits_of(engine, person.member_id)
    assert checkin["time"] == start.isoformat() == checkin_at.isoformat()
    assert (checkin["member_id"], checkin["site_id"], checkin["org_path"]) == (
        person.member_id,
        world.site_id,
        world.org_path,
    )
    assert end is not None
    assert count_positions(engine) == len(track)


def test_wrong_tokens_unknown_devices_and_half_registrations_are_refused(
    settings: Settings, engine: Engine
) -> None:
    person = build_world(engine, 1).people[0]
    quick = settings.model_copy(update={"ingest_tcp_registration_timeout_seconds": 0.3})
    epochs = nmea(visit_track()[:5])

    async def scenario() -> Daemon:
        async with Daemon(quick, engine, TCP) as daemon:
            wrong, w1 = await device(daemon, f"REG,{person.uid},not-the-token\n".encode() + epochs)
            ghost, w2 = await device(daemon, b"REG,ghost-9,whatever\n" + epochs)
            half, w3 = await device(daemon, f"REG,{person.uid},{person.token[:5]}".encode())
            assert await closed_by_server(wrong) and await closed_by_server(ghost)
            assert await closed_by_server(half)
            for writer in (w1, w2, w3):
                await close(writer)
        return daemon

    daemon = run(scenario())
    assert daemon.sources.tcp is not None
    rejections = daemon.sources.tcp.stats.rejections
    assert rejections[SourceRejection.BAD_TOKEN] == 1
    assert rejections[SourceRejection.UNKNOWN_DEVICE] == 1
    assert rejections[SourceRejection.REGISTRATION_TIMEOUT] == 1
    assert count_positions(engine) == 0


def open_sockets() -> int:
    """Sockets this process holds (the store's SQLite files are not sockets)."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):  # closed by another thread meanwhile
            count += os.readlink(fd).startswith("socket:")
    return count


def test_a_storm_of_connects_and_disconnects_leaves_nothing_behind(
    settings: Settings, spatialite_url: str
) -> None:
    engine = make_engine(spatialite_url)
    world = build_world(engine, 20, prefix="storm")
    people = world.people
    epochs = nmea(visit_track()[:3])

    async def storm(daemon: Daemon, round_: int) -> None:
        async def one(k: int) -> None:
            person = people[k % len(people)]
            _, writer = await device(daemon)
            kind = (k + round_) % 4
            if kind == 0:  # registers, sends part of a line, drops
                writer.write(f"REG,{person.uid},{person.token}\n".encode() + epochs[:137])
            elif kind == 1:  # half a registration
                writer.write(b"REG,storm-00")
            elif kind == 2:  # a wrong token
                writer.write(f"REG,{person.uid},nope\n".encode())
            # kind 3: connects and says nothing
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            await close(writer)

        await asyncio.gather(*(one(k) for k in range(200)))

    async def scenario() -> tuple[int, Daemon]:
        async with Daemon(settings, engine, TCP) as daemon:
            assert daemon.sources.tcp is not None
            await storm(daemon, 0)  # warm up: everything a connection allocates once
            await wait_until(
                lambda: daemon.sources.tcp is not None and daemon.sources.tcp.stats.active == 0
            )
            baseline = open_sockets()
            for round_ in range(1, 6):
                await storm(daemon, round_)
            await wait_until(
                lambda: daemon.sources.tcp is not None and daemon.sources.tcp.stats.active == 0
            )
            await wait_until(lambda: open_sockets() <= baseline, what="sockets back")
            return daemon.sources.tcp.registered_devices, daemon

    try:
        registered, daemon = run(scenario(), timeout=120)
    finally:
        engine.dispose()
    assert registered == 0
    assert daemon.sources.tcp is not None and daemon.sources.tcp.stats.connections == 1200
    assert len(daemon.pipeline.decoding.decoder.device_ids) <= len(people)  # type: ignore[union-attr]
    assert daemon.stats.buffered_fixes == 0
