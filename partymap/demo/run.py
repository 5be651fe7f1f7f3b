"""The demo, start to finish: a fresh embedded database, the demo organisation, the recorded
logs moved to today, the dashboard served, and the logs replayed through the ingestion daemon.

1. :func:`prepare`: delete the last run's database, create and migrate a new SpatiaLite file,
   seed the organisation with its meeting a few minutes ahead and its past year of recorded
   meetings (:mod:`partymap.demo.history`), write today's copies of the logs.
2. :func:`run`: serve the API and dashboard (uvicorn on this event loop); replay the history
   logs as fast as the pipeline takes them (the map fills at once); at the start of the live
   part, replay the live logs paced by their own time tags, so check-ins and the meeting's
   attendance unfold in real time. The dashboard stays up after the logs end. The JT/T 808
   helmets (:mod:`partymap.demo.terminals`) play their recorded reports the same way, over
   TCP to each daemon's own JT/T 808 server on the loopback, acknowledged once stored.

Ctrl-C (or SIGTERM) stops the HTTP server, then the daemon, which stores what it had read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import uvicorn
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from api.app import PROXY_HEADERS, create_app
from gnss.jt808.location import Location
from partymap.demo.history import seed_history
from partymap.demo.logs import HISTORY, LIVE, RECORDED, RECORDED_LIVE_START, retime_logs
from partymap.demo.terminals import SUFFIX, Helmet, recorded_reports
from partymap.ingest.daemon import Daemon
from partymap.ingest.run import HTTP_GRACE_S, running, stop_on_signals
from partymap.ingest.sources import ReplaySpec, SourcePlan
from partymap.meeting_task import MeetingTask
from partymap.seed import MEETING, ORGS, SITES, SeededDemo, seed_demo
from partymap.settings import Settings
from store.db import make_sessionmaker, open_engine
from store.live import LiveFeed

DATABASE = "demo.sqlite"
# Time to seed and replay the history before the live part starts.
LEAD = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class Prepared:
    settings: Settings
    engine: Engine
    seeded: SeededDemo
    logs: dict[str, list[Path]]
    live_start: datetime
    # The helmets' recorded reports moved to today, by part: (phone, reports) by phone.
    helmets: dict[str, list[tuple[str, list[Location]]]]


def demo_settings(base: Settings, work: Path, **changes: object) -> Settings:
    """``base`` pointed at the demo's own database in ``work`` (never the configured one)."""
    return base.model_copy(
        update={"data_dir": work, "database_url": f"sqlite:///{work / DATABASE}", **changes}
    )


def prepare(
    settings: Settings, *, recorded: Path = RECORDED, now: datetime, lead: timedelta = LEAD
) -> Prepared:
    """A fresh database in ``settings.data_dir`` with the organisation seeded and the logs of
    ``recorded`` copied there, moved so that their live part starts ``lead`` after ``now``."""
    work = settings.data_dir
    work.mkdir(parents=True, exist_ok=True)
    for stale in work.glob(f"{DATABASE}*"):  # the file and its -wal and -shm companions
        stale.unlink()
    live_start = (now + lead).replace(microsecond=0)
    engine = open_engine(settings.sqlalchemy_url)
    try:
        with make_sessionmaker(engine)() as session:
            seeded = seed_demo(session, live_start=live_start)
            seed_history(session, seeded, now=now)
            session.commit()
        logs = retime_logs(recorded, work / "logs", live_start)
        shift = live_start - RECORDED_LIVE_START
        helmets = {
            part: [
                (path.stem, recorded_reports(path, shift))
                for path in sorted((recorded / part).glob(f"*{SUFFIX}"))
            ]
            for part in (HISTORY, LIVE)
        }
    except BaseException:
        engine.dispose()
        raise
    return Prepared(settings, engine, seeded, logs, live_start, helmets)


def replay_plan(logs: list[Path], speed: float | None) -> SourcePlan:
    """Each log as the device it is named after; a JT/T 808 server on a free loopback port."""
    return SourcePlan(
        replay=tuple(ReplaySpec(p, p.stem, speed) for p in logs),
        http=False,
        jt808_port=0,
        jt808_host="127.0.0.1",
    )


async def replay_history(prepared: Prepared, live: LiveFeed) -> Daemon:
    """The history replayed and stored: the NMEA logs and the helmets' reports (all
    acknowledged); the daemon, stopped, for its counters and failure."""
    async with history_daemon(prepared, live) as daemon:
        await _all(daemon.sources.done(), play_helmets(prepared, HISTORY, daemon, paced=False))
    return daemon


