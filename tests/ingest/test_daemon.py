"""The daemon over its in-memory source (the HTTP sink), on SpatiaLite and PostGIS: check-ins,
presence for the map, late fixes, unknown devices, a new site set, and a restart mid-visit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from shapely.geometry import Point
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api.app import create_app
from api.auth import create_access_token
from devkit.simulate import TrackPoint
from partymap.ingest.daemon import Daemon
from partymap.ingest.sources import SourcePlan
from partymap.settings import Settings
from store import devices, sites, users
from store.db import make_engine
from store.live import LiveFeed
from store.models import Position, Role, VisitRow
from store.presence import list_presence
from tests.ingest.helpers import (
    OUTSIDE,
    PARAMS,
    SITE,
    T0,
    build_world,
    count_positions,
    ending_now,
    nmea,
    stay,
    stored,
    visit_track,
    visits_of,
)
from tests.sources.helpers import run, wait_until

HTTP_ONLY = SourcePlan(http=True)


async def send(daemon: Daemon, uid: str, data: bytes) -> None:
    """``data`` posted as one body (a post holds whole epochs: its end closes the last one)."""
    assert daemon.http is not None
    await daemon.http.send(uid, data)


async def feed_all(
    settings: Settings, engine: Engine, uid: str, data: bytes
) -> list[dict[str, Any]]:
    """Run a daemon over ``data`` from ``uid``, stop it; the live events it published."""
    live = LiveFeed(queue_size=100_000)
    with live.subscribe() as subscription:
        async with Daemon(settings, engine, HTTP_ONLY, live=live) as daemon:
            await send(daemon, uid, data)
        events = []
        while (event := await subscription.get(timeout=0)) is not None:
            events.append(dict(event))
    return events


def test_a_member_walking_into_a_site_checks_in_once(settings: Settings, engine: Engine) -> None:
    world = build_world(engine, 1)
    person = world.people[0]
    track = visit_track()
    events = run(feed_all(settings, engine, person.uid, nmea(track)))

    assert len(stored(engine, person.device_id)) == len(track)
    ((start, end, checkin),) = visits_of(engine, person.member_id)
    assert checkin == start and start < end
    kinds = [e["type"] for e in events]
    assert kinds.count("checkin") == 1 and kinds.count("visit_ended") == 1
    (checkin_event,) = [e for e in events if e["type"] == "checkin"]
    assert checkin_event == {
        "type": "checkin",
        "member_id": person.member_id,
        "org_id": world.org_id,
        "org_path": world.org_path,
        "site_id": world.site_id,
        "time": start.isoformat(),
        "beidou_verified": True,
    }
    positions = [e for e in events if e["type"] == "position"]
    assert positions and all(e["org_path"] == world.org_path for e in positions)
    assert positions[-1]["time"] == track[-1].time.isoformat()
    assert {"lat", "lon", "accuracy_m", "beidou"} <= positions[-1].keys()
    with Session(engine) as session:
        assert list_presence(session) == []  # back outside: no row


def test_presence_rows_follow_the_member_for_the_map(settings: Settings, engine: Engine) -> None:
    world = build_world(engine, 1)
    person = world.people[0]
    track = visit_track(stay_s=120)
    arrived = next(i for i, p in enumerate(track) if (p.lat, p.lon) == SITE)
    live = LiveFeed(queue_size=100_000)

    def presence() -> list[tuple[str, Any, Any]]:
        with Session(engine) as session:
            return [(r.state, r.since, r.checkin_at) for r in list_presence(session)]

    async def scenario() -> list[dict[str, Any]]:
        with live.subscribe() as subscription:
            async with Daemon(settings, engine, HTTP_ONLY, live=live) as daemon:
                await send(daemon, person.uid, nmea(track[: arrived + 3]))
                await wait_until(lambda: [p[0] for p in presence()] == ["arriving"])
                ((_, since, _),) = presence()
                await send(daemon, person.uid, nmea(track[arrived + 3 : arrived + 60]))
                await wait_until(lambda: presence() == [("present", since, since)], what="present")
            return [e async for e in _drain(subscription)]

    events = run(scenario())
    states = [(e["state"], e["since"]) for e in events if e["type"] == "presence"]
    since = states[0][1]
    # Entering within the site's accuracy margin, a few metres before its centre.
    assert since <= track[arrived].time.isoformat()
    assert states == [("arriving", since), ("present", since)]


def test_late_fixes_are_stored_but_never_move_presence_back(
    settings: Settings, engine: Engine, spatialite_url: str
) -> None:
    world = build_world(engine, 1)
    person = world.people[0]
    track = visit_track()
    # Store-and-forward: a burst of fixes from inside the site, sent after the member left.
    inside = [p for p in track if (p.lat, p.lon) == SITE]
    late = [TrackPoint(p.time - timedelta(seconds=0.5), p.lat, p.lon) for p in inside[5:15]]
    run(feed_all(settings, engine, person.uid, nmea(track) + nmea(late, seed=1)))

    assert len(stored(engine, person.device_id)) == len(track) + len(late)
    visits = visits_of(engine, person.member_id)
    assert visits == twin_visits(settings, spatialite_url, nmea(track))
    assert len(visits) == 1 and visits[0][1] < inside[-1].time + timedelta(seconds=10)


def test_unknown_devices_are_dropped_until_registered(settings: Settings, engine: Engine) -> None:
    world = build_world(engine, 1)
    data = nmea(visit_track()[:10])

    async def scenario() -> Daemon:
        async with Daemon(settings, engine, HTTP_ONLY) as daemon:
            await send(daemon, "ghost-1", data)
            assert daemon.http is not None
            sent = daemon.http.source.stats
            await wait_until(lambda: daemon.stats.unknown_device_chunks == sent.chunks)
            with Session(engine) as session:
                devices.create_device(session, uid="ghost-1", member_id=world.people[0].member_id)
                session.commit()
            await send(daemon, "ghost-1", data)
        return daemon

    daemon = run(scenario())
    assert count_positions(engine) == 10
    assert daemon.stats.unknown_device_chunks >= 1


def test_posts_while_the_daemon_stops_are_answered_503(settings: Settings, engine: Engine) -> None:
    person = build_world(engine, 1).people[0]
    data = nmea(visit_track()[:5])

    async def post(app: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://partymap") as client:
            return await client.post(
                f"/api/v1/devices/{person.uid}/nmea",
                content=data,
                headers={"Authorization": f"Bearer {person.token}", "Content-Type": "text/plain"},
            )

    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        daemon = Daemon(settings, engine, HTTP_ONLY)
        await daemon.start()
        app = create_app(settings, engine=engine, ingest=daemon.http)
        taken = await post(app)
        await daemon.stop()
        return taken, await post(app)

    taken, stopping = run(scenario())
    assert taken.status_code == 202
    assert stopping.status_code == 503 and stopping.headers["retry-after"] == "5"
    assert "stopping" in stopping.json()["detail"]
    assert len(stored(engine, person.device_id)) == 5  # what was taken is stored


def test_a_new_site_is_picked_up_while_running(settings: Settings, engine: Engine) -> None:
    world = build_world(engine, 1)
    person = world.people[0]
    # The member walks from the first site to a new one added while the daemon runs.
    new_centre = OUTSIDE

    async def scenario() -> None:
        async with Daemon(settings, engine, HTTP_ONLY) as daemon:
            with Session(engine) as session:
                sites.create_site(
                    session,
                    org_id=world.org_id,
                    name="项目部",
                    geometry=Point(new_centre[1], new_centre[0]),
                    radius_m=40.0,
                    params=PARAMS,
                )
                session.commit()
            await wait_until(lambda: daemon.stats.sites == 2, what="the new site set")
            track = visit_track(T0)
            await send(daemon, person.uid, nmea(ending_now(track + stay(track[-1], OUTSIDE, 40))))

    run(scenario())
    with Session(engine) as session:
        site_ids = {v for (v,) in session.execute(_visit_sites())}
    assert len(site_ids) == 2


def test_a_restart_mid_visit_carries_on_where_it_stopped(
    settings: Settings, engine: Engine, spatialite_url: str
) -> None:
    world = build_world(engine, 1)
    person = world.people[0]
    track = visit_track(stay_s=90)
    arrived = next(i for i, p in enumerate(track) if (p.lat, p.lon) == SITE)
    cut = arrived + 40  # checked in (dwell 20 s), still there
    run(feed_all(settings, engine, person.uid, nmea(track[:cut])))
    with Session(engine) as session:
        assert [r.state for r in list_presence(session)] == ["present"]
    run(feed_all(settings, engine, person.uid, nmea(track[cut:], seed=1)))

    expected = twin_visits(settings, spatialite_url, nmea(track))
    assert visits_of(engine, person.member_id) == expected
    assert len(expected) == 1 and expected[0][1] is not None


def twin_visits(settings: Settings, url: str, data: bytes) -> list[Any]:
    """The visits the same NMEA gives in one go, without a restart, on a database of its own."""
    other = make_engine(url)
    try:
        twin = build_world(other, 1).people[0]
        run(feed_all(settings, other, twin.uid, data))
        return visits_of(other, twin.member_id)
    finally:
        other.dispose()


async def _drain(subscription: Any) -> Any:
    while (event := await subscription.get(timeout=0)) is not None:
        yield dict(event)


def _visit_sites() -> Any:
    return select(VisitRow.site_id).where(VisitRow.checkin_at.is_not(None))


def test_a_device_with_stricter_thresholds_has_its_fixes_rejected(
    settings: Settings, engine: Engine
) -> None:
    world = build_world(engine, 1)
    person = world.people[0]
    with Session(engine) as session:
        devices.get_device(session, device_id=person.device_id).quality = {"max_hdop": 0.3}
        session.commit()
    track = visit_track()
    run(feed_all(settings, engine, person.uid, nmea(track)))
    with Session(engine) as session:
        reasons = set(session.scalars(select(Position.rejections)))
    assert reasons == {"hdop_too_high"}
    assert visits_of(engine, person.member_id) == []


def test_a_devices_line_counters_by_outcome_through_its_fixes_endpoint(
    settings: Settings, engine: Engine
) -> None:
    """Per device (not only per source): its sentences decoded by outcome, next to its stored
    fixes by reason, in ``GET /devices/{id}/fixes``."""
    noisy, quiet = build_world(engine, 2).people
    track = visit_track()[:20]
    bad = b"$GPGGA,080000.00,3030.0000,N,11418.0000,E,1,12,0.9,21.5,M,,M,,*00\r\n"
    with Session(engine) as session:
        admin = users.create_user(
            session, username="root", password="a long enough password", role=Role.COMMITTEE_ADMIN
        )
        session.commit()
        token, _ = create_access_token(
            settings, user_id=admin.id, password_hash=admin.password_hash
        )

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        async with Daemon(settings, engine, HTTP_ONLY) as daemon:
            assert daemon.http is not None
            await daemon.http.send(noisy.uid, bad + nmea(track) + bad)
            await daemon.http.send(quiet.uid, nmea(track))
            app = create_app(settings, engine=engine, ingest=daemon.http)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                end = track[-1].time + timedelta(seconds=1)
                window = {"start": track[0].time.isoformat(), "end": end.isoformat()}
                answers = [
                    await client.get(
                        f"/api/v1/devices/{p.device_id}/fixes",
                        params=window,
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    for p in (noisy, quiet)
                ]
        assert [a.status_code for a in answers] == [200, 200], answers[0].text
        return answers[0].json(), answers[1].json()

    noisy_fixes, quiet_fixes = run(go())
    sentences = len(nmea(track).splitlines())
    assert noisy_fixes["lines"] == {"accepted": sentences, "checksum": 2}
    assert quiet_fixes["lines"] == {"accepted": sentences}
    for answer in (noisy_fixes, quiet_fixes):
        assert answer["counts"]["accepted"] + sum(answer["counts"]["rejected"].values()) >= 20
        assert len(answer["fixes"]) == 20
