"""The store stage: batches committed in order, through a bounded buffer, riding out outages.

The pipeline thread :meth:`StoreWriter.put`\\ s each :class:`~partymap.ingest.pipeline.StoreBatch`
in a buffer bounded by the fixes it holds; the writer thread commits what is buffered — one
batch, or several queued ones together when it fell behind — in one transaction: positions
(with the members' latest positions), visits, presence and replay offsets, so that after a
crash the offsets say exactly what is stored. Only then is the live feed told.

When the database is unreachable the transaction is rolled back and tried again with growing
pauses; batches keep arriving until the buffer is full, and then :meth:`put` blocks: the
pipeline thread stops, the daemon stops taking chunks, and the sources stop reading their
sockets, ports and files (backpressure) until the database answers again. A batch the database
refuses for another reason (a bug, or a member deleted under the daemon's feet) would be refused
forever: it is logged, counted and dropped rather than stopping all ingestion.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from types import ModuleType

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from partymap.ingest.metrics import IngestStats
from partymap.ingest.pipeline import StoreBatch
from store.fix_rows import received_micros, write_fixes
from store.offsets import set_replay_offset
from store.positions import newest_position_id, refresh_latest_positions
from store.presence import save_presence
from store.visit_writes import write_presence_events

log = logging.getLogger(__name__)

# Batches taken into one transaction when the writer is behind.
MAX_FIXES_PER_TRANSACTION = 50_000


def is_transient(exc: BaseException, driver: ModuleType | None = None) -> bool:
    """A failure that trying again later can cure: the database is away, restarting, locked,
    or every pooled connection is busy serving the API.

    ``driver`` is the engine's DB-API module: the hot path calls it directly (``executemany``
    on SQLite, ``COPY`` on PostgreSQL), so its own errors arrive unwrapped by SQLAlchemy.
    """
    transient: tuple[type[BaseException], ...] = (
        OperationalError,
        InterfaceError,
        PoolTimeoutError,
    )
    if driver is not None:
        transient += (driver.OperationalError, driver.InterfaceError)
    if isinstance(exc, transient):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def write_batches(session: Session, batches: Sequence[StoreBatch]) -> None:
    """Everything the batches leave to the store, in one transaction (the caller commits)."""
    before = newest_position_id(session)
    for batch in batches:
        fixes = batch.positions
        write_fixes(
            session,
            fixes=fixes.table,
            member_ids=fixes.members,
            reasons=batch.reasons,
            sources=fixes.sources,
            now_s=batch.now_s,
            refresh_latest=False,
        )
        write_presence_events(session, events=batch.events)
        save_presence(session, rows=batch.presence.rows, cleared=batch.presence.cleared)
    refresh_latest_positions(session, after_id=before, up_to_id=newest_position_id(session))
    offsets = {key: offset for batch in batches for key, offset in batch.offsets.items()}
    for key, offset in offsets.items():
        set_replay_offset(session, source=key, offset=offset)


class StoreWriter:
    """A writer thread behind a buffer of at most ``capacity_fixes`` fixes."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        stats: IngestStats,
        committed: Callable[[StoreBatch], None],
        refused: Callable[[StoreBatch, Exception], None] | None = None,
        capacity_fixes: int = 200_000,
        retry_max_s: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._driver: ModuleType = sessions.kw["bind"].dialect.dbapi
        self._stats = stats
        self._committed = committed
        self._refused_batch = refused
        self.capacity_fixes = capacity_fixes
        self.retry_max_s = retry_max_s
        self._buffer: collections.deque[StoreBatch] = collections.deque()
        self._fixes = 0
        self._cond = threading.Condition()
        self._closing = False
        self._give_up_at = math.inf
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        stats.buffer_capacity_fixes = capacity_fixes

    def start(self) -> None:
        self._thread.start()

    @property
    def buffered_fixes(self) -> int:
        return self._fixes

    def put(self, batch: StoreBatch) -> None:
        """Buffer ``batch``; blocks while the buffer is full (a batch larger than the whole
        buffer waits for it to be empty)."""
        with self._cond:
            while self._fixes and self._fixes + batch.fixes > self.capacity_fixes:
                self._stats.sources_paused = True
                self._cond.wait()
            self._stats.sources_paused = False
            self._buffer.append(batch)
            self._fixes += batch.fixes
            self._gauge()
            self._cond.notify_all()

    def drain(self, timeout_s: float | None = None) -> bool:
        """Wait until everything buffered is committed; False if ``timeout_s`` ran out."""
        deadline = math.inf if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while self._buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 1.0))
        return True

    def close(self, timeout_s: float = 30.0) -> int:
        """Commit what is buffered (trying for at most ``timeout_s`` while the database is
        away), stop the thread; returns the fixes that could not be stored."""
        with self._cond:
            self._closing = True
            self._give_up_at = time.monotonic() + timeout_s
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        lost = self._fixes
        if lost:
            log.error("store unreachable at shutdown: %d buffered fixes not stored", lost)
        return lost

    def _gauge(self) -> None:
        self._stats.buffered_batches = len(self._buffer)
        self._stats.buffered_fixes = self._fixes

    def _run(self) -> None:
        failures = 0
        while True:
            with self._cond:
                while not self._buffer and not self._closing:
                    self._cond.wait()
                if not self._buffer:
                    return
                group = self._take()
            started = time.monotonic()
            try:
                self._write(group)
            except Exception as exc:
                if not is_transient(exc, self._driver):
                    self._refused(group, exc)
                    continue
                failures += 1
                self._stats.write_retries += 1
                pause = min(self.retry_max_s, 0.1 * 2 ** min(failures, 16))
                (log.warning if failures == 1 else log.debug)(
                    "store unreachable (%s); retrying in %.1f s", type(exc).__name__, pause
                )
                if time.monotonic() + pause > self._give_up_at:
                    return
                with self._cond:
                    self._cond.wait(pause)
                continue
            if failures:
                log.warning("store reachable again after %d retries", failures)
            failures = 0
            self._stats.commit_s += time.monotonic() - started
            self._done(group)

    def _take(self) -> list[StoreBatch]:
        group: list[StoreBatch] = []
        fixes = 0
        for batch in self._buffer:
            if group and fixes + batch.fixes > MAX_FIXES_PER_TRANSACTION:
                break
            group.append(batch)
            fixes += batch.fixes
        return group

    def _write(self, group: Sequence[StoreBatch]) -> None:
        with self._sessions() as session:
            write_batches(session, group)
            session.commit()

    def _done(self, group: Sequence[StoreBatch]) -> None:
        now = time.time()
        with self._cond:
            for _ in group:
                self._buffer.popleft()
            self._fixes -= sum(b.fixes for b in group)
            self._gauge()
            self._cond.notify_all()
        stats = self._stats
        stats.transactions += 1
        stats.batches_committed += len(group)
        stats.positions_stored += sum(b.fixes for b in group)
        stored = [(b.positions.table, b.now_s) for b in group if b.fixes]
        if stored:  # to the microsecond, as the times are stored
            fix_us = max(int(table.time_us.max()) for table, _ in stored)
            received_us = max(int(received_micros(t.received_s, now).max()) for t, now in stored)
            if not fix_us / 1e6 <= stats.newest_fix_s:  # NaN at first
                stats.newest_fix_s = fix_us / 1e6
            stats.newest_received_s = received_us / 1e6
        arrived = [b.arrived_s for b in group if not math.isnan(b.arrived_s)]
        if arrived:
            stats.lag_s = now - min(arrived)
        for batch in group:
            self._committed(batch)

    def _refused(self, group: Sequence[StoreBatch], exc: Exception) -> None:
        if len(group) > 1:
            # Find the one batch at fault: the others are written on their own.
            for batch in group:
                try:
                    self._write([batch])
                except Exception as single:
                    if is_transient(single, self._driver):
                        return  # the store went away meanwhile: the main loop retries
                    self._drop(batch, single)
                else:
                    self._done([batch])
            return
        self._drop(group[0], exc)

    def _drop(self, batch: StoreBatch, exc: Exception) -> None:
        log.error(
            "store refused a batch of %d fixes and %d events (%s: %s); dropped",
            batch.fixes,
            len(batch.events),
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
        self._stats.batches_dropped += 1
        with self._cond:
            self._buffer.remove(batch)
            self._fixes -= batch.fixes
            self._gauge()
            self._cond.notify_all()
        if self._refused_batch is not None:
            self._refused_batch(batch, exc)
