"""Coordinates: GCJ-02 ⇄ WGS 84, a site-local metric frame, and great-circle distance.

GCJ-02 is the obfuscated datum of maps digitised on AMap/Tencent tiles. The forward transform is
the published public formula (Krasovsky ellipsoid constants); it has no closed-form inverse, so
:func:`gcj02_to_wgs84` iterates the forward transform until the error is far below a millimetre.
It is applied wherever it is *declared*: no "inside China" rectangle decides it (DESIGN §4).

A :class:`LocalFrame` maps lon/lat to metres east/north of an origin with the WGS 84 radii of
curvature at the origin's latitude. For sites up to a few kilometres across it is within
centimetres of the geodesic at any latitude below ±85° (the antimeridian is out of scope).

>>> lon, lat = wgs84_to_gcj02(116.404, 39.915)
>>> round(lon, 6), round(lat, 6)
(116.410244, 39.916404)
>>> back = gcj02_to_wgs84(lon, lat)
>>> round(back[0], 9), round(back[1], 9)
(116.404, 39.915)
>>> frame = LocalFrame.at(lon=114.3, lat=30.5)
>>> round(frame.to_local(114.301, 30.5)[0], 2)  # metres east of the origin
96.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# WGS 84 ellipsoid.
WGS84_A = 6378137.0
WGS84_F = 1 / 298.257223563
WGS84_E2 = WGS84_F * (2 - WGS84_F)
# Mean Earth radius (IUGG), for great-circle distances in the quality rules.
EARTH_RADIUS_M = 6371008.8

# Constants of the published GCJ-02 formula (Krasovsky 1940 ellipsoid).
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323
# The inverse stops when a step moves less than this (degrees, ≈ 1e-6 m).
_INVERSE_STEP_DEG = 1e-11
_INVERSE_MAX_STEPS = 30


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The GCJ-02 offset (degrees) added to a WGS 84 position, vectorised."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    ripple = (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + ripple
    d_lat += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + ripple
    d_lon += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _GCJ_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = (d_lon * 180.0) / (_GCJ_A / sqrt_magic * np.cos(rad_lat) * math.pi)
    return d_lon, d_lat


def wgs84_to_gcj02_arrays(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Vectorised WGS 84 → GCJ-02 (what AMap/Tencent tiles show for a WGS 84 position)."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    d_lon, d_lat = _gcj_offset(lon, lat)
    return lon + d_lon, lat + d_lat


def gcj02_to_wgs84_arrays(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Vectorised GCJ-02 → WGS 84 by fixed-point iteration of the forward transform."""
    g_lon = np.asarray(lon, dtype=np.float64)
    g_lat = np.asarray(lat, dtype=np.float64)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(_INVERSE_MAX_STEPS):
        f_lon, f_lat = wgs84_to_gcj02_arrays(w_lon, w_lat)
        step_lon, step_lat = f_lon - g_lon, f_lat - g_lat
        w_lon -= step_lon
        w_lat -= step_lat
        if (
            max(
                float(np.max(np.abs(step_lon), initial=0.0)),
                float(np.max(np.abs(step_lat), initial=0.0)),
            )
            < _INVERSE_STEP_DEG
        ):
            break
    return w_lon, w_lat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    g_lon, g_lat = wgs84_to_gcj02_arrays(np.array([lon]), np.array([lat]))
    return float(g_lon[0]), float(g_lat[0])


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    w_lon, w_lat = gcj02_to_wgs84_arrays(np.array([lon]), np.array([lat]))
    return float(w_lon[0]), float(w_lat[0])


def metres_per_degree(lat: float) -> tuple[float, float]:
    """(east, north) metres per degree of longitude and latitude at ``lat`` on WGS 84."""
    s = math.sin(math.radians(lat))
    w = 1.0 - WGS84_E2 * s * s
    prime_vertical = WGS84_A / math.sqrt(w)
    meridional = WGS84_A * (1.0 - WGS84_E2) / (w * math.sqrt(w))
    return prime_vertical * math.cos(math.radians(lat)) * math.pi / 180.0, (
        meridional * math.pi / 180.0
    )


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """Metres east (x) and north (y) of (``lon0``, ``lat0``).

    x = (lon − lon0)·kx and y = (lat − lat0)·ky with the WGS 84 radii of curvature at ``lat0``.

    The same two multiplications serve the per-fix reference and the vectorised batch path, so
    both see bit-identical local coordinates.
    """

    lon0: float
    lat0: float
    kx: float  # metres per degree of longitude at lat0
    ky: float  # metres per degree of latitude at lat0

    @classmethod
    def at(cls, *, lon: float, lat: float) -> LocalFrame:
        kx, ky = metres_per_degree(lat)
        return cls(lon0=lon, lat0=lat, kx=kx, ky=ky)

    def to_local(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky

    def to_lonlat(self, x: float, y: float) -> tuple[float, float]:
        return self.lon0 + x / self.kx, self.lat0 + y / self.ky


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres on the mean-radius sphere (for the speed rule)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def haversine_m_arrays(
    lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray
) -> FloatArray:
    """Vectorised :func:`haversine_m`."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2.0 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h))))
