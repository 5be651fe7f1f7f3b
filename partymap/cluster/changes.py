"""Changes of sites, devices, members and organisations, announced to every node at once.

A node whose API changes one of them (:func:`api.changes.announce`, after the commit), or
``partymap import`` run with ``PARTYMAP_NATS_URL``, publishes a small message on
``<prefix>.changes.<kind>`` (core NATS: nothing stored). Every node subscribes and reads again
what the kind affects: edges their device directory (a device's member decides its partition)
and, for revoked devices, end their open sessions; workers their directory or their site index;
every node serving the API the map's roster. An announcement may be lost (a node away for a
moment): the refresh intervals (``INGEST_DIRECTORY_REFRESH_SECONDS``,
``INGEST_SITES_REFRESH_SECONDS``) stay the safety net.

Each action runs once at a time; announcements heard while it runs make it run once more after,
so a burst of changes costs a node one or two reads, not one per change.

>>> async def demo():
...     runs = []
...     async def refresh(revoked):
...         runs.append(sorted(revoked))
...         await asyncio.sleep(0.01)
...     follow = Followers()
...     follow.on([Kind.DEVICES, Kind.MEMBERS], refresh)
...     follow.heard(Kind.DEVICES, ["a"])
...     await asyncio.sleep(0)  # the refresh runs
...     follow.heard(Kind.MEMBERS, ["b"])  # meanwhile: once more after it, for both
...     follow.heard(Kind.DEVICES, ["c"])
...     follow.heard(Kind.SITES, [])  # nobody follows sites here
...     await asyncio.sleep(0.05)
...     return runs
>>> asyncio.run(demo())
[['a'], ['b', 'c']]
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import nats
import orjson

from api.changes import Kind
from partymap.cluster.stream import nats_servers
from partymap.settings import Settings

log = logging.getLogger(__name__)

# What a node does on a change: given the devices revoked with it (uids).
Action = Callable[[frozenset[str]], Awaitable[None]]
DIRECTORY_KINDS = (Kind.DEVICES, Kind.MEMBERS, Kind.ORGS)  # a device's member and their org


def changes_subject(settings: Settings, kind: Kind | str = "*") -> str:
    return f"{settings.cluster_subject}.changes.{kind}"


def encode_change(revoked: Sequence[str]) -> bytes:
    return orjson.dumps({"revoked": list(revoked)})


def decode_change(payload: bytes) -> list[str]:
    """The revoked devices of an announcement (none if it is not partymap's)."""
    try:
        revoked = orjson.loads(payload).get("revoked", [])
    except (orjson.JSONDecodeError, AttributeError):
        return []
    return [uid for uid in revoked if isinstance(uid, str)] if isinstance(revoked, list) else []


class _Runner:
    """One action, run once at a time, once more if asked again meanwhile."""

    def __init__(self, action: Action) -> None:
        self.action = action
        self.due = False
        self.revoked: set[str] = set()
        self.task: asyncio.Task[None] | None = None

    def poke(self, revoked: Iterable[str]) -> None:
        self.due = True
        self.revoked.update(revoked)
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while self.due:
            self.due = False
            revoked, self.revoked = frozenset(self.revoked), set()
            try:
                await self.action(revoked)
            except Exception as exc:  # the store away: the periodic refresh follows later
                name = getattr(self.action, "__name__", "action")
                log.warning("change: %s failed (%s: %s)", name, type(exc).__name__, exc)


class Followers:
    """The actions this node runs on each kind of change."""

    def __init__(self) -> None:
        self._runners: dict[Action, _Runner] = {}
        self._by_kind: dict[Kind, list[_Runner]] = {}
        self.heard_count = 0

    def on(self, kinds: Iterable[Kind], action: Action) -> None:
        runner = self._runners.setdefault(action, _Runner(action))
        for kind in kinds:
            self._by_kind.setdefault(kind, []).append(runner)

    def heard(self, kind: Kind, revoked: Sequence[str]) -> None:
        self.heard_count += 1
        for runner in self._by_kind.get(kind, []):
            runner.poke(revoked)

    async def close(self) -> None:
        tasks = [r.task for r in self._runners.values() if r.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Changes:
    """A node's announcements over NATS: :meth:`changed` (the API's
    :class:`~api.changes.ChangeNotices`, from any thread) publishes, :attr:`follow` runs what
    this node does on the ones it hears (its own included)."""

    def __init__(self, nc: Any, settings: Settings) -> None:
        self.nc = nc
        self.settings = settings
        self.follow = Followers()
        self.sent = 0
        self._loop = asyncio.get_running_loop()
        self._sending: set[asyncio.Future[None]] = set()

    async def start(self) -> None:
        await self.nc.subscribe(changes_subject(self.settings), cb=self._heard)

    async def close(self) -> None:
        await self.follow.close()

    def changed(self, kind: Kind, *, revoked: Sequence[str] = ()) -> None:
        self._loop.call_soon_threadsafe(self._publish, kind, encode_change(revoked))

    def _publish(self, kind: Kind, payload: bytes) -> None:
        task = asyncio.ensure_future(self.nc.publish(changes_subject(self.settings, kind), payload))
        self.sent += 1
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _heard(self, msg: Any) -> None:
        try:
            kind = Kind(msg.subject.rsplit(".", 1)[-1])
        except ValueError:
            return  # a kind this version does not know
        self.follow.heard(kind, decode_change(msg.data))


async def tell(settings: Settings, kind: Kind, *, revoked: Sequence[str] = ()) -> bool:
    """Announce one change from a process that is no node (``partymap import``): connect,
    publish, flush. False (logged) when NATS cannot be reached: the nodes' refreshes follow."""

    async def quiet(exc: Exception) -> None:
        pass  # the failure is logged once below

    try:
        nc = await asyncio.wait_for(
            nats.connect(
                servers=nats_servers(settings),
                connect_timeout=2,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.2,
                error_cb=quiet,
            ),
            5,
        )
    except Exception as exc:  # NATS away: the nodes find the change on their next refresh
        log.warning("could not announce the change of %s (%r)", kind.value, exc)
        return False
    try:
        await nc.publish(changes_subject(settings, kind), encode_change(revoked))
        await nc.flush(timeout=5)
    finally:
        await nc.close()
    return True
