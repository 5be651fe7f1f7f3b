"""The simulated terminals (devkit.jt808): their frames, their reports along walked tracks, and
their conversation with a platform — registration, authentication, acknowledgements, and the
re-sending of what was not acknowledged — in memory and over TCP."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from devkit.jt808 import BADGE, HELMET, Connection, Profile, SimTerminal, drive, locations
from devkit.simulate import walk
from gnss.jt808.codec import Reader, decode
from gnss.jt808.location import Location
from gnss.jt808.messages import Authentication, LocationBatch, LocationReport, Registration
from gnss.jt808.reasons import FrameRejection
from gnss.jt808.session import Terminal

from .platform import Platform, PlatformSession

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
WUHAN = [(30.59280, 114.30550), (30.59330, 114.30560)]
HELMET_PHONE, BADGE_PHONE = "00000000013800000001", "013800000002"


def track(points: list[tuple[float, float]] = WUHAN, start: datetime = T0) -> list[Location]:
    return locations(walk(start, points, speed_mps=1.5), HELMET)


def talk(
    terminal: SimTerminal,
    session: PlatformSession,
    frames: list[bytes],
    *,
    to_terminal: bool = False,
) -> None:
    """Carries frames (to the platform, or ``to_terminal``) and every answer they cause, both
    ways, until neither side has anything more to say."""
    if to_terminal:
        frames = [f for r in frames for f in terminal.receive(r)]
    while frames:
        replies = [r for f in frames for r in session.receive(f)]
        frames = [f for r in replies for f in terminal.receive(r)]


def connect(terminal: SimTerminal, platform: Platform) -> PlatformSession:
    session = platform.session()
    talk(terminal, session, terminal.connect())
    return session


# --- frames and reports -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "phone", "version"), [(HELMET, HELMET_PHONE, 1), (BADGE, BADGE_PHONE, None)]
)
def test_every_frame_decodes(profile: Profile, phone: str, version: int | None) -> None:
    terminal = SimTerminal(phone, profile)
    (registration,) = terminal.connect()
    decoded = decode(registration)
    assert isinstance(decoded, Registration)
    assert decoded.header.protocol_version == version and decoded.header.phone == phone
    terminal.code = b"code"
    (auth,) = terminal.connect()
    decoded_auth = decode(auth)
    assert isinstance(decoded_auth, Authentication) and decoded_auth.code == b"code"
    terminal.link = terminal.link.ONLINE
    reports = track()
    frames = [f for r in reports for f in terminal.report(r)] + terminal.heartbeat()
    reader = Reader()
    out = reader.feed(b"".join(frames))
    assert not any(isinstance(o, FrameRejection) for o in out)
    assert [o.location for o in out if isinstance(o, LocationReport)] == reports
    assert reader.counts.accepted == len(reports) + 1


def test_reports_follow_the_track_on_the_terminal_clock() -> None:
    points = walk(T0, [(-6.21460, -106.84510), (-6.21420, -106.84540)], speed_mps=2.0)
    points[5] = dataclasses.replace(points[5], fix=False)  # indoors for a moment
    reports = locations(points, BADGE, sos_at=[3])
    utc = locations(points, BADGE, utc=True)
    first = reports[0]
    assert (first.lat, first.lon) == (-6.2146, -106.8451)
    assert first.device_time == datetime(2026, 5, 1, 16, 0) and first.time == T0
    assert utc[0].device_time == datetime(2026, 5, 1, 8, 0)
    assert dataclasses.replace(utc[0], utc_offset_s=0).time == T0
    assert reports[2].speed_mps == pytest.approx(2.0, abs=0.03)
    assert [r.sos for r in reports[:5]] == [False, False, False, True, False]
    assert not reports[5].positioned and reports[5].sats_used == 0
    assert all(r.positioned and r.beidou_verified for r in reports[6:])
    assert {c.value for r in reports for c in r.constellations} == {"BEIDOU"}


# --- with a platform, in memory -----------------------------------------------------------------


def test_a_new_terminal_registers_authenticates_and_is_acknowledged() -> None:
    platform = Platform({HELMET_PHONE: Terminal("helmet-1")})
    helmet = SimTerminal(HELMET_PHONE, HELMET)
    session = connect(helmet, platform)
    assert helmet.online and helmet.code is not None
    reports = track()
    for report in reports:
        talk(helmet, session, helmet.report(report))
    talk(helmet, session, helmet.heartbeat())
    assert helmet.acked == reports and not helmet.pending and not helmet.backlog
    assert [loc for _, loc in platform.stored] == reports
    assert {device for device, _ in platform.stored} == {"helmet-1"}
    # The code was issued once: a second registration is refused, authentication works.
    again = SimTerminal(HELMET_PHONE, HELMET)
    connect(again, platform)
    assert again.refusals == [3] and not again.online
    returning = SimTerminal(HELMET_PHONE, HELMET, code=helmet.code)
    connect(returning, platform)
    assert returning.online


def test_an_unknown_terminal_is_refused() -> None:
    platform = Platform({})
    badge = SimTerminal(BADGE_PHONE, BADGE)
    session = connect(badge, platform)
    assert badge.refusals == [4] and not badge.online
    assert session.close


def test_what_was_not_acknowledged_is_sent_again_after_a_crash() -> None:
    """Acknowledged after commit: a crash loses only what was never acknowledged, and the
    terminal sends exactly that again, with what it recorded while offline, in blind-area
    batches."""
    platform = Platform({BADGE_PHONE: Terminal("badge-1")}, hold_acks=True)
    badge = SimTerminal(BADGE_PHONE, BADGE)
    session = connect(badge, platform)
    reports = track()
    for report in reports[:10]:
        talk(badge, session, badge.report(report))
    talk(
        badge, session, platform.commit(), to_terminal=True
    )  # the first ten are stored and acknowledged
    for report in reports[10:15]:
        talk(badge, session, badge.report(report))
    platform.crash()  # five received, never committed, never acknowledged
    badge.disconnect()
    for report in reports[15:20]:
        badge.report(report)  # offline: kept
    assert badge.acked == reports[:10] and len(badge.backlog) == 10

    session = connect(badge, platform)  # after the restart
    batches = [loc for _, loc in platform.uncommitted]
    assert batches == reports[10:20]
    talk(badge, session, platform.commit(), to_terminal=True)
    assert badge.acked == reports[:20] and not badge.pending and not badge.backlog
    assert [loc for _, loc in platform.stored] == reports[:20]  # each once


def test_a_commit_whose_acknowledgement_was_lost_is_sent_again() -> None:
    """Stored but not acknowledged (a crash right after the commit): the terminal re-sends, so
    the store sees it twice — the pipeline's duplicate rule, not the protocol, drops it."""
    platform = Platform({BADGE_PHONE: Terminal("badge-1")}, hold_acks=True)
    badge = SimTerminal(BADGE_PHONE, BADGE)
    session = connect(badge, platform)
    reports = track()[:6]
    for report in reports:
        talk(badge, session, badge.report(report))
    platform.commit()  # stored; the acknowledgements never leave
    badge.disconnect()
    session = connect(badge, platform)
    talk(badge, session, platform.commit(), to_terminal=True)
    stored = Counter(loc.device_time for _, loc in platform.stored)
    assert set(stored) == {r.device_time for r in reports} and set(stored.values()) == {2}
    assert badge.acked == reports


