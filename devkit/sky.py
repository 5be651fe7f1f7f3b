"""A plausible sky for simulated receivers: satellites per constellation that move slowly.

Each constellation gets a fixed set of visible satellites (seeded), whose azimuth drifts and
whose signal strength wanders with time; a satellite is used in the fix when it is high enough
and strong enough. DOPs follow from the number used. It is not an orbit model: it is enough for
receivers' sentences to look and change like real ones.

>>> sky = Sky(seed=1)
>>> [s.number for s in sky.at(0.0, fix=True)[Constellation.BEIDOU]][:3]
[1, 2, 6]
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from gnss.model import Constellation

__all__ = ["Sat", "Sky", "dops"]

# Visible satellites per constellation for a site in China, and the native numbers to draw
# from: BeiDou GEOs 1–5, IGSOs, and MEOs up to 46; GLONASS slots 1–24; QZSS over Asia.
_VISIBLE = {
    Constellation.GPS: (9, range(1, 33)),
    Constellation.GLONASS: (6, range(1, 25)),
    Constellation.GALILEO: (7, range(1, 37)),
    Constellation.BEIDOU: (15, range(1, 47)),
    Constellation.QZSS: (2, range(1, 8)),
}


@dataclass(frozen=True, slots=True)
class Sat:
    system: Constellation
    number: int  # native: BeiDou 1–63, GLONASS 1–24…
    elevation: int
    azimuth: int
    snr: int | None  # dB-Hz; None when not tracked
    used: bool


class Sky:
    """The satellites in view at a time (seconds since the track started)."""

    def __init__(self, seed: int = 0) -> None:
        rng = random.Random(seed)
        self._sats: dict[Constellation, list[tuple[int, float, float, float, float]]] = {}
        for system, (count, numbers) in _VISIBLE.items():
            chosen = sorted(rng.sample(list(numbers), count))
            self._sats[system] = [
                (n, rng.uniform(5, 85), rng.uniform(0, 360), rng.uniform(28, 48), rng.uniform(0, 6))
                for n in chosen
            ]

    def at(self, seconds: float, *, fix: bool) -> dict[Constellation, list[Sat]]:
        """``fix=False`` is a receiver indoors: still tracking a few weak signals, using none."""
        sky = {}
        for system, sats in self._sats.items():
            visible = []
            for number, elevation0, azimuth0, snr0, phase in sats:
                elevation = elevation0 + 3.0 * math.sin(seconds / 900.0 + phase)
                azimuth = (azimuth0 + seconds / 240.0) % 360.0
                snr = snr0 + 4.0 * math.sin(seconds / 37.0 + phase)
                if not fix:
                    snr -= 22.0
                tracked = snr >= 12.0
                visible.append(
                    Sat(
                        system,
                        number,
                        max(1, round(elevation)),
                        round(azimuth) % 360,
                        round(snr) if tracked else None,
                        fix and tracked and elevation >= 12.0 and snr >= 30.0,
                    )
                )
            sky[system] = visible
        return sky


def dops(used: int) -> tuple[float, float, float]:
    """(PDOP, HDOP, VDOP) for a number of satellites used, roughly as receivers report them."""
    if used < 4:
        return 99.99, 99.99, 99.99
    hdop = round(max(0.5, 4.2 / math.sqrt(used)), 2)
    vdop = round(hdop * 1.4, 2)
    return round(math.hypot(hdop, vdop), 2), hdop, vdop
