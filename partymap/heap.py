"""Garbage-collector settings for the long-running server process.

A server keeps hundreds of thousands of objects for its whole life (modules, the directory of
devices, presence state, caches). CPython's cycle collector walks them all again and again:
building one day-long track (8,640 features) set off full collections that took two thirds of
the request's time. :func:`settle`, called once startup has loaded what stays, moves those
objects out of the collector's sight (:func:`gc.freeze`) and lets more objects be made between
young collections. Objects are still freed as before when their last reference goes;
``bench/api.py`` and ``bench/ingest.py`` measure the effect.
"""

from __future__ import annotations

import gc

# Allocations between two collections of the youngest generation (CPython's default is 700).
YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Freeze what startup made and raise the young generation's threshold."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