def test_a_long_gap_is_sent_in_batches_that_fit_a_packet() -> None:
    platform = Platform({HELMET_PHONE: Terminal("helmet-1")})
    helmet = SimTerminal(HELMET_PHONE, HELMET)
    connect(helmet, platform)
    helmet.disconnect()
    start = T0 + timedelta(hours=1)
    offline = locations(walk(start, WUHAN, speed_mps=0.2, interval_s=5.0), HELMET)
    for report in offline:
        helmet.report(report)
    frames = helmet.connect()
    session = platform.session()
    replies = [r for f in frames for r in session.receive(f)]
    batches = [decode(f) for r in replies for f in helmet.receive(r)]
    assert len(offline) > HELMET.batch_max and len(batches) >= 2
    for batch in batches:
        assert isinstance(batch, LocationBatch) and batch.blind_area
        assert len(batch.locations) <= HELMET.batch_max
    assert [loc for b in batches if isinstance(b, LocationBatch) for loc in b.locations] == offline


# --- over TCP -----------------------------------------------------------------------------------


def test_helmets_and_badges_over_tcp_with_a_dropped_connection() -> None:
    async def scenario() -> None:
        platform = Platform(
            {HELMET_PHONE: Terminal("helmet-1"), BADGE_PHONE: Terminal("badge-1", utc_offset_s=0)}
        )
        server = await platform.serve()
        host, port = server.sockets[0].getsockname()[:2]
        helmet = SimTerminal(HELMET_PHONE, HELMET)
        badge = SimTerminal(BADGE_PHONE, BADGE)
        walks = {
            "helmet": locations(walk(T0, WUHAN, speed_mps=1.5), HELMET),
            "badge": locations(walk(T0, WUHAN, speed_mps=1.5), BADGE, utc=True, seed=2),
        }
        async with server:
            connections = [
                await Connection.open(helmet, host, port),
                await Connection.open(badge, host, port),
            ]
            for connection in connections:
                await connection.wait_online()
            for name, connection in zip(walks, connections, strict=True):
                for report in walks[name][:20]:
                    await connection.report(report)
            await connections[1].close()  # the badge loses its network
            for report in walks["badge"][20:]:
                badge.report(report)
            for report in walks["helmet"][20:]:
                await connections[0].report(report)
            again = await Connection.open(badge, host, port)
            await again.wait_online()
            await connections[0].wait_acked()
            await again.wait_acked()
            await connections[0].close()
            await again.close()
        by_device: dict[str, list[Location]] = {}
        for device, loc in platform.stored:
            by_device.setdefault(device, []).append(loc)
        assert by_device["helmet-1"] == walks["helmet"]
        badge_times = Counter(loc.device_time for loc in by_device["badge-1"])
        assert set(badge_times) == {loc.device_time for loc in walks["badge"]}
        # At most the reports in flight when the link dropped arrive twice.
        assert sum(badge_times.values()) - len(badge_times) <= 20
        assert helmet.acked == walks["helmet"]
        assert sorted(badge.acked, key=lambda loc: str(loc.device_time)) == walks["badge"]
        assert platform.counts.rejected_total == 0

    asyncio.run(scenario())


