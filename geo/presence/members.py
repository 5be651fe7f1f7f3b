"""Member ids to dense rows, so that per-member state can live in plain arrays.

>>> members = MemberRows()
>>> members.rows(np.array([500, 7, 500])).tolist()
[1, 0, 1]
>>> members.rows(np.array([9, 7])).tolist(), members.member_of_row.tolist()
([2, 0], [7, 500, 9])
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


class MemberRows:
    """Member id → row, in order of first appearance (rows never move).

    While ids stay below ``max(2**20, 8 × members)`` — database ids do — a dense table maps
    them; the first id beyond makes the registry fall back to a sorted search for good.
    """

    def __init__(self) -> None:
        self.member_of_row = np.zeros(0, np.int64)
        self._dense: IntArray | None = np.full(1, -1, np.int64)
        self._sorted_ids = np.zeros(0, np.int64)
        self._sorted_rows = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.member_of_row)

    def nbytes(self) -> int:
        dense = 0 if self._dense is None else self._dense.nbytes
        return self.member_of_row.nbytes + dense + self._sorted_ids.nbytes * 2

    def _lookup(self, members: IntArray) -> IntArray:
        if self._dense is not None:
            if not len(members) or (members.min() >= 0 and members.max() < len(self._dense)):
                dense: IntArray = self._dense[members]  # the usual case: one gather
                return dense
            inside = (members >= 0) & (members < len(self._dense))
            return np.where(inside, self._dense[np.where(inside, members, 0)], -1)
        pos = np.minimum(np.searchsorted(self._sorted_ids, members), len(self._sorted_ids) - 1)
        rows: IntArray = np.where(self._sorted_ids[pos] == members, self._sorted_rows[pos], -1)
        return rows

    def rows(self, members: IntArray) -> IntArray:
        """Rows of ``members``, registering the ones not seen before."""
        rows = self._lookup(members)
        if not len(rows) or rows.min() >= 0:
            return rows
        new = np.sort(members[rows < 0])  # np.unique hashes: several times slower here
        new = new[np.concatenate([[True], new[1:] != new[:-1]])]
        first = len(self.member_of_row)
        self.member_of_row = np.concatenate([self.member_of_row, new])
        new_rows = np.arange(first, first + len(new), dtype=np.int64)
        ids = np.concatenate([self._sorted_ids, new])
        order = np.argsort(ids, kind="stable")
        self._sorted_ids = ids[order]
        self._sorted_rows = np.concatenate([self._sorted_rows, new_rows])[order]
        top = int(self._sorted_ids[-1])
        if (
            self._dense is not None
            and self._sorted_ids[0] >= 0
            and top < max(1 << 20, 8 * first + 8 * len(new))
        ):
            if top >= len(self._dense):
                grown = np.full(max(top + 1, 2 * len(self._dense)), -1, np.int64)
                grown[: len(self._dense)] = self._dense
                self._dense = grown
            self._dense[new] = new_rows
        else:
            self._dense = None
        return self._lookup(members)
