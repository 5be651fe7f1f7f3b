"""The JT/T 808 server over real sockets, driven by the simulated helmets and badges: check-ins
from walked scenarios, identity (registration once, codes, unknown terminals), time zones,
acknowledgements after commit."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from devkit.jt808 import Connection, drive, locations
from gnss.jt808.codec import Reader
from gnss.jt808.framing import FLAG, check_code, escape, wrap
from gnss.jt808.header import Header
from gnss.jt808.header import encode as encode_header
from gnss.jt808.location import LOCATION
from gnss.jt808.messages import MessageId, PlatformResponse, RegistrationResult, Result
from partymap.ingest.daemon import Daemon
from partymap.settings import Settings
from store import devices
from store.alarms import list_alarms
from store.live import LiveFeed
from store.models import Device
from tests.ingest.helpers import build_world, count_positions, visit_track, visits_of
from tests.ingest.jt808_world import (
    BADGE,
    HELMET,
    JT808_ONLY,
    add_terminals,
    stored_rows,
    terminal,
)
from tests.sources.helpers import run, wait_until

T1 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def test_helmets_and_badges_walk_in_and_check_in(settings: Settings, engine: Engine) -> None:
    world = build_world(engine, 0)
    helmet = add_terminals(engine, world, 1, profile=HELMET)[0]  # registers over the air
    badge = add_terminals(engine, world, 1, profile=BADGE, issue=True, first=1)[0]
    track = visit_track()

    async def main() -> tuple[int, int, dict[str, int]]:
        async with Daemon(settings, engine, JT808_ONLY) as daemon:
            assert daemon.sources.jt808 is not None
            port = daemon.sources.jt808.port
            sims = [terminal(helmet), terminal(badge)]
            await asyncio.gather(
                *(drive(sim, "127.0.0.1", port, locations(track, sim.profile)) for sim in sims)
            )
            stats = daemon.sources.jt808.stats
            assert stats.frames == stats.accepted + sum(stats.rejected.values())
            return len(sims[0].acked), len(sims[1].acked), dict(stats.events)

    helmet_acked, badge_acked, events = run(main())
    assert helmet_acked == badge_acked == len(track)
    assert events["registration_granted"] == 1 and events["authenticated"] == 2
    for carrier in (helmet, badge):
        rows = stored_rows(engine, carrier.device_id)
        assert len(rows) == len(track)
        assert {r.source for r in rows} == {"jt808"}
        assert [r.fix_time for r in rows] == [p.time for p in track]  # GMT+8 read as such
        assert rows[0].accuracy_m == 10.0 and rows[0].hdop is None
        ((start, end, checkin),) = visits_of(engine, carrier.member_id)
        assert checkin == start and end is not None
    with Session(engine) as session:
        device = session.get(Device, helmet.device_id)
        assert device is not None and device.token_hash is not None  # the code it was given


def test_registration_is_granted_once_until_an_admin_rotates_the_token(
    settings: Settings, engine: Engine
) -> None:
    world = build_world(engine, 0)
    carrier = add_terminals(engine, world, 1)[0]

    async def register(daemon: Daemon) -> list[int]:
        assert daemon.sources.jt808 is not None
        sim = terminal(carrier)  # a terminal that lost its code (or an impostor)
        connection = await Connection.open(sim, "127.0.0.1", daemon.sources.jt808.port)
        try:
            await wait_until(lambda: sim.online or sim.refusals, what="an answer")
        finally:
            await connection.close()
        return sim.refusals

    async def main() -> list[list[int]]:
        async with Daemon(settings, engine, JT808_ONLY) as daemon:
            first = await register(daemon)
            second = await register(daemon)
            with Session(engine) as session:
                devices.issue_device_token(session, device_id=carrier.device_id, reopen=True)
                session.commit()
            third = await register(daemon)
            fourth = await register(daemon)
            return [first, second, third, fourth]

    answers = run(main())
    refused = [RegistrationResult.TERMINAL_REGISTERED]
    assert answers == [[], refused, [], refused]


def test_unknown_terminals_and_wrong_codes_are_refused_and_nothing_is_stored(
    settings: Settings, engine: Engine
) -> None:
    world = build_world(engine, 0)
    known = add_terminals(engine, world, 1, issue=True)[0]
    track = visit_track()[:5]

    async def main() -> dict[str, int]:
        async with Daemon(settings, engine, JT808_ONLY) as daemon:
            assert daemon.sources.jt808 is not None
            port = daemon.sources.jt808.port
            stranger = terminal(known)
            stranger.phone = "00000000019900000000"
            impostor = terminal(known)
            impostor.code = b"not the code"
            for sim in (stranger, impostor):
                connection = await Connection.open(sim, "127.0.0.1", port)
                await asyncio.wait_for(connection.closed_by_platform.wait(), 10)
                for location in locations(track, sim.profile):
                    sim.report(location)  # kept offline: never sent
                await connection.close()
            return dict(daemon.sources.jt808.stats.events)

    events = run(main())
    assert events["unknown_terminal"] == 1 and events["bad_code"] == 1
    assert count_positions(engine) == 0


def test_a_terminal_on_utc_is_read_in_utc(settings: Settings, engine: Engine) -> None:
    world = build_world(engine, 0)
    carrier = add_terminals(engine, world, 1, issue=True, utc_offset_min=0)[0]
    track = visit_track()[:10]

    async def main() -> None:
        async with Daemon(settings, engine, JT808_ONLY) as daemon:
            assert daemon.sources.jt808 is not None
            sim = terminal(carrier)
            reports = locations(track, sim.profile, utc=True)
            await drive(sim, "127.0.0.1", daemon.sources.jt808.port, reports)

    run(main())
    assert [r.fix_time for r in stored_rows(engine, carrier.device_id)] == [p.time for p in track]


def test_acknowledged_only_once_stored(settings: Settings, engine: Engine) -> None:
    world = build_world(engine, 0)
    carrier = add_terminals(engine, world, 1, issue=True)[0]
    track = visit_track()
    seen: list[tuple[int, int]] = []

    async def main() -> None:
        async with Daemon(settings, engine, JT808_ONLY) as daemon:
            assert daemon.sources.jt808 is not None
            sim = terminal(carrier)
            connection = await Connection.open(sim, "127.0.0.1", daemon.sources.jt808.port)
            await connection.wait_online()
            for location in locations(track, sim.profile):
                await connection.report(location)
                # Whatever the terminal holds as acknowledged is already in the store (counted
                # before the store is read: answers may arrive while it is read).
                acked = len(sim.acked)
                stored = len(await asyncio.to_thread(stored_rows, engine, carrier.device_id))
                seen.append((acked, stored))
            await connection.wait_acked()
            await connection.close()

    run(main())
    assert all(acked <= stored for acked, stored in seen)
    assert seen[-1][0] < len(track)  # some were still waiting for their commit
    assert len(stored_rows(engine, carrier.device_id)) == len(track)


def test_the_stored_times_keep_gmt8(settings: Settings, engine: Engine) -> None:
    world = build_world(engine, 0)
    carrier = add_terminals(engine, world, 1, issue=True)[0]
    track = visit_track(T1)[:3]

    async def main() -> None:
        async with Daemon(settings, engine, JT808_ONLY) as daemon:
            assert daemon.sources.jt808 is not None
            reports = locations(track, HELMET)
            assert reports[0].device_time == (T1 + timedelta(hours=8)).replace(tzinfo=None)
            await drive(terminal(carrier), "127.0.0.1", daemon.sources.jt808.port, reports)

    run(main())
    assert stored_rows(engine, carrier.device_id)[0].fix_time == T1


def test_an_sos_raises_one_alarm_on_the_live_feed_and_in_the_store(
    settings: Settings, engine: Engine
) -> None:
    world = build_world(engine, 0)
    carrier = add_terminals(engine, world, 1, issue=True)[0]
    track = visit_track()[:20]
    live = LiveFeed(queue_size=10_000)

    async def main() -> list[dict[str, object]]:
        with live.subscribe() as subscription:
            async with Daemon(settings, engine, JT808_ONLY, live=live) as daemon:
                assert daemon.sources.jt808 is not None
                sim = terminal(carrier)
                reports = locations(track, sim.profile, sos_at=[5])
                await drive(sim, "127.0.0.1", daemon.sources.jt808.port, reports)
                await daemon.alarms.settled()
            events = []
            while (event := await subscription.get(timeout=0)) is not None:
                events.append(dict(event))
        return [e for e in events if e["type"] == "alarm"]

    (alarm,) = run(main())
    assert alarm["alarm"] == "sos" and alarm["member_id"] == carrier.member_id
    assert alarm["org_path"] == world.org_path and alarm["time"] == track[5].time.isoformat()
    with Session(engine) as session:
        (stored,) = list_alarms(session)
    assert stored.fix_time == track[5].time and stored.device_id == carrier.device_id


def test_a_rotated_code_closes_the_terminals_open_connection(
    settings: Settings, engine: Engine
) -> None:
    world = build_world(engine, 0)
    (badge,) = add_terminals(engine, world, 1, profile=BADGE, issue=True)
    sent = locations(visit_track(), badge.profile)

    async def main() -> tuple[int, dict[str, int]]:
        async with Daemon(settings, engine, JT808_ONLY) as daemon:
            assert daemon.sources.jt808 is not None
            connection = await Connection.open(
                terminal(badge), "127.0.0.1", daemon.sources.jt808.port
            )
            await connection.wait_online()
            for location in sent[:5]:
                await connection.report(location)
            await connection.wait_acked()
            with Session(engine) as session:
                devices.issue_device_token(session, device_id=badge.device_id)
                session.commit()
            await daemon.sources.revoke(badge.phone)
            await asyncio.wait_for(connection.closed_by_platform.wait(), 2)
            with contextlib.suppress(ConnectionError):
                for location in sent[5:]:
                    await connection.report(location)
            await asyncio.sleep(0.5)
            await connection.close()
            return len(stored_rows(engine, badge.device_id)), dict(
                daemon.sources.jt808.stats.closed
            )

    stored_count, closed = run(main())
    assert stored_count == 5  # nothing sent on the old session after the rotation
    assert closed.get("revoked") == 1


def test_a_burst_of_good_broken_and_other_frames_is_answered_frame_by_frame(
    settings: Settings, engine: Engine
) -> None:
    """Reports read together in the fast lane, a broken check code, a time that is not BCD
    and a heartbeat among them, all in one write: each frame gets its own answer (2: message
    error for the broken ones, 0 for the rest, the reports' only once stored), every answer a
    serial of its own, and only the good reports are stored."""
    world = build_world(engine, 0)
    carrier = add_terminals(engine, world, 1, issue=True)[0]  # a helmet: 2019 headers
    reports = locations(visit_track()[:3], HELMET)
    sim = terminal(carrier)

    def frame(msg_id: int, body: bytes, *, check_wrong: bool = False) -> bytes:
        header = Header(msg_id, carrier.phone, sim.serial, protocol_version=1)
        sim.serial += 1
        message = encode_header(header, body)
        if not check_wrong:
            return wrap(message)
        wrong = check_code(message) ^ 0xFF  # never the right one, whatever the report's bytes
        return bytes([FLAG]) + escape(message + bytes([wrong])) + bytes([FLAG])

    good = [LOCATION.write(loc) for loc in reports]
    not_bcd = good[1][:22] + b"\x1a" + good[1][23:]
    burst = [
        frame(MessageId.LOCATION, good[0]),
        frame(MessageId.LOCATION, good[1], check_wrong=True),
        frame(MessageId.HEARTBEAT, b""),
        frame(MessageId.LOCATION, not_bcd),
        frame(MessageId.LOCATION, good[2]),
    ]
    first = sim.serial - len(burst)

    async def main() -> tuple[dict[int, PlatformResponse], dict[str, int]]:
        async with Daemon(settings, engine, JT808_ONLY) as daemon:
            assert daemon.sources.jt808 is not None
            reader, writer = await asyncio.open_connection("127.0.0.1", daemon.sources.jt808.port)
            writer.write(b"".join(sim.connect()))
            codec, answers = Reader(), {}
            while not sim.online:
                sim.receive(await reader.read(4096))
            writer.write(b"".join(burst))
            async with asyncio.timeout(30):
                while len(answers) < len(burst):
                    for message in codec.feed(await reader.read(4096)):
                        assert isinstance(message, PlatformResponse)
                        answers[message.reply_serial] = message
            writer.close()
            stats = daemon.sources.jt808.stats
            return answers, {"frames": stats.frames, "accepted": stats.accepted}

    answers, counts = run(main())
    results = [answers[first + i].result for i in range(len(burst))]
    assert results == [Result.OK, Result.MESSAGE_ERROR, Result.OK, Result.MESSAGE_ERROR, Result.OK]
    assert len({a.header.serial for a in answers.values()}) == len(burst)
    assert counts == {"frames": 1 + len(burst), "accepted": 1 + 3}
    assert [r.fix_time for r in stored_rows(engine, carrier.device_id)] == [
        reports[0].time,
        reports[2].time,
    ]
