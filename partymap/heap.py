"""Garbage-collector settings for the long-running server process.

A server keeps hundreds of thousands of objects for its whole life (modules, the directory of
devices, presence state, caches), and CPython's cycle collector walks them again and again:
its passes took two thirds of the time spent building the features of a day-long track (8,640
fixes). :func:`settle`, called once startup has loaded what stays, moves those objects out of
the collector's sight (:func:`gc.freeze`) and lets more objects be made between collections of
the young generation. Objects are still freed as before when their last reference goes.
``bench/api.py --no-settle`` runs the same load with CPython's own settings.
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
