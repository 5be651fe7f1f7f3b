"""A two-level lon/lat grid of boxes for batch candidate lookup.

Every box is registered in every fine cell it overlaps. A dense coarse table maps a block of
``BLOCK × BLOCK`` fine cells to its slot range, so a lookup is a few array reads per point —
no search tree. Candidates are a superset: the exact test comes after.
:func:`geo.sites.kernel.find_memberships` does :meth:`BoxGrid.boxes_at`'s lookup for a whole
batch.

>>> import numpy as np
>>> grid = BoxGrid.build(np.array([114.30]), np.array([30.50]), np.array([114.31]),
...                      np.array([30.51]), cell_deg=0.01)
>>> grid.boxes_at(114.305, 30.505), grid.boxes_at(120.0, 30.0)
([0], [])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from geo.arrays import ragged_arange

SHIFT = 6
BLOCK = 1 << SHIFT  # fine cells per side of a coarse block

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class BoxGrid:
    cell_deg: float
    coarse: npt.NDArray[np.int32]  # (rows, cols) → block number, −1 where no box reaches
    offsets: npt.NDArray[np.int32]  # per fine slot, start of its boxes in ``items``
    items: npt.NDArray[np.int32]  # box numbers, grouped by fine slot

    @classmethod
    def build(
        cls,
        min_lon: FloatArray,
        min_lat: FloatArray,
        max_lon: FloatArray,
        max_lat: FloatArray,
        *,
        cell_deg: float = 0.01,
    ) -> BoxGrid:
        rows = int(np.ceil(180.0 / cell_deg)) + 1
        cols = int(np.ceil(360.0 / cell_deg)) + 1
        coarse = np.full((rows // BLOCK + 1, cols // BLOCK + 1), -1, dtype=np.int32)
        r0, c0 = cls._cell(np.maximum(min_lon, -180.0), np.maximum(min_lat, -90.0), cell_deg)
        r1, c1 = cls._cell(np.minimum(max_lon, 180.0), np.minimum(max_lat, 90.0), cell_deg)
        n_r, n_c = r1 - r0 + 1, c1 - c0 + 1
        box, k = ragged_arange(np.zeros(len(n_r), dtype=np.int64), n_r * n_c)
        r = r0[box] + k // n_c[box]
        c = c0[box] + k % n_c[box]
        blocks = np.unique((r >> SHIFT) * coarse.shape[1] + (c >> SHIFT))
        coarse.ravel()[blocks] = np.arange(len(blocks), dtype=np.int32)
        slot = cls._slot(coarse, r, c)
        order = np.argsort(slot, kind="stable")
        counts = np.bincount(slot, minlength=len(blocks) * BLOCK * BLOCK)
        offsets = np.zeros(len(counts) + 1, dtype=np.int32)
        np.cumsum(counts, out=offsets[1:])
        return cls(cell_deg, coarse, offsets, box[order].astype(np.int32))

    @staticmethod
    def _cell(lon: FloatArray, lat: FloatArray, cell_deg: float) -> tuple[IntArray, IntArray]:
        # Truncation is floor here: both shifted coordinates are ≥ 0. Registration and lookup
        # share this formula, and reach boxes carry a margin far above its rounding.
        per_deg = 1.0 / cell_deg
        r = ((np.asarray(lat) + 90.0) * per_deg).astype(np.int64)
        c = ((np.asarray(lon) + 180.0) * per_deg).astype(np.int64)
        return r, c

    @staticmethod
    def _slot(coarse: npt.NDArray[np.int32], r: IntArray, c: IntArray) -> IntArray:
        block = coarse.ravel()[(r >> SHIFT) * coarse.shape[1] + (c >> SHIFT)].astype(np.int64)
        local = ((r & (BLOCK - 1)) << SHIFT) | (c & (BLOCK - 1))
        return np.where(block < 0, -1, (block << (2 * SHIFT)) | local)

    def boxes_at(self, lon: float, lat: float) -> list[int]:
        """The boxes registered in the cell of one point (finite, within lon ±180, lat ±90)."""
        r, c = self._cell(np.array([lon]), np.array([lat]), self.cell_deg)
        slot = int(self._slot(self.coarse, r, c)[0])
        if slot < 0:
            return []
        return [int(b) for b in self.items[self.offsets[slot] : self.offsets[slot + 1]]]
