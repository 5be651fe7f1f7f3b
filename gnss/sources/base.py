"""What every source shares: the :class:`Source` protocol, its base class, reconnect backoff.

A source is an async context manager and an async iterator of :class:`~gnss.model.RawChunk`
(the shape of gpsd's ``aiogps``): entering it opens ports or binds the server, iterating yields
chunks of complete lines, leaving it closes everything. Between the I/O and the consumer sits a
bounded :class:`~gnss.sources.channel.ChunkChannel`, so a slow consumer stops the reading instead
of growing memory. Faults of the outside world are counted in
:class:`~gnss.sources.counters.SourceStats`; exceptions are for bugs and bad configuration
(STYLE rule 3).

>>> Backoff(initial_s=1, max_s=8, jitter=0).delay(5)
8.0
>>> valid_device_id("IMEI-861234567890123"), valid_device_id("a/b")
(True, False)
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import NoReturn, Protocol, Self, runtime_checkable

from gnss.model import RawChunk
from gnss.nmea.framing import LineBuffer
from gnss.sources.channel import ChunkChannel
from gnss.sources.counters import SourceStats
from gnss.sources.lines import complete_lines, drop_partial_line

log = logging.getLogger(__name__)

# Letters, digits and ``._:-``: safe in an MQTT topic level, a log line and a URL path.
_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def valid_device_id(device_id: str) -> bool:
    return _DEVICE_ID.fullmatch(device_id) is not None


class Verdict(enum.Enum):
    """What an authenticator may answer instead of a plain bool, to have refusals told apart."""

    ACCEPTED = "accepted"
    UNKNOWN_DEVICE = "unknown_device"
    BAD_TOKEN = "bad_token"


# ``(device_id, token) -> accepted?``: the TCP registration check. Comparing the token in constant
# time against a stored hash is the callback's job; the source never logs the token.
Authenticate = Callable[[str, str], Awaitable[bool | Verdict]]
# ``device_id -> known?``: for transports whose broker already authenticated the sender (MQTT).
IsKnownDevice = Callable[[str], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential delays between reconnect attempts, capped, with a little jitter so that many
    clients of one restarted server do not come back in lockstep."""

    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.1  # ± this fraction

    def delay(self, failures: int) -> float:
        base = min(self.max_s, self.initial_s * self.factor ** min(failures, 64))
        return base * (1 + self.jitter * (2 * random.random() - 1))


# Remote services (a broker) get a longer cap than things on this machine or cable (a serial
# port, a local gpsd), whose return should be noticed within seconds.
REMOTE_BACKOFF = Backoff()
LOCAL_BACKOFF = Backoff(initial_s=0.2, max_s=5.0)


@runtime_checkable
class Source(Protocol):
    """What the ingestion daemon reads from (STYLE rule 12)."""

    @property
    def stats(self) -> SourceStats: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def __aiter__(self) -> AsyncIterator[RawChunk]: ...

    async def get_batch(self, limit: int = ...) -> list[RawChunk]: ...


class ChannelSource:
    """Base of the sources: a producer task fills a bounded channel that the consumer drains.

    Subclasses implement :meth:`_produce` (return at the end of a finite stream) and may override
    :meth:`_open`/:meth:`_close` for resources that must exist before iteration starts (a bound
    server socket) or outlive the producer task.
    """

    def __init__(self, name: str, *, queue_size: int) -> None:
        self.name = name
        self._stats = SourceStats(name)
        self._channel = ChunkChannel(queue_size)
        self._task: asyncio.Task[None] | None = None

    @property
    def stats(self) -> SourceStats:
        return self._stats

    async def __aenter__(self) -> Self:
        if self._task is not None:
            raise RuntimeError(f"{self.name}: a source is entered once")
        await self._open()
        self._task = asyncio.create_task(self._run(), name=f"source {self.name}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await self._close()
        finally:
            if not self._channel.closed:
                self._channel.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> RawChunk:
        return await self._channel.get()

    async def get_batch(self, limit: int = 4096) -> list[RawChunk]:
        """Whatever is ready, at least one chunk and at most ``limit``; ``[]`` at the end."""
        return await self._channel.get_batch(limit)

    async def _run(self) -> None:
        try:
            await self._produce()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or bad configuration: the consumer must see it
            self._channel.close(exc)
        else:
            self._channel.close()

    @contextlib.contextmanager
    def _connection(self) -> Iterator[LineBuffer]:
        """Count a connection as open while inside; yields its line buffer, whose unfinished
        line is counted and dropped when the connection ends."""
        stats = self._stats
        stats.connections += 1
        stats.active += 1
        buffer = LineBuffer()
        try:
            yield buffer
        finally:
            stats.active -= 1
            drop_partial_line(buffer, stats)

    def _frame(self, buffer: LineBuffer, data: bytes) -> bytes:
        """Count ``data`` as received; return the lines it completes."""
        self._stats.bytes += len(data)
        return complete_lines(buffer, data, self._stats)

    async def _emit(self, chunk: RawChunk) -> None:
        """Count ``chunk`` and hand it on, waiting while the consumer is behind."""
        self._stats.count_chunk(chunk)
        await self._channel.put(chunk)

    async def _produce(self) -> None:
        raise NotImplementedError

    async def _open(self) -> None:
        """Acquire what must exist before :meth:`__aenter__` returns."""

    async def _close(self) -> None:
        """Release what :meth:`_open` acquired; the producer task has already stopped."""

    async def _keep_connected(
        self,
        connect_and_read: Callable[[], Awaitable[None]],
        backoff: Backoff,
        transient: tuple[type[BaseException], ...] = (OSError,),
    ) -> NoReturn:
        """Call ``connect_and_read`` again and again, sleeping ``backoff`` between tries.

        It counts ``stats.connections`` once connected; a call that got that far resets the
        backoff, and its end counts a disconnect. ``transient`` errors are the outside world's
        (port gone, connection refused); anything else is a bug and escapes.
        """
        stats = self._stats
        failures = 0
        while True:
            connected_before = stats.connections
            try:
                await connect_and_read()
                reason = "closed by the other end"
            except transient as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if stats.connections > connected_before:
                stats.disconnects += 1
                failures = 0
                log.warning("%s: connection lost (%s); reconnecting", self.name, reason)
            else:
                stats.connect_failures += 1
                # Once per outage is enough: the backoff may try for hours.
                level = logging.WARNING if failures == 0 else logging.DEBUG
                log.log(level, "%s: cannot connect (%s); retrying with backoff", self.name, reason)
            await asyncio.sleep(backoff.delay(failures))
            failures += 1