def test_drive_walks_a_new_badge_through_its_reports() -> None:
    async def scenario() -> None:
        platform = Platform({BADGE_PHONE: Terminal("badge-1")})
        server = await platform.serve()
        host, port = server.sockets[0].getsockname()[:2]
        reports = locations(walk(T0, WUHAN, speed_mps=1.5), BADGE)
        async with server:
            badge = await drive(
                SimTerminal(BADGE_PHONE, BADGE), host, port, reports, heartbeat_every=5
            )
        assert badge.acked == reports and badge.code is not None and not badge.online
        assert [loc for _, loc in platform.stored] == reports
        # 1 registration, 1 authentication, the reports and a heartbeat after every fifth.
        assert platform.counts.accepted == 2 + len(reports) + len(reports) // 5

    asyncio.run(scenario())


def test_the_platform_closing_the_connection_is_seen() -> None:
    async def scenario() -> None:
        platform = Platform({})
        server = await platform.serve()
        host, port = server.sockets[0].getsockname()[:2]
        async with server:
            connection = await Connection.open(SimTerminal(BADGE_PHONE, BADGE), host, port)
            with pytest.raises(ConnectionError):
                await connection.wait_online(timeout_s=5)
            assert connection.terminal.refusals == [4]
            await connection.close()
        assert platform.closed == 1

    asyncio.run(scenario())
