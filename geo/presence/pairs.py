"""Where the batch tracker keeps its state: a row per member, a pool of pair records.

Per member row (:data:`ROW`, 12 bytes): the time of its last epoch and the first of its pairs
under way. Per pair under way: a :data:`~geo.presence.columns.PAIR` record in a pool that grows by
doubling, and the next pair of the same member (−1 at the end): each member's pairs are a
short linked list in key (site) order, so a member with no visit under way costs one row read
and a pair is reached without search or hash. Free records have key −1 and wait on a stack.

Everything a batch reads per epoch fits in a few megabytes (12 bytes a member, ~80 a pair
under way), so it stays in the processor's cache even with 140,000 members.

>>> table = PairTable()
>>> table.ensure_rows(3)
>>> table.insert(np.array([(2 << SITE_BITS) | 7, (2 << SITE_BITS) | 5])).tolist()  # row 2
[0, 1]
>>> table.active().tolist(), table.row_pairs(2)  # site 5, then site 7
([0, 1], [1, 0])
>>> table.release(np.array([1]))
>>> table.active().tolist(), table.row_pairs(2), int(table.n_free[0]) == len(table.next) - 1
([0], [0], True)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from geo.presence.columns import SITE_BITS, PairColumns

IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
Records = npt.NDArray[np.void]

ROW = np.dtype(
    [
        ("last_seen", np.float64),  # the member's last epoch taken (−inf: none yet)
        ("head", np.int32),  # its first pair under way, −1: none
    ]
)


class Pool(NamedTuple):
    """The arrays of a :class:`PairTable`, as compiled code takes them."""

    rows: Records  # ROW per member row
    rec: Records  # PAIR per pool entry; key −1 when free
    next: Int32Array  # per pool entry: the next pair of the same member row, −1 at the end
    free: Int32Array  # stack of free pool entries: the first n_free[0] are valid
    n_free: IntArray  # one number


class PairTable:
    """Member rows and the pool of pairs under way (see the module docstring)."""

    def __init__(self) -> None:
        self.rows = np.zeros(0, ROW)
        self.cols = PairColumns.empty(0)
        self.next = np.zeros(0, np.int32)
        self.free = np.zeros(0, np.int32)
        self.n_free = np.zeros(1, np.int64)

    def pool(self) -> Pool:
        return Pool(self.rows, self.cols.rec, self.next, self.free, self.n_free)

    @property
    def last_seen(self) -> npt.NDArray[np.float64]:
        seen: npt.NDArray[np.float64] = self.rows["last_seen"]
        return seen

    def ensure_rows(self, n_rows: int) -> None:
        if n_rows > len(self.rows):
            grown = np.zeros(max(n_rows, 2 * len(self.rows)), ROW)
            grown["last_seen"], grown["head"] = -np.inf, -1
            grown[: len(self.rows)] = self.rows
            self.rows = grown

    def grow(self) -> None:
        """Twice the pool (at least 64 more records), the new ones free."""
        old = len(self.next)
        new = 2 * old + 64
        self.cols = PairColumns.concat([self.cols, PairColumns.empty(new - old)])
        self.next = np.concatenate([self.next, np.full(new - old, -1, np.int32)])
        n_free = int(self.n_free[0])
        free = np.empty(new, np.int32)
        free[:n_free] = self.free[:n_free]
        # Popped from the top: the lowest new index first, so pairs fill the pool in order.
        free[n_free : n_free + new - old] = np.arange(new - 1, old - 1, -1, dtype=np.int32)
        self.free, self.n_free[0] = free, n_free + new - old

    def insert(self, keys: IntArray) -> IntArray:
        """New pairs (OUTSIDE until their records are written) with these keys: their entries.

        The compiled loop links its new pairs itself; this is the same done with columns.
        """
        while self.n_free[0] < len(keys):
            self.grow()
        top = int(self.n_free[0])
        entries = self.free[top - len(keys) : top][::-1].astype(np.int64)
        self.n_free[0] = top - len(keys)
        self.cols.key[entries] = keys
        self.relink()
        return entries

    def release(self, entries: IntArray) -> None:
        """Pairs back to OUTSIDE: their records free, the members' lists without them."""
        if len(entries):
            self.cols.key[entries] = -1
            n_free = int(self.n_free[0])
            self.free[n_free : n_free + len(entries)] = entries
            self.n_free[0] = n_free + len(entries)
            self.relink()

    def relink(self) -> None:
        """Every member's list rebuilt in key order (after keys changed, as with a new site set)."""
        active = self.active()
        active = active[np.argsort(self.cols.key[active], kind="stable")]
        row = self.cols.key[active] >> SITE_BITS
        new_row = np.diff(row, prepend=-1) != 0  # the first pair of its member
        last = np.append(new_row[1:], True)
        self.next[active] = np.where(last, -1, np.append(active[1:], -1))
        self.rows["head"] = -1
        self.rows["head"][row[new_row]] = active[new_row]

    def active(self) -> IntArray:
        """Pool entries of the pairs under way, in pool order."""
        return np.flatnonzero(self.cols.key >= 0)

    def row_pairs(self, row: int) -> list[int]:
        """Pool entries of one member row's pairs, in list order."""
        out, x = [], int(self.rows["head"][row])
        while x >= 0:
            out.append(x)
            x = int(self.next[x])
        return out

    def nbytes(self) -> int:
        return int(self.rows.nbytes + self.cols.nbytes() + self.next.nbytes + self.free.nbytes)
