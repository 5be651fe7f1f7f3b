"""The daemon's tasks on the event loop: each watched, so that a failure (a bug or bad
configuration) fails the daemon loudly, and the loops that run an action every so often."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from partymap.ingest.metrics import IngestStats

log = logging.getLogger(__name__)


class Tasks:
    """Watched tasks; :attr:`failed` is set by the first that fails (:attr:`failure`)."""

    def __init__(self, stats: IngestStats) -> None:
        self.failure: BaseException | None = None
        self.failed = asyncio.Event()
        self._stats = stats
        self._loops: list[asyncio.Task[None]] = []

    def start(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        return self.watch(asyncio.create_task(work, name=name))

    def every(self, period_s: float, action: Callable[[], Awaitable[None]], prefix: str) -> None:
        """Run ``action`` every ``period_s`` until :meth:`stop_loops`; a failed run (the store
        away) is logged and tried again at the next period."""
        # "ingest Devices.refresh": a bare "refresh" would not say what it refreshes.
        name = f"{prefix} {action.__qualname__}"
        self._loops.append(self.start(_every(period_s, action), name))

    async def stop_loops(self) -> None:
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)

    def watch(self, task: asyncio.Task[None]) -> asyncio.Task[None]:
        """``task``, failing the daemon if it fails."""

        def done(task: asyncio.Task[None]) -> None:
            if task.cancelled() or task.exception() is None:
                return
            self.failure = self.failure or task.exception()
            self._stats.pipeline_failed = True
            log.error("%s failed", task.get_name(), exc_info=task.exception())
            self.failed.set()

        task.add_done_callback(done)
        return task


async def _every(period_s: float, action: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(period_s)
        try:
            await action()
        except Exception as exc:  # the store away: keep what we have, try again later
            log.warning("%s failed (%s: %s)", action.__qualname__, type(exc).__name__, exc)
