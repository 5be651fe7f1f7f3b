"""Small numpy helpers shared by the batch paths: ragged ranges, rounds, slot orders.

>>> [a.tolist() for a in ragged_arange(np.array([5, 0, 9]), np.array([2, 0, 3]))]
[[0, 0, 2, 2, 2], [5, 6, 9, 10, 11]]
>>> ranks(np.array([7, 3, 7, 7, 3])).tolist()
[0, 0, 1, 2, 1]
>>> [r.tolist() for r in rounds(np.array([7, 3, 7, 7, 3]))]
[[0, 1], [2, 4], [3]]
>>> keys = np.array([70000, 3, 70000, 5, 3])
>>> stable_order(keys).tolist() == np.argsort(keys, kind="stable").tolist()
True
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


def ragged_arange(starts: IntArray, counts: IntArray) -> tuple[IntArray, IntArray]:
    """(owner, value) for the concatenation of ``range(start, start + count)`` per row."""
    owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    shift = starts - (np.cumsum(counts) - counts)  # value minus output position, per row
    return owner, np.arange(len(owner), dtype=np.int64) + shift[owner]


def stable_order(keys: IntArray) -> IntArray:
    """``np.argsort(keys, kind="stable")``, as radix passes of 16 bits for keys in [0, 2**32).

    numpy's stable sort is a radix sort only for 16-bit keys; two such passes (low half, then
    high half) beat its merge sort on int64 several times over.
    """
    if not len(keys) or keys.min() < 0 or keys.max() >= 1 << 32:
        return np.argsort(keys, kind="stable")
    order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    if keys.max() >= 1 << 16:
        order = order[np.argsort((keys[order] >> 16).astype(np.uint16), kind="stable")]
    return order.astype(np.int64)


def ranks(keys: IntArray) -> IntArray:
    """Per element, how many earlier elements share its key: its round in a batch."""
    order = stable_order(keys)
    sorted_keys = keys[order]
    new_group = np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]])
    starts = np.flatnonzero(new_group)
    group_start = np.repeat(starts, np.diff(np.append(starts, len(keys))))
    out = np.empty(len(keys), dtype=np.int64)
    out[order] = np.arange(len(keys)) - group_start
    return out


def rounds(keys: IntArray) -> list[IntArray]:
    """Indices grouped into rounds: round r holds each key's r-th element (arrival order)."""
    rank = ranks(keys)
    order = stable_order(rank)
    bounds = np.searchsorted(rank[order], np.arange(int(rank.max(initial=-1)) + 2))
    return [order[lo:hi] for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)]
