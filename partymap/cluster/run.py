"""What ``partymap serve --role edge|worker|api`` runs (``all`` is :func:`partymap.ingest.run.
serve`, unchanged), each with the API's ``/healthz`` and ``/metrics`` on its HTTP port.

- edge: the sources, publishing to the stream; HTTP ingest answers after JetStream's ack;
- worker: its share of the partitions through the pipeline (:mod:`partymap.cluster.worker`),
  and the meeting task while it holds the meetings' lease (:mod:`partymap.cluster.meetings`);
- api: the API and the map, the live feed taken from the workers' NATS subject.

Every role serves the API, announces the changes its routes make and follows the others'
(:mod:`partymap.cluster.changes`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Literal

import nats
import orjson
import uvicorn
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from sqlalchemy import Engine

from api.app import PROXY_HEADERS, create_app
from api.changes import Kind
from api.routes.map import forget_roster
from gnss.sources.tcp import raise_open_file_limit
from partymap.cluster.changes import DIRECTORY_KINDS, Changes
from partymap.cluster.edge import EdgeDaemon, EdgeStats, Publisher
from partymap.cluster.meetings import MeetingLease
from partymap.cluster.stream import (
    ensure_stream,
    live_subject,
    nats_servers,
    watching_subject,
)
from partymap.cluster.worker import Worker
from partymap.ingest.run import HTTP_GRACE_S, stop_on_signals
from partymap.ingest.sources import SourcePlan
from partymap.settings import Settings
from store.live import LiveFeed

log = logging.getLogger(__name__)

Role = Literal["all", "edge", "worker", "api"]


async def connect(settings: Settings) -> Any:
    async def problem(exc: Exception) -> None:
        log.warning("NATS: %s", exc)

    nc = await nats.connect(
        servers=nats_servers(settings),
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=problem,
        name="partymap",
    )
    await ensure_stream(nc.jetstream(), settings)
    return nc


class ClusterCollector:
    """``partymap_cluster_*`` for Prometheus: role, partitions held, lag, stream."""

    def __init__(self, role: str, facts: Callable[[], dict[str, Any]]) -> None:
        self.role = role
        self.facts = facts

    def collect(self) -> Iterator[Any]:
        facts = self.facts()
        info = InfoMetricFamily("partymap_cluster", "This node's role")
        info.add_metric([], {"role": self.role})
        yield info
        for name, value in facts.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                yield GaugeMetricFamily(f"partymap_cluster_{name}", name.replace("_", " "), value)


async def serve_role(settings: Settings, engine: Engine, plan: SourcePlan, role: Role) -> Any:
    """Run ``role`` until a signal; returns something with a ``failure``."""
    raise_open_file_limit()
    nc = await connect(settings)
    js = nc.jetstream()
    live = LiveFeed()
    registry = CollectorRegistry()
    stop = asyncio.Event()
    changes = Changes(nc, settings)
    node: Any

    async def stream_state() -> dict[str, Any]:
        try:
            info = await js.stream_info(settings.cluster_stream)
        except Exception as exc:
            return {"error": type(exc).__name__}
        cluster = info.cluster
        return {
            "messages": info.state.messages,
            "last_seq": info.state.last_seq,
            "leader": cluster.leader if cluster else None,
            "replicas": 1 + len(cluster.replicas or []) if cluster else 1,
        }

    with stop_on_signals(stop):
        if role == "edge":
            stats = EdgeStats()
            node = EdgeDaemon(
                settings,
                engine,
                plan,
                live=live,
                registry=registry,
                publisher=Publisher(js, settings, stats, max_payload=lambda: nc.max_payload),
            )
            await node.start()
            changes.follow.on(DIRECTORY_KINDS, node.directory_changed)

            def facts() -> dict[str, Any]:
                return {
                    "published_messages": stats.messages,
                    "published_chunks": stats.chunks,
                    "publish_retries": stats.publish_retries,
                    "chunks_cut": stats.chunks_cut,
                    "oversized_lines_dropped": stats.oversized_lines_dropped,
                    "oversized_bodies_refused": stats.oversized_bodies_refused,
                    "connected": int(nc.is_connected),
                }

            work: Awaitable[Any] = stop.wait()
        elif role == "worker":
            node = Worker(settings, engine, nc, live=live, registry=registry)
            changes.follow.on(DIRECTORY_KINDS, node.directory_changed)
            changes.follow.on([Kind.SITES], node.sites_changed)
            meetings = MeetingLease(settings, engine, live=live, out=node.live_out)

            def facts() -> dict[str, Any]:
                d = node.daemon
                return {
                    "worker": node.id,
                    "partitions_owned": len(node.held),
                    "partitions": sorted(node.held),
                    "consumer_lag": node.lag(),
                    "takeovers": node.takeovers,
                    "workers_alive": len(node.alive()),
                    "positions_stored": d.stats.positions_stored if d else 0,
                    "guard_remote_sentences": d.guard.remote_sentences if d else 0,
                    "meetings_held": int(meetings.held),
                    "meetings_ticks": meetings.ticks,
                    "meetings_takeovers": meetings.takeovers,
                    "connected": int(nc.is_connected),
                }

            async def partitions_and_meetings() -> None:
                lease = asyncio.ensure_future(meetings.run(stop))
                try:
                    await node.run(stop)  # returns early only when the worker failed
                finally:
                    stop.set()
                    await lease

            work = partitions_and_meetings()
        else:
            node = _Api()

            async def relay(msg: Any) -> None:
                live.publish_many(orjson.loads(msg.data))

            await nc.subscribe(live_subject(settings), cb=relay)
            watching = asyncio.ensure_future(_tell_watching(nc, settings, live, stop))

            def facts() -> dict[str, Any]:
                return {"live_subscribers": live.subscribers, "connected": int(nc.is_connected)}

            work = stop.wait()

        def node_facts() -> dict[str, Any]:
            told = {"changes_sent": changes.sent, "changes_heard": changes.follow.heard_count}
            return {**facts(), **told}

        registry.register(ClusterCollector(role, node_facts))
        app = create_app(
            settings,
            engine=engine,
            live=live,
            ingest=node.http if role == "edge" else None,
            registry=registry,
            changes=changes,
        )

        async def roster_changed(revoked: frozenset[str]) -> None:
            forget_roster(app.state)

        changes.follow.on(Kind, roster_changed)
        await changes.start()

        async def cluster_health() -> dict[str, Any]:
            return {"role": role, **node_facts(), "stream": await stream_state()}

        app.state.cluster = cluster_health
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                timeout_graceful_shutdown=HTTP_GRACE_S,
                log_config=None,
                proxy_headers=PROXY_HEADERS,
            )
        )
        serving = asyncio.ensure_future(server.serve())
        working = asyncio.ensure_future(work)
        await asyncio.wait({serving, working}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        stop.set()
        try:
            await serving
        except SystemExit as exc:
            node.failure = node.failure or RuntimeError(f"HTTP server exited ({exc})")
        await asyncio.gather(working, return_exceptions=True)
        if role == "edge":
            await node.stop()
        if role == "api":
            watching.cancel()
        await changes.close()
    await nc.drain()
    return node


async def _tell_watching(nc: Any, settings: Settings, live: LiveFeed, stop: asyncio.Event) -> None:
    """Tell the workers, every heartbeat, while this API node has live-feed subscribers: the
    workers make live map positions only while some node has (as one process does)."""
    while not stop.is_set():
        if live.subscribers:
            await nc.publish(watching_subject(settings), b"1")
        await asyncio.sleep(settings.cluster_heartbeat_seconds)


class _Api:
    failure: BaseException | None = None
