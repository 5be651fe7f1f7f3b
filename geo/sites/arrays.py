"""Compiled sites as columns: what the batch distance kernel reads.

The batch path of :class:`geo.sites.membership.SiteIndex` (:mod:`geo.sites.kernel`) works on (point,
site) pairs in each site's local metres. It evaluates exactly the float operations of
:func:`geo.sites.shapes.distance_m`, only fewer of them:

* circles: one square root;
* points deep inside a polygon's inscribed circle: distance 0, no edge test;
* inside-ness: only the edges of the point's horizontal *slab* can cross a ray from the point
  (any other edge lies wholly above or below it), so the even-odd count is the same;
* distance to the edges: only for points the slab test put outside.

>>> from shapely import box
>>> from geo.model import Site
>>> from geo.sites.shapes import compile_site
>>> site = Site(id=1, org_id=1, name="yard", geometry=box(114.3, 30.5, 114.301, 30.501))
>>> arrays = SiteArrays.build([compile_site(site)])
>>> arrays.edge_count.tolist(), arrays.slab_n.tolist()  # four edges, four slabs
([4], [4])
>>> [int(n) for n in np.diff(arrays.slab_offsets)]  # the two sides, and top or bottom
[3, 2, 2, 3]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from geo.sites.shapes import SiteShape

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Slab bounds are widened by this (metres) so that rounding in the slab lookup never leaves out
# an edge that spans the point's y.
_SLAB_MARGIN_M = 1e-3


def _floats(values: Sequence[float]) -> FloatArray:
    return np.array(values, dtype=np.float64)


@dataclass(frozen=True, slots=True, eq=False)
class SiteArrays:
    """Per-site columns (frame, bounding box, inscribed circle), edges and slabs."""

    lon0: FloatArray
    lat0: FloatArray
    kx: FloatArray
    ky: FloatArray
    radius: FloatArray  # NaN for polygons
    bxmin: FloatArray
    bymin: FloatArray
    bxmax: FloatArray
    bymax: FloatArray
    icx: FloatArray
    icy: FloatArray
    ir: FloatArray
    edge_start: IntArray
    edge_count: IntArray
    ex1: FloatArray
    ey1: FloatArray
    ey2: FloatArray
    edx: FloatArray
    edy: FloatArray
    eden: FloatArray
    slab_y0: FloatArray  # per site
    slab_h: FloatArray  # per site
    slab_start: IntArray  # per site: its first slab
    slab_n: IntArray  # per site
    slab_offsets: IntArray  # per slab: start of its edges in slab_edges
    slab_edges: IntArray

    @classmethod
    def build(cls, shapes: Sequence[SiteShape]) -> SiteArrays:
        bbox = np.array([s.bbox for s in shapes], dtype=np.float64).reshape(-1, 4)
        inner = np.array([s.inner for s in shapes], dtype=np.float64).reshape(-1, 3)
        counts = np.array([len(s.edges) for s in shapes], dtype=np.int64)
        edges = np.array([e for s in shapes for e in s.edges], dtype=np.float64).reshape(-1, 6)
        x1, y1, _, y2, dx, dy = (edges[:, i].copy() for i in range(6))
        starts = (np.cumsum(counts) - counts).astype(np.int64)
        slab_y0, slab_h, slab_n, slab_lists = [], [], [], []
        for shape, start, count in zip(shapes, starts.tolist(), counts.tolist(), strict=True):
            n = max(count, 1)
            y0, height = shape.bbox[1], max(shape.bbox[3] - shape.bbox[1], 1e-6)
            h = height / n
            lo = np.minimum(y1[start : start + count], y2[start : start + count])
            hi = np.maximum(y1[start : start + count], y2[start : start + count])
            for k in range(n):
                bottom, top = y0 + k * h - _SLAB_MARGIN_M, y0 + (k + 1) * h + _SLAB_MARGIN_M
                slab_lists.append(start + np.flatnonzero((lo <= top) & (hi >= bottom)))
            slab_y0.append(y0)
            slab_h.append(h)
            slab_n.append(n)
        slab_sizes = np.array([len(s) for s in slab_lists], dtype=np.int64)
        slab_n_arr = np.array(slab_n, dtype=np.int64)
        return cls(
            lon0=_floats([s.frame.lon0 for s in shapes]),
            lat0=_floats([s.frame.lat0 for s in shapes]),
            kx=_floats([s.frame.kx for s in shapes]),
            ky=_floats([s.frame.ky for s in shapes]),
            radius=_floats([math.nan if s.radius_m is None else s.radius_m for s in shapes]),
            bxmin=bbox[:, 0].copy(),
            bymin=bbox[:, 1].copy(),
            bxmax=bbox[:, 2].copy(),
            bymax=bbox[:, 3].copy(),
            icx=inner[:, 0].copy(),
            icy=inner[:, 1].copy(),
            ir=inner[:, 2].copy(),
            edge_start=starts,
            edge_count=counts,
            ex1=x1,
            ey1=y1,
            ey2=y2,
            edx=dx,
            edy=dy,
            eden=dx * dx + dy * dy,
            slab_y0=_floats(slab_y0),
            slab_h=_floats(slab_h),
            slab_start=np.concatenate([[0], np.cumsum(slab_n_arr)[:-1]]).astype(np.int64),
            slab_n=slab_n_arr,
            slab_offsets=np.concatenate([[0], np.cumsum(slab_sizes)]).astype(np.int64),
            slab_edges=(
                np.concatenate(slab_lists).astype(np.int64)
                if slab_lists
                else np.zeros(0, dtype=np.int64)
            ),
        )
