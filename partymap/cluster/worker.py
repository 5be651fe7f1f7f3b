"""The worker role: which partitions this worker holds, and the pipeline over them.

Workers announce themselves on a NATS subject every heartbeat; each one computes the same
assignment from the workers it heard recently (rendezvous hashing: partition ``p`` goes to the
worker whose hash with ``p`` is highest), so a worker joining takes its share and a worker gone
silent has its share spread over the others. Holding a partition is an advisory lock on the
worker's own database connection: a worker killed loses it with its connection, and a partition
is never processed by two workers at once. Whenever the held set changes the pipeline is
stopped (what it read is committed), the partitions are taken over under a new generation
(:func:`store.partitions.take_over`) and a new pipeline starts from where each is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import time
from typing import Any

import orjson
from sqlalchemy import Engine

from partymap.cluster.consume import PartitionDaemon
from partymap.cluster.stream import (
    guard_subject,
    live_subject,
    watching_subject,
    workers_subject,
)
from partymap.settings import Settings
from store.db import make_sessionmaker
from store.partitions import PartitionState, release_lease, take_over, try_lease

log = logging.getLogger(__name__)


def assignment(workers: set[str], partitions: int) -> dict[int, str]:
    """Partition → worker by rendezvous hashing (the same on every worker).

    >>> a = assignment({"w1", "w2"}, 8)
    >>> sorted(set(a.values())), len(a)
    (['w1', 'w2'], 8)
    >>> b = assignment({"w1", "w2", "w3"}, 8)
    >>> all(b[p] == a[p] for p in a if b[p] != "w3")  # only the newcomer's share moves
    True
    """

    def score(worker: str, p: int) -> bytes:
        return hashlib.blake2b(f"{worker}/{p}".encode(), digest_size=8).digest()

    return {p: max(workers, key=lambda w: score(w, p)) for p in range(partitions)}


class Worker:
    """Holds its share of the partitions and runs a :class:`PartitionDaemon` over them."""

    def __init__(self, settings: Settings, engine: Engine, nc: Any, *, live: Any, registry: Any):
        self.settings = settings
        self.engine = engine
        self.nc = nc
        self.js = nc.jetstream()
        self.live = live
        self.registry = registry
        self.id = settings.cluster_worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.seen: dict[str, float] = {}
        self.watched_until = -float("inf")
        self.held: dict[int, PartitionState] = {}
        self.daemon: PartitionDaemon | None = None
        self.takeovers = 0
        self.failure: BaseException | None = None
        self._lease = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self._loop = asyncio.get_running_loop()
        self._sending: set[asyncio.Future[None]] = set()

    # -- what the daemon sends out ------------------------------------------------------------

    def live_out(self, events: list[dict[str, Any]]) -> None:
        payload = orjson.dumps(events)
        self._loop.call_soon_threadsafe(self._publish, live_subject(self.settings), payload)

    def guard_out(self, payload: bytes) -> None:
        self._loop.call_soon_threadsafe(self._publish, guard_subject(self.settings), payload)

    def _publish(self, subject: str, payload: bytes) -> None:
        task = asyncio.ensure_future(self.nc.publish(subject, payload, headers={"worker": self.id}))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    # -- membership and partitions ------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        await self.nc.subscribe(workers_subject(s), cb=self._heard)
        await self.nc.subscribe(guard_subject(s), cb=self._guard_in)
        await self.nc.subscribe(watching_subject(s), cb=self._watching)
        beat = asyncio.ensure_future(self._beat())
        try:
            # Hear the others before claiming anything, so a restart does not grab everything.
            await asyncio.sleep(s.cluster_heartbeat_seconds * 1.5)
            while not stop.is_set():
                await self._balance()
                if self.daemon is not None and self.daemon.failed.is_set():
                    self.failure = self.daemon.failure
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), s.cluster_heartbeat_seconds / 2)
        finally:
            beat.cancel()
            await self._stop_daemon()
            for p in list(self.held):
                release_lease(self._lease, p)
            self._lease.close()

    async def _beat(self) -> None:
        while True:
            await self.nc.publish(workers_subject(self.settings), self.id.encode())
            await asyncio.sleep(self.settings.cluster_heartbeat_seconds)

    async def _heard(self, msg: Any) -> None:
        self.seen[msg.data.decode()] = time.monotonic()

    async def _watching(self, msg: Any) -> None:
        self.watched_until = time.monotonic() + self.settings.cluster_worker_timeout_seconds

    def watched(self) -> bool:
        """Whether some API node has live-feed subscribers (live map positions are wanted)."""
        return time.monotonic() < self.watched_until

    async def _guard_in(self, msg: Any) -> None:
        if self.daemon is not None and (msg.headers or {}).get("worker") != self.id:
            self.daemon.guard.remember(msg.data)

    def alive(self) -> set[str]:
        cutoff = time.monotonic() - self.settings.cluster_worker_timeout_seconds
        return {w for w, at in self.seen.items() if at >= cutoff} | {self.id}

    async def _balance(self) -> None:
        wanted = {
            p
            for p, w in assignment(self.alive(), self.settings.cluster_partitions).items()
            if w == self.id
        }
        fenced = self.daemon is not None and self.daemon.fenced.is_set()
        drop = set(self.held) - wanted
        take = [p for p in sorted(wanted - set(self.held)) if try_lease(self._lease, p)]
        if not (drop or take or fenced):
            return
        await self._stop_daemon()
        for p in drop:
            release_lease(self._lease, p)
        keep = (set(self.held) - drop) | set(take)
        with make_sessionmaker(self.engine)() as session:
            self.held = {p: take_over(session, partition=p, owner=self.id) for p in sorted(keep)}
            session.commit()
        self.takeovers += 1
        log.info("worker %s holds partitions %s", self.id, sorted(self.held))
        if self.held:
            self.daemon = PartitionDaemon(
                self.settings,
                self.engine,
                nc=self.nc,
                states=self.held,
                live_out=self.live_out,
                guard_out=self.guard_out,
                watched=self.watched,
                live=self.live,
            )
            await self.daemon.start()

    # -- changes announced by any node -------------------------------------------------------

    async def directory_changed(self, revoked: frozenset[str]) -> None:
        """Devices, members or organisations changed: the pipeline's directory read again."""
        if self.daemon is not None:
            await self.daemon.devices.refresh()

    async def sites_changed(self, revoked: frozenset[str]) -> None:
        """Sites changed: the pipeline's site index read again (if the set's version moved)."""
        if self.daemon is not None and self.daemon.pipeline is not None:
            await self.daemon.refresh_sites()

    async def _stop_daemon(self) -> None:
        if self.daemon is not None:
            daemon, self.daemon = self.daemon, None
            await daemon.stop()

    def lag(self) -> int:
        return sum(self.daemon.reader.lag.values()) if self.daemon is not None else 0
