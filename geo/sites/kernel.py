"""Membership of a batch of fixes, compiled: grid lookup, accuracy margins and distances.

:meth:`geo.sites.membership.SiteIndex.memberships` hands its arrays to :func:`find_memberships`:
each fix's cell of the :class:`~geo.sites.grid.BoxGrid` (the grid's own formula) and the sites
registered there; for each candidate the accuracy margins of :func:`geo.sites.membership.tolerances`
and a bounding-box reject; then the distance. The distance evaluates exactly the float operations of
:func:`geo.sites.shapes.distance_m`, only fewer of them (see :mod:`geo.sites.arrays`), so the
results are bit-identical to the per-fix reference. Compiled rather than numpy: no fixed cost per
array operation, which in micro-batches of a few thousand fixes would outweigh the work.

Rows come out sorted by fix, then site (each cell lists its sites in order).

>>> from shapely import Point
>>> from geo.sites.membership import SiteIndex
>>> from geo.model import Site
>>> index = SiteIndex.build([Site(id=7, org_id=1, name="room", geometry=Point(114.3, 30.5),
...                               radius_m=15.0)])
>>> lat, lon = np.array([30.5, 30.5003, np.nan]), np.array([114.3, 114.3, 114.3])
>>> fix, site, inside, d = find_memberships(index.tables, (lat, lon, np.full(3, 5.0),
...                                                        np.ones(3, bool)))
>>> fix.tolist(), inside.tolist(), d.round(1).tolist()
([0, 1], [True, False], [0.0, 18.3])
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from geo.sites.arrays import SiteArrays
from geo.sites.grid import BoxGrid
from gnss.jit import compiled

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]

Fixes = tuple[FloatArray, FloatArray, FloatArray, BoolArray]  # lat, lon, accuracy_m, usable

# Values compiled into the passes are written out here rather than imported: numba's disk
# cache is keyed on this file alone, so a change at their source must show here too
# (tests/geo/test_compiled.py checks that they agree).
SHIFT = 6  # geo.sites.grid
BLOCK = 1 << SHIFT
SAFETY_MARGIN_M = 1e-3  # geo.sites.shapes


# One record per site; what the bounding-box reject reads comes first (two cache lines).
SITE = np.dtype(
    [
        ("lon0", np.float64),  # frame
        ("lat0", np.float64),
        ("kx", np.float64),
        ("ky", np.float64),
        ("k", np.float64),  # parameters
        ("cap", np.float64),
        ("hyst", np.float64),
        ("bxmin", np.float64),  # bounding box
        ("bymin", np.float64),
        ("bxmax", np.float64),
        ("bymax", np.float64),
        ("radius", np.float64),  # NaN for polygons
        ("icx", np.float64),  # inscribed circle
        ("icy", np.float64),
        ("ir", np.float64),
        ("slab_y0", np.float64),  # slabs
        ("slab_h", np.float64),
        ("slab_start", np.int64),
        ("slab_n", np.int64),
        ("edge_start", np.int64),  # edges
        ("edge_count", np.int64),
    ]
)
SITE_FIELDS: tuple[str, ...] = SITE.names or ()
EDGE = np.dtype(
    [
        ("x1", np.float64),
        ("y1", np.float64),
        ("y2", np.float64),
        ("dx", np.float64),
        ("dy", np.float64),
        ("den", np.float64),  # dx² + dy²
    ]
)
EDGE_FIELDS: tuple[str, ...] = EDGE.names or ()


class Tables(NamedTuple):
    """A :class:`~geo.sites.membership.SiteIndex` as the compiled pass takes it."""

    per_deg: float  # grid cells per degree
    coarse: Int32Array  # BoxGrid
    offsets: Int32Array
    items: Int32Array
    sites: npt.NDArray[np.void]  # SITE
    edges: npt.NDArray[np.void]  # EDGE
    slab_offsets: IntArray  # per slab: start of its edges in slab_edges
    slab_edges: IntArray

    @classmethod
    def build(
        cls, grid: BoxGrid, a: SiteArrays, *, k: FloatArray, cap: FloatArray, hyst: FloatArray
    ) -> Tables:
        sites = np.empty(len(a.lon0), SITE)
        parameters = {"k": k, "cap": cap, "hyst": hyst}
        for name in SITE_FIELDS:
            sites[name] = parameters[name] if name in parameters else getattr(a, name)
        edges = np.empty(len(a.ex1), EDGE)
        for name, column in zip(
            EDGE_FIELDS, (a.ex1, a.ey1, a.ey2, a.edx, a.edy, a.eden), strict=True
        ):
            edges[name] = column
        return cls(
            1.0 / grid.cell_deg,
            grid.coarse,
            grid.offsets,
            grid.items,
            sites,
            edges,
            a.slab_offsets,
            a.slab_edges,
        )


Near = tuple[IntArray, IntArray, FloatArray, FloatArray, FloatArray, FloatArray]


@compiled
def _cells(t: Tables, fixes: Fixes) -> tuple[IntArray, IntArray]:
    """Per fix, the range of its cell's sites in ``items`` (empty when it has no cell, or no
    usable, valid position)."""
    lat, lon, _, usable = fixes
    first, last = np.zeros(len(lat), np.int64), np.zeros(len(lat), np.int64)
    for i in range(len(lat)):
        la, lo = lat[i], lon[i]
        if not (usable[i] and abs(la) <= 90.0 and abs(lo) <= 180.0):  # NaN compares False
            continue
        # BoxGrid._cell and BoxGrid._slot: registration and lookup share the formula.
        r, c = int((la + 90.0) * t.per_deg), int((lo + 180.0) * t.per_deg)
        block = np.int64(t.coarse[r >> SHIFT, c >> SHIFT])
        if block >= 0:
            slot = (block << (2 * SHIFT)) | ((r & (BLOCK - 1)) << SHIFT) | (c & (BLOCK - 1))
            first[i], last[i] = t.offsets[slot], t.offsets[slot + 1]
    return first, last


@compiled
def _near(t: Tables, fixes: Fixes, first: IntArray, last: IntArray) -> Near:
    """(fix, site, x, y, inside tolerance, outside threshold) of every candidate that passes
    the bounding-box reject, in local metres of its site."""
    lat, lon, acc, _ = fixes
    size = int(np.sum(last - first))
    fix, site = np.empty(size, np.int64), np.empty(size, np.int64)
    xs, ys, tol_in, thr_out = np.empty(size), np.empty(size), np.empty(size), np.empty(size)
    n = 0
    for i in range(len(lat)):
        for j in range(first[i], last[i]):
            s = t.items[j]
            p = t.sites[s]
            x, y = (lon[i] - p["lon0"]) * p["kx"], (lat[i] - p["lat0"]) * p["ky"]
            # Margins (geo.sites.membership.tolerances): NaN accuracy means unknown.
            if math.isnan(acc[i]):
                tol, threshold = 0.0, p["cap"] + p["hyst"]
            else:
                tol = min(p["k"] * max(acc[i], 0.0), p["cap"])
                threshold = tol + p["hyst"]
            # A point farther than the threshold from the site's bounding box is outside.
            slack = threshold + SAFETY_MARGIN_M
            if (
                x >= p["bxmin"] - slack
                and x <= p["bxmax"] + slack
                and y >= p["bymin"] - slack
                and y <= p["bymax"] + slack
            ):
                fix[n], site[n], xs[n], ys[n] = i, s, x, y
                tol_in[n], thr_out[n] = tol, threshold
                n += 1
    return fix[:n], site[:n], xs[:n], ys[:n], tol_in[:n], thr_out[:n]


@compiled
def _distances(t: Tables, near: Near) -> tuple[IntArray, IntArray, BoolArray, FloatArray]:
    """The candidates within their outside threshold: (fix, site, inside, distance)."""
    fix, site, xs, ys, tol_in, thr_out = near
    edges, slab_offsets, slab_edges = t.edges, t.slab_offsets, t.slab_edges
    keep, inside, distance = (
        np.empty(len(fix), np.bool_),
        np.empty(len(fix), np.bool_),
        np.empty(len(fix)),
    )
    for q in range(len(fix)):
        p, x, y = t.sites[site[q]], xs[q], ys[q]
        ix, iy = x - p["icx"], y - p["icy"]
        if not math.isnan(p["radius"]):  # a circle
            d = max(math.sqrt(x * x + y * y) - p["radius"], 0.0)
        elif p["ir"] > 0.0 and ix * ix + iy * iy < p["ir"] * p["ir"]:  # deep inside
            d = 0.0
        else:
            # Even-odd rule over the edges of the point's slab.
            band = np.floor((y - p["slab_y0"]) / p["slab_h"])
            slab = p["slab_start"] + int(min(max(band, 0.0), p["slab_n"] - 1.0))
            covered = False
            for m in range(slab_offsets[slab], slab_offsets[slab + 1]):
                e = edges[slab_edges[m]]
                wx, wy = x - e["x1"], y - e["y1"]
                if (e["y1"] > y) != (e["y2"] > y) and (
                    (wy * e["dx"] - wx * e["dy"] > 0.0) == (e["dy"] > 0.0)
                ):
                    covered = not covered
            d = 0.0
            if not covered:  # the nearest edge
                best = math.inf
                for j in range(p["edge_start"], p["edge_start"] + p["edge_count"]):
                    e = edges[j]
                    wx, wy = x - e["x1"], y - e["y1"]
                    u = min(max((wx * e["dx"] + wy * e["dy"]) / e["den"], 0.0), 1.0)
                    qx, qy = wx - u * e["dx"], wy - u * e["dy"]
                    best = min(best, qx * qx + qy * qy)
                d = math.sqrt(best)
        keep[q], inside[q], distance[q] = d <= thr_out[q], d <= tol_in[q], d
    return fix[keep], site[keep], inside[keep], distance[keep]


@compiled
def find_memberships(t: Tables, fixes: Fixes) -> tuple[IntArray, IntArray, BoolArray, FloatArray]:
    """Memberships of ``fixes`` = (lat, lon, accuracy_m, usable): (fix, site, inside, distance).

    Three passes, each a simple loop over independent items (cells, candidates, distances):
    the processor overlaps their memory reads, which one branchy loop per fix would not.
    """
    return _distances(t, _near(t, fixes, *_cells(t, fixes)))
