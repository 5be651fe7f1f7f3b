"""What ``partymap serve`` and ``partymap replay`` run, in one event loop each.

``serve``: the API (uvicorn serving :func:`api.app.create_app`) and the daemon share the loop,
the live feed, the Prometheus registry, and the daemon's HTTP ingest sink; the meeting task
(:mod:`partymap.meeting_task`: attendance recorded at the end, plans scheduled ahead, alerts)
runs beside them, with or without the API. SIGTERM or SIGINT
stops the HTTP server first (open live streams get a few seconds), then the daemon, which
stores everything its sources delivered before the process exits.

``replay``: one log through the same pipeline, from its last committed offset; it returns when
the log is stored, or, on a signal, once what was read is stored (the next run resumes there).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from api.app import PROXY_HEADERS, create_app
from gnss.sources.tcp import raise_open_file_limit
from partymap import heap
from partymap.ingest.daemon import Daemon
from partymap.ingest.metrics import IngestStats
from partymap.ingest.sources import ReplaySpec, SourcePlan
from partymap.meeting_task import MeetingTask
from partymap.settings import Settings
from store.db import make_sessionmaker
from store.live import LiveFeed
from store.offsets import get_replay_offset

# Live streams and other requests still open when the server stops get this long.
HTTP_GRACE_S = 5
SWITCH_INTERVAL_S = 0.001


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` while inside."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


@contextlib.asynccontextmanager
async def running(work: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task[None]]:
    """``work`` as a task while inside; cancelled on the way out."""
    task = asyncio.ensure_future(work)
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def first(*aws: asyncio.Future[object] | asyncio.Task[object]) -> None:
    """Wait until one of ``aws`` is done; cancel the others."""
    done, pending = await asyncio.wait(aws, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()


async def serve(
    settings: Settings, engine: Engine, plan: SourcePlan, *, http: bool = True
) -> Daemon:
    """Run until a signal (or a failure of the daemon); returns the stopped daemon."""
    # Every device connection is a descriptor: 10,000 devices need more than the usual 1,024.
    raise_open_file_limit()
    # The pipeline and writer threads wait on the decoder process and the database, then for
    # the interpreter lock, which a busy event loop hands over only every switch interval: a
    # batch does dozens of such waits, 5 ms each by default.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    live = LiveFeed()
    registry = CollectorRegistry()
    stop = asyncio.Event()
    # Installed until the daemon has stopped: a second signal while it stores what its sources
    # delivered must not kill it with what it read.
    with stop_on_signals(stop):
        async with (
            Daemon(settings, engine, plan, live=live, registry=registry) as daemon,
            running(MeetingTask(settings, engine, live).run()),
        ):
            failed = asyncio.ensure_future(daemon.failed.wait())
            if not http:
                heap.settle()
                await first(asyncio.ensure_future(stop.wait()), failed)
                return daemon
            app = create_app(
                settings, engine=engine, live=live, ingest=daemon.http, registry=registry
            )
            config = uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                timeout_graceful_shutdown=HTTP_GRACE_S,
                log_config=None,
                proxy_headers=PROXY_HEADERS,
            )
            server = uvicorn.Server(config)
            heap.settle()
            serving = asyncio.ensure_future(server.serve())
            # uvicorn takes over SIGTERM and SIGINT while it serves and raises them again when
            # it has stopped: our handler then sees them (and does nothing more).
            await asyncio.wait({serving, failed}, return_when=asyncio.FIRST_COMPLETED)
            server.should_exit = True
            try:
                await serving
            except SystemExit as exc:  # uvicorn could not start (the port is taken…)
                daemon.failure = daemon.failure or RuntimeError(f"HTTP server exited ({exc})")
            failed.cancel()
    return daemon


@dataclass(frozen=True, slots=True)
class ReplayReport:
    started_at: int  # the committed offset the replay resumed from
    stored_to: int  # the committed offset it reached
    size: int  # the log's size
    stats: IngestStats
    interrupted: bool


async def replay(settings: Settings, engine: Engine, spec: ReplaySpec) -> ReplayReport:
    """One log through the pipeline, resumed from its committed offset."""
    started = committed_offset(engine, spec.key)
    plan = SourcePlan(replay=(spec,), http=False)
    stop = asyncio.Event()
    # Installed until the daemon has stopped: a signal while it stores the end of the log
    # must not kill it with what it read.
    with stop_on_signals(stop):
        async with Daemon(settings, engine, plan, clock="stream") as daemon:
            done = asyncio.ensure_future(daemon.sources.done())
            await first(
                done,
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(daemon.failed.wait()),
            )
    if daemon.failure is not None:
        raise daemon.failure
    return ReplayReport(
        started_at=started,
        stored_to=committed_offset(engine, spec.key),
        size=spec.path.stat().st_size,
        stats=daemon.stats,
        interrupted=stop.is_set(),
    )


def committed_offset(engine: Engine, key: str) -> int:
    with make_sessionmaker(engine)() as session:
        return get_replay_offset(session, source=key) or 0
