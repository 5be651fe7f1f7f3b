"""Rotating a device's token or deactivating it ends its open sessions on every transport at
once: the TCP connection is closed, MQTT messages are dropped, and nothing sent afterwards is
stored."""

from __future__ import annotations

import asyncio
import os

import aiomqtt
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from partymap.ingest.daemon import Daemon
from partymap.ingest.sources import SourcePlan
from partymap.settings import Settings
from store import devices
from tests.ingest.helpers import build_world, nmea, stored, visit_track
from tests.sources.helpers import run, wait_until


def test_a_rotated_token_closes_the_open_tcp_connection(settings: Settings, engine: Engine) -> None:
    (person,) = build_world(engine, 1).people
    track = visit_track()
    plan = SourcePlan(tcp_port=0, tcp_host="127.0.0.1", http=False)

    async def go() -> bytes:
        async with Daemon(settings, engine, plan) as daemon:
            assert daemon.sources.tcp is not None
            reader, writer = await asyncio.open_connection("127.0.0.1", daemon.sources.tcp.port)
            writer.write(f"REG,{person.uid},{person.token}\r\n".encode() + nmea(track[:10]))
            await writer.drain()
            await wait_until(lambda: len(stored(engine, person.device_id)) >= 9)
            with Session(engine) as session:
                devices.issue_device_token(session, device_id=person.device_id)
                session.commit()
            await daemon.sources.revoke(person.uid)
            closed = await asyncio.wait_for(reader.read(), 2)  # EOF: closed by the server
            try:
                writer.write(nmea(track[10:]))
                await writer.drain()
            except ConnectionError:
                pass
            await asyncio.sleep(0.5)
            writer.close()
        return closed

    assert run(go()) == b""
    assert len(stored(engine, person.device_id)) == 10  # the open epoch closed at the revoke


def test_a_deactivated_device_is_dropped_at_once_over_tcp_and_mqtt(
    settings: Settings, engine: Engine, mqtt_broker: tuple[str, int]
) -> None:
    tcp_person, mqtt_person = build_world(engine, 2).people
    track = visit_track()
    settings = settings.model_copy(
        update={
            "ingest_mqtt_client_id": f"revoke-{os.getpid()}",
            "ingest_directory_refresh_seconds": 60,
        }
    )
    plan = SourcePlan(tcp_port=0, tcp_host="127.0.0.1", mqtt=mqtt_broker, http=False)
    topic = f"partymap/devices/{mqtt_person.uid}/nmea"

    async def go() -> None:
        async with Daemon(settings, engine, plan) as daemon:
            assert daemon.sources.tcp is not None
            reader, writer = await asyncio.open_connection("127.0.0.1", daemon.sources.tcp.port)
            writer.write(f"REG,{tcp_person.uid},{tcp_person.token}\r\n".encode())
            writer.write(nmea(track[:10]))
            await writer.drain()
            async with aiomqtt.Client(*mqtt_broker) as client:
                await asyncio.sleep(0.5)  # the daemon's subscription is up
                await client.publish(topic, nmea(track[:10]), qos=1)
                await wait_until(
                    lambda: (
                        len(stored(engine, tcp_person.device_id)) >= 9
                        and len(stored(engine, mqtt_person.device_id)) >= 9
                    )
                )
                before = len(stored(engine, mqtt_person.device_id))
                with Session(engine) as session:
                    for person in (tcp_person, mqtt_person):
                        devices.set_device_active(session, device_id=person.device_id, active=False)
                    session.commit()
                for person in (tcp_person, mqtt_person):
                    await daemon.sources.revoke(person.uid)
                assert await asyncio.wait_for(reader.read(), 2) == b""
                await client.publish(topic, nmea(track[10:]), qos=1)
                await asyncio.sleep(1.0)
                assert len(stored(engine, mqtt_person.device_id)) <= before + 1
            writer.close()

    run(go(), timeout=60)
    assert len(stored(engine, tcp_person.device_id)) <= 10
    assert len(stored(engine, mqtt_person.device_id)) <= 10
