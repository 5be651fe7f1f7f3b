"""A value offered by one thread and picked up by another between batches.

>>> offered: Offer[int] = Offer()
>>> offered.put(3); offered.put(4)
>>> offered.peek(), offered.take(), offered.take()
(4, 4, None)
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Offer(Generic[T]):
    """The newest value offered and not yet taken (a newer offer replaces an older one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: T | None = None

    def put(self, value: T) -> None:
        with self._lock:
            self._value = value

    def peek(self) -> T | None:
        with self._lock:
            return self._value

    def take(self) -> T | None:
        with self._lock:
            value, self._value = self._value, None
            return value
