"""Presence follows each device's own timeline (DESIGN §11, silence versus lag): one recorded
log, replayed at once, paced by its time tags and sent over TCP throttled to 64 KB/s to a live
daemon, gives the same visits and check-ins, though its fix times lag the clock by months."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from partymap.ingest.daemon import Daemon
from partymap.ingest.sources import ReplaySpec, SourcePlan
from partymap.settings import Settings
from tests.ingest.helpers import T0, Person, build_world, nmea, visit_track, visits_of
from tests.sources.helpers import run

THROTTLE_BYTES_S = 64 * 1024


def recorded_log() -> bytes:
    """Two visits with a check-in each, 15 minutes apart (longer than ``max_gap``: the
    device was off in between), recorded months before the clock's now."""
    first = visit_track(T0)
    second = visit_track(T0 + timedelta(minutes=15))
    return nmea(first) + nmea(second, seed=1)


async def replayed(settings: Settings, engine: Engine, log: Path, uid: str, speed: float | None):  # type: ignore[no-untyped-def]
    plan = SourcePlan(replay=(ReplaySpec(log, uid, speed),), http=False)
    async with Daemon(settings, engine, plan) as daemon:
        await daemon.sources.done()


async def throttled(settings: Settings, engine: Engine, data: bytes, person: Person) -> None:
    plan = SourcePlan(tcp_port=0, tcp_host="127.0.0.1", http=False)
    async with Daemon(settings, engine, plan) as daemon:
        assert daemon.sources.tcp is not None
        _, writer = await asyncio.open_connection("127.0.0.1", daemon.sources.tcp.port)
        writer.write(f"REG,{person.uid},{person.token}\r\n".encode())
        piece = THROTTLE_BYTES_S // 20
        for at in range(0, len(data), piece):
            writer.write(data[at : at + piece])
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.5)  # the last lines reach the pipeline before it stops


def test_instant_paced_and_throttled_delivery_give_the_same_visits_and_check_ins(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    instant, paced, slow = build_world(engine, 3).people
    data = recorded_log()
    log = tmp_path / "walks.nmea"
    log.write_bytes(data)
    run(replayed(settings, engine, log, instant.uid, None), timeout=60)
    run(replayed(settings, engine, log, paced.uid, 100.0), timeout=120)
    run(throttled(settings, engine, data, slow), timeout=120)

    expected = visits_of(engine, instant.member_id)
    assert len(expected) == 2 and all(checkin is not None for _, _, checkin in expected)
    assert visits_of(engine, paced.member_id) == expected
    assert visits_of(engine, slow.member_id) == expected
