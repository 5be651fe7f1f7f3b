"""The devices the daemon knows, on the event loop: the directory, reloaded on a schedule and
on a miss, and the sources' authentication by it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from gnss.sources import Verdict
from partymap.ingest.directory import Directory, load_directory, verify_in_store
from partymap.ingest.metrics import IngestStats
from partymap.ingest.startup import StoreReader

log = logging.getLogger(__name__)


class Devices:
    """The directory in use on the event loop; each new one is also handed to ``followers``
    (the pipeline's admission takes it from its next batch on)."""

    def __init__(self, read: StoreReader, stats: IngestStats) -> None:
        self.directory = Directory()
        self._read = read
        self._stats = stats
        self._followers: list[Callable[[Directory], None]] = []
        self._lock = asyncio.Lock()
        self._loaded_at = -float("inf")

    def follow(self, follower: Callable[[Directory], None]) -> None:
        """Hand every later directory to ``follower`` too."""
        self._followers.append(follower)

    def use(self, directory: Directory) -> None:
        self.directory = directory
        self._stats.directory_devices = len(directory)
        for follower in self._followers:
            follower(directory)

    async def refresh(self) -> None:
        """Read the directory again (once for every caller that asked while it was read)."""
        asked = time.monotonic()
        async with self._lock:
            if self._loaded_at >= asked:
                return  # a load that began after we asked finished while we waited
            began = time.monotonic()
            self.use(await self._read(load_directory))
            self._loaded_at = began

    async def authenticate(self, device_id: str, token: str) -> Verdict:
        """A TCP registration: answered from the directory, else by the store."""
        if self.directory.check_token(device_id, token):
            return Verdict.ACCEPTED
        verdict = await self._read(lambda session: verify_in_store(session, device_id, token))
        if verdict is Verdict.ACCEPTED:
            await self.refresh()
        return verdict

    async def know(self, device_id: str) -> bool:
        """Whether the device is known and active, refreshing the directory on a miss."""
        if self.directory.active(device_id) is not None:
            return True
        await self.refresh()
        return self.directory.active(device_id) is not None

    def warn_unknown(self, device_id: str) -> None:
        if self.directory.active(device_id) is None:
            log.warning(
                "device %s is not registered (or inactive): its lines are dropped", device_id
            )
