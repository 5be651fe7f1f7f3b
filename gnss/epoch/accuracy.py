"""Horizontal accuracy of a fix, in metres (one sigma).

A receiver that sends GST states its own error estimate: the horizontal one-sigma error is the
root sum of squares of the latitude and longitude sigmas. Otherwise the estimate is HDOP times a
user-equivalent range error (UERE) that depends on how the position was obtained: an RTK fixed
solution is centimetres, a single-frequency autonomous fix metres.

>>> horizontal_accuracy_m(FixQuality.GPS, hdop=0.9, sigma_lat_m=None, sigma_lon_m=None)
3.6
>>> horizontal_accuracy_m(FixQuality.RTK_FIXED, hdop=0.6, sigma_lat_m=0.012, sigma_lon_m=0.016)
0.02
"""

from __future__ import annotations

import math

from gnss.model import FixQuality

# One-sigma range error per solution type, metres. Conservative figures for today's
# multi-constellation single-frequency receivers (autonomous ≈ 4 m) and their augmented modes;
# qualities that are not measurements (manual, simulation, invalid) have no accuracy.
UERE_M: dict[FixQuality, float] = {
    FixQuality.GPS: 4.0,
    FixQuality.DGPS: 1.0,
    FixQuality.PPS: 3.0,
    FixQuality.RTK_FIXED: 0.02,
    FixQuality.RTK_FLOAT: 0.3,
    FixQuality.ESTIMATED: 15.0,
}


def horizontal_accuracy_m(
    quality: FixQuality,
    *,
    hdop: float | None,
    sigma_lat_m: float | None,
    sigma_lon_m: float | None,
) -> float | None:
    if sigma_lat_m is not None and sigma_lon_m is not None:
        return round(math.hypot(sigma_lat_m, sigma_lon_m), 3)
    uere = UERE_M.get(quality)
    if uere is None or hdop is None:
        return None
    return round(hdop * uere, 3)
