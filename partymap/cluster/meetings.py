"""The meeting task in a cluster: run by one worker at a time, under a lease.

One process runs :class:`~partymap.meeting_task.MeetingTask` beside its daemon (attendance
recorded after a meeting's end, plans scheduled ahead, overdue alerts, ``meeting`` and ``alert``
live events). In a cluster every worker is ready to run it, and the one holding the meetings'
lease does: a PostgreSQL advisory lock on a connection of its own, as partitions are held
(:mod:`store.partitions`), in a namespace of its own. Every heartbeat a worker without it tries
to take it, and the holder checks that it still has it; when the holder dies its connection
closes, the lock goes with it, and another worker takes it within a heartbeat
(``CLUSTER_HEARTBEAT_SECONDS``). Its steps are safe with several processes anyway (recording is
claimed per meeting, horizons per plan, alerts are unique rows), so the lease only spares the
database the repeated work and the live feed repeated events while a lost holder is noticed.

Its live events go out on the workers' live subject, so an SSE client on any API node sees
them, and to this worker's own feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from partymap.meeting_task import MeetingTask
from partymap.settings import Settings
from store.live import LiveEvent, LiveFeed

log = logging.getLogger(__name__)

# pg_try_advisory_lock(TASK_SPACE, MEETINGS): apart from the partitions' namespace.
TASK_SPACE = 0x504E
MEETINGS = 1


def _failed(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        # A bug: logged; the task starts again at the next heartbeat while the lease is held.
        log.error("the meeting task failed", exc_info=task.exception())


class RelayedFeed(LiveFeed):
    """A live feed whose events also go out to every API node (``out``, from any thread)."""

    def __init__(self, local: LiveFeed, out: Callable[[list[dict[str, Any]]], None]) -> None:
        super().__init__()
        self._local = local
        self._out = out

    def publish_many(self, events: tuple[LiveEvent, ...] | list[LiveEvent]) -> None:
        if events:
            self._local.publish_many(events)
            self._out([dict(e) for e in events])


class MeetingLease:
    """Runs the meeting task while this worker holds the meetings' lease."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        live: LiveFeed,
        out: Callable[[list[dict[str, Any]]], None],
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.feed = RelayedFeed(live, out)
        self.task: MeetingTask | None = None
        self.takeovers = 0
        self._connection: Connection | None = None
        self._running: asyncio.Task[None] | None = None

    @property
    def held(self) -> bool:
        return self._running is not None and not self._running.done()

    @property
    def ticks(self) -> int:
        return self.task.ticks if self.task is not None else 0

    async def run(self, stop: asyncio.Event) -> None:
        """Hold the lease whenever it is free, run the task while held, until ``stop``."""
        try:
            while not stop.is_set():
                held = await asyncio.to_thread(self._check)
                if held and not self.held:
                    self.takeovers += 1
                    log.info("meetings' lease taken: this worker runs the meeting task")
                    self.task = MeetingTask(self.settings, self.engine, self.feed)
                    self._running = asyncio.ensure_future(self.task.run())
                    self._running.add_done_callback(_failed)
                elif not held and self.held:
                    log.warning("meetings' lease lost: the meeting task stops here")
                    await self._stop_task()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.cluster_heartbeat_seconds)
        finally:
            await self._stop_task()
            await asyncio.to_thread(self._close)

    def _check(self) -> bool:
        """Take the lease if it is free, or confirm this connection still holds it; a broken
        connection (the database restarted) holds nothing and is opened again next time."""
        try:
            if self._connection is None:
                self._connection = self.engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT"
                )
            key = {"space": TASK_SPACE, "key": MEETINGS}
            if self.held:
                return bool(
                    self._connection.scalar(
                        text(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                            "AND classid = :space AND objid = :key AND objsubid = 2 "
                            "AND pid = pg_backend_pid() AND granted"
                        ),
                        key,
                    )
                )
            return bool(
                self._connection.scalar(text("SELECT pg_try_advisory_lock(:space, :key)"), key)
            )
        except SQLAlchemyError as exc:
            log.warning("meetings' lease: %s", exc)
            self._close()
            return False

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.close()  # the lock ends with its session
            self._connection = None

    async def _stop_task(self) -> None:
        if self._running is not None:
            running, self._running = self._running, None
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