async def play_helmets(prepared: Prepared, part: str, daemon: Daemon, *, paced: bool) -> None:
    """The helmets' reports of ``part`` over TCP to ``daemon``'s JT/T 808 server, until all
    are acknowledged (stored)."""
    assert daemon.sources.jt808 is not None
    port = daemon.sources.jt808.port
    await asyncio.gather(
        *(
            Helmet(phone, prepared.seeded.codes[phone], host="127.0.0.1", port=port).play(
                reports, paced=paced
            )
            for phone, reports in prepared.helmets[part]
        )
    )


def history_daemon(prepared: Prepared, live: LiveFeed) -> Daemon:
    """The daemon that replays the history logs as fast as it can (``sources.done()`` when all
    are stored); silent members' visits end by the logs' clock, not the wall's."""
    plan = replay_plan(prepared.logs[HISTORY], None)
    return Daemon(prepared.settings, prepared.engine, plan, live=live, clock="stream")


async def run(prepared: Prepared, *, say: Callable[[str], None]) -> None:
    """Serve and replay until Ctrl-C or SIGTERM."""
    settings, engine = prepared.settings, prepared.engine
    live = LiveFeed()
    registry = CollectorRegistry()
    app = create_app(settings, engine=engine, live=live, registry=registry)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            timeout_graceful_shutdown=HTTP_GRACE_S,
            proxy_headers=PROXY_HEADERS,
        )
    )
    stop = asyncio.Event()
    # uvicorn handles Ctrl-C while it serves and raises it again once stopped: the loop's own
    # handler (setting ``stop``) then takes it instead of an exception.
    with stop_on_signals(stop):
        async with running(MeetingTask(settings, engine, live).run()):
            serving = asyncio.ensure_future(server.serve())
            while not server.started and not serving.done():
                await asyncio.sleep(0.05)
            if serving.done():
                serving.result()  # could not start (the port is taken…)
                return
            say(instructions(prepared))
            await _until(serving, replay_history(prepared, live))
            wait_s = (prepared.live_start - datetime.now(UTC)).total_seconds()
            if not serving.done() and wait_s > 0:
                await _until(serving, asyncio.sleep(wait_s))
            if serving.done():
                return
            plan = replay_plan(prepared.logs[LIVE], 1.0)
            async with Daemon(settings, engine, plan, live=live, registry=registry) as daemon:
                helmets = play_helmets(prepared, LIVE, daemon, paced=True)
                done = _all(daemon.sources.done(), helmets)
                await _until(serving, done, daemon.failed.wait())
                if not serving.done():
                    say("The recorded morning is over; the map stays up. Ctrl-C stops the demo.")
                    await serving


async def _all(*waits: Awaitable[object]) -> None:
    await asyncio.gather(*waits)


async def _until(serving: asyncio.Future[None], *waits: object) -> None:
    """Wait for the first of ``waits`` or for the server to stop; cancel the rest."""
    tasks = [asyncio.ensure_future(w) for w in waits]  # type: ignore[call-overload]
    await asyncio.wait([serving, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def instructions(prepared: Prepared) -> str:
    """What to open, how to log in, and what to watch."""
    settings, seeded = prepared.settings, prepared.seeded
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    room = next(s for s in SITES if s.key == MEETING.site)
    local = ZoneInfo(room.tz)
    meeting_at = (prepared.live_start + MEETING.starts_after).astimezone(local)
    branch = next(o for o in ORGS if o.key == MEETING.org)
    parent = next(o for o in ORGS if o.key == branch.parent)
    logins = [
        f"  {login.username:<8} {login.password:<16} "
        + ("committee admin: the whole organisation" if login.org is None
           else f"branch secretary: {next(o.name for o in ORGS if o.key == login.org)} only")
        for login in seeded.logins
    ]  # fmt: skip
    return "\n".join(
        [
            "",
            "partymap demo: the electronic map of a party committee with worksites at home and",
            "abroad, its devices replaying their recorded morning through the ingestion daemon.",
            "",
            f"Open    http://{host}:{settings.port}/map",
            "Log in with one of:",
            *logins,
            "",
            f"Watch   {parent.name} › {branch.name}: its members walk to {room.name} for the",
            f"        {MEETING.title} at {meeting_at:%H:%M} ({room.tz}). Check-ins appear in the",
            "        live feed; the 三会一课 (meetings) tab shows attendance as it unfolds.",
            f"Data    {settings.data_dir / DATABASE} (new on every run); tiles: {settings.tiles}",
            "CLI     other partymap commands read this database with",
            f"        --url {settings.sqlalchemy_url}",
            f"        or: export PARTYMAP_DATABASE_URL={settings.sqlalchemy_url}",
            "",
            "Ctrl-C stops the demo.",
            "",
        ]
    )
