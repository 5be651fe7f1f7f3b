"""The event loop the sources run on: uvloop where it is installed, else asyncio's own.

With 10,000 devices connected the loop makes tens of thousands of socket reads a second, and
uvloop's transports spend far less CPU time on each than asyncio's selector loop
(``bench/ingest.py``). Everything that runs sources — ``partymap serve``, ``partymap replay``,
the demo and the tests of the sources — goes through :func:`run`, so what is tested is what
runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

try:
    import uvloop
except ImportError:  # not built for every platform; asyncio's loop does the same work
    uvloop = None  # type: ignore[assignment]

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion in a new event loop and close the loop."""
    if uvloop is None:
        return asyncio.run(main)
    return uvloop.run(main)
