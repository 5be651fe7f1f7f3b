"""One :class:`~maps.snapshot.Roster` shared by every map request of an app.

Two ages: the structure (who belongs where) is read again whenever the tree's fingerprint
changes — at once, as it decides what a caller may see — and at least every
``structure_max_age_s``; positions and states are read again when older than ``max_age_s``.
A burst of requests from panning and zooming then costs one read of the states, and a
structural read only follows a change of the tree.

>>> loads = []
>>> def load(structure):
...     loads.append("states" if structure else "all")
...     return Roster(orgs=None, members=None, sites=None, taken_at=None, structure="tree")
>>> now = [0.0]
>>> cache = RosterCache(load, max_age_s=2, clock=lambda: now[0])
>>> _ = cache.get("v1"); _ = cache.get("v1"); now[0] = 3.0; _ = cache.get("v1")
>>> _ = cache.get("v2")
>>> loads
['all', 'states', 'all']
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from maps.snapshot import Roster, Structure


class RosterCache:
    """``load(structure)`` reads the states over ``structure``, or everything when it is None.

    One load at a time: requests arriving during a load wait for it rather than start their
    own (thread-safe; FastAPI runs sync routes in a thread pool).
    """

    def __init__(
        self,
        load: Callable[[Structure | None], Roster],
        *,
        max_age_s: float = 2.0,
        structure_max_age_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._max_age_s = max_age_s
        self._structure_max_age_s = structure_max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._roster: Roster | None = None
        self._key: object = None
        self._loaded_at = self._structure_at = -float("inf")

    def get(self, key: object = None) -> Roster:
        """The roster for the tree whose fingerprint is ``key``."""
        with self._lock:
            now = self._clock()
            stale_structure = now - self._structure_at > self._structure_max_age_s
            if self._roster is None or key != self._key or stale_structure:
                self._roster = self._load(None)
                self._key, self._loaded_at, self._structure_at = key, now, now
            elif now - self._loaded_at > self._max_age_s:
                self._roster = self._load(self._roster.structure)
                self._loaded_at = now
            return self._roster

    def invalidate(self) -> None:
        """Read everything again at the next :meth:`get` (what it holds changed elsewhere)."""
        with self._lock:
            self._structure_at = self._loaded_at = -float("inf")
