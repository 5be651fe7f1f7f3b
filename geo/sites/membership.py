"""Membership: which sites cover a fix, given its accuracy — evidence, not events (STYLE §7).

For a fix with horizontal accuracy σ and a site with parameters k, cap and hysteresis::

    tolerance = min(k·σ, cap)          (σ unknown: tolerance 0, outside beyond cap + hysteresis)
    distance ≤ tolerance               → inside evidence
    distance > tolerance + hysteresis  → outside evidence (not listed)
    otherwise                          → between: changes nothing

A :class:`SiteIndex` is built once per version of the site set and never changes. It answers in two
ways that are proven identical (tests/geo/test_fences.py): :meth:`SiteIndex.memberships_of` is the
per-fix reference (an STRtree of reach boxes, then :func:`geo.sites.shapes.distance_m`);
:meth:`SiteIndex.memberships` is the batch path the pipeline uses (a
:class:`~geo.sites.grid.BoxGrid`, then the same kernel compiled over the batch, exact tests only
where a cheap bound cannot decide: :mod:`geo.sites.kernel`).

>>> from shapely import Point
>>> from geo.model import Site
>>> index = SiteIndex.build([Site(id=7, org_id=1, name="room", geometry=Point(114.3, 30.5),
...                               radius_m=15.0)])
>>> index.memberships_of(30.5, 114.3, 5.0)
(Membership(site=0, inside=True, distance_m=0.0),)
>>> m = index.memberships(np.array([30.5, 30.5003]), np.array([114.3, 114.3]), np.array([5.0, 5.0]))
>>> m.fix.tolist(), m.site.tolist(), m.inside.tolist()
([0, 1], [0, 0], [True, False])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from geo.errors import SiteError
from geo.model import Site
from geo.sites.arrays import SiteArrays
from geo.sites.grid import BoxGrid
from geo.sites.kernel import Tables, find_memberships
from geo.sites.shapes import compile_site, polygon_distance_m

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Membership:
    """One site a fix gives evidence about: inside, or between (outside is never listed)."""

    site: int  # position in SiteIndex.sites
    inside: bool
    distance_m: float


@dataclass(frozen=True, slots=True, eq=False)
class Memberships:
    """Batch form of :class:`Membership`: one row per (fix, site) pair, sorted by fix then site."""

    fix: IntArray
    site: IntArray
    inside: BoolArray
    distance_m: FloatArray

    def __len__(self) -> int:
        return len(self.fix)

    def rows(self) -> list[tuple[int, Membership]]:
        return [
            (f, Membership(s, i, d))
            for f, s, i, d in zip(
                self.fix.tolist(),
                self.site.tolist(),
                self.inside.tolist(),
                self.distance_m.tolist(),
                strict=True,
            )
        ]


def tolerances(accuracy_m: float | None, k: float, cap: float, hyst: float) -> tuple[float, float]:
    """(inside tolerance, outside threshold) in metres for one fix and one site."""
    if accuracy_m is None or math.isnan(accuracy_m):
        return 0.0, cap + hyst
    tol = min(k * max(accuracy_m, 0.0), cap)
    return tol, tol + hyst


def _floats(values: Sequence[float]) -> FloatArray:
    return np.array(values, dtype=np.float64)


class SiteIndex:
    """An immutable, compiled set of sites (one version); see the module docstring."""

    def __init__(self, sites: Sequence[Site], *, cell_deg: float = 0.0025) -> None:
        self.sites = tuple(sites)
        ids = [s.id for s in self.sites]
        if len(set(ids)) != len(ids):
            raise SiteError("site ids are not unique")
        self.shapes = tuple(compile_site(s) for s in self.sites)
        self.site_ids = np.array(ids, dtype=np.int64)
        self._position = {site_id: i for i, site_id in enumerate(ids)}
        self.arrays = SiteArrays.build(self.shapes)
        params = [s.params for s in self.sites]
        self.k = _floats([p.accuracy_k for p in params])
        self.cap = _floats([p.accuracy_cap_m for p in params])
        self.hyst = _floats([p.hysteresis_m for p in params])
        a = self.arrays
        # Reach boxes in degrees: no fix farther than cap + hysteresis (+ a margin against
        # rounding) can be inside or between, whatever its accuracy.
        reach = self.cap + self.hyst + 1.0
        self.reach_min_lon = a.lon0 + (a.bxmin - reach) / a.kx
        self.reach_max_lon = a.lon0 + (a.bxmax + reach) / a.kx
        self.reach_min_lat = a.lat0 + (a.bymin - reach) / a.ky
        self.reach_max_lat = a.lat0 + (a.bymax + reach) / a.ky
        self._tree = shapely.STRtree(
            shapely.box(
                self.reach_min_lon, self.reach_min_lat, self.reach_max_lon, self.reach_max_lat
            )
        )
        grid = BoxGrid.build(
            self.reach_min_lon,
            self.reach_min_lat,
            self.reach_max_lon,
            self.reach_max_lat,
            cell_deg=cell_deg,
        )
        self.tables = Tables.build(grid, a, k=self.k, cap=self.cap, hyst=self.hyst)

    @classmethod
    def build(cls, sites: Sequence[Site], *, cell_deg: float = 0.0025) -> SiteIndex:
        return cls(sites, cell_deg=cell_deg)

    def __len__(self) -> int:
        return len(self.sites)

    def position(self, site_id: int) -> int:
        """Index in :attr:`sites` of the site with this id (KeyError if absent)."""
        return self._position[site_id]

    # -- the per-fix reference ------------------------------------------------------------

    def memberships_of(
        self, lat: float, lon: float, accuracy_m: float | None
    ) -> tuple[Membership, ...]:
        """Sites that cover, or nearly cover, one fix: the readable reference path."""
        if not (math.isfinite(lat) and math.isfinite(lon)):
            return ()
        found = []
        for s in sorted(self._tree.query(shapely.Point(lon, lat)).tolist()):
            shape = self.shapes[s]
            x, y = shape.frame.to_local(lon, lat)
            if shape.radius_m is not None:
                d = max(math.sqrt(x * x + y * y) - shape.radius_m, 0.0)
            else:
                d = polygon_distance_m(shape.edges, x, y)
            params = self.sites[s].params
            tol_in, thr_out = tolerances(
                accuracy_m, params.accuracy_k, params.accuracy_cap_m, params.hysteresis_m
            )
            if d <= thr_out:
                found.append(Membership(s, d <= tol_in, d))
        return tuple(found)

    # -- the batch path ---------------------------------------------------------------------

    def memberships(
        self,
        lat: FloatArray,
        lon: FloatArray,
        accuracy_m: FloatArray,
        *,
        usable: BoolArray | None = None,
    ) -> Memberships:
        """:meth:`memberships_of` for arrays of fixes at once.

        Fixes without position (NaN) and those not ``usable`` (rejected by the quality rules)
        have no memberships; NaN accuracy means unknown.
        """
        lat = np.ascontiguousarray(lat, dtype=np.float64)
        lon = np.ascontiguousarray(lon, dtype=np.float64)
        acc = np.ascontiguousarray(accuracy_m, dtype=np.float64)
        ok = np.ones(len(lat), np.bool_) if usable is None else np.asarray(usable, np.bool_)
        return Memberships(*find_memberships(self.tables, (lat, lon, acc, ok)))
