"""What a receiver of a family says in one epoch: the sentence bodies, before checksums.

Positions are printed to the family's precision, speed and course come from the previous track
point, satellites from the sky (:mod:`devkit.sky`); a point without a fix, or a cold start,
gives the empty fields real receivers send.

>>> from datetime import datetime, UTC
>>> from devkit.families import FAMILIES
>>> from devkit.sky import Sky
>>> point = TrackPoint(datetime(2026, 5, 1, 8, 0, tzinfo=UTC), 30.5, 114.3)
>>> epoch_bodies(FAMILIES["bd-only"], point, None, Sky(0).at(0.0, fix=True), index=0, cold=False)[0]
'BDGGA,080000.00,3030.00000,N,11418.00000,E,1,12,1.21,30.0,M,8.3,M,,'
"""

from __future__ import annotations

import math

from devkit.families import GSV_TALKERS, SYSTEM_IDS, Family, TrackPoint
from devkit.sky import Sat, dops
from gnss.model import Constellation

__all__ = ["KNOTS_PER_MPS", "course_deg", "distance_m", "epoch_bodies"]

KNOTS_PER_MPS = 3600.0 / 1852.0
_EARTH_M = 6_371_008.8


def distance_m(lat0: float, lon0: float, lat1: float, lon1: float) -> float:
    p0, p1 = math.radians(lat0), math.radians(lat1)
    a = math.sin((p1 - p0) / 2) ** 2
    a += math.cos(p0) * math.cos(p1) * math.sin(math.radians(lon1 - lon0) / 2) ** 2
    return 2 * _EARTH_M * math.asin(math.sqrt(a))


def course_deg(lat0: float, lon0: float, lat1: float, lon1: float) -> float:
    p0, p1, dl = math.radians(lat0), math.radians(lat1), math.radians(lon1 - lon0)
    y = math.sin(dl) * math.cos(p1)
    x = math.cos(p0) * math.sin(p1) - math.sin(p0) * math.cos(p1) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


def epoch_bodies(
    spec: Family,
    point: TrackPoint,
    previous: TrackPoint | None,
    sky: dict[Constellation, list[Sat]],
    *,
    index: int,
    cold: bool,
) -> list[str]:
    fix = point.fix and not cold
    systems = [s for s in sky if s in (spec.signals or GSV_TALKERS)]
    used = {s: [sat for sat in sky[s] if sat.used] for s in systems}
    n_used = sum(len(v) for v in used.values())
    fix = fix and n_used >= 4
    pdop, hdop, vdop = dops(n_used if fix else 0)
    t = (
        ""
        if cold
        else f"{point.time:%H%M%S}.{point.time.microsecond:06d}"[: 7 + spec.time_decimals]
    )
    d = "" if cold else f"{point.time:%d%m%y}"
    lat, ns = _ddmm(point.lat, 2, spec.coord_decimals, "NS") if fix else ("", "")
    lon, ew = _ddmm(point.lon, 3, spec.coord_decimals, "EW") if fix else ("", "")
    quality = _quality(spec, point, index) if fix else 0
    mode = {1: "A", 2: "D", 4: "R", 5: "F"}.get(quality, "A") if fix else "N"
    speed = course = 0.0
    if previous is not None and fix:
        dt = (point.time - previous.time).total_seconds() or 1.0
        speed = distance_m(previous.lat, previous.lon, point.lat, point.lon) / dt
        course = course_deg(previous.lat, previous.lon, point.lat, point.lon)
    knots = f"{speed * KNOTS_PER_MPS:.3f}" if fix else ""
    heading = f"{course:.2f}" if fix and speed > 0.1 else ""
    tk = spec.talker
    out: list[str] = []
    for kind in spec.order:
        if kind == "GGA":
            if fix:
                age, station = ("1.0", "0001") if quality in (4, 5) else ("", "")
                out.append(
                    f"{tk}GGA,{t},{lat},{ns},{lon},{ew},{quality},{min(n_used, spec.gga_cap):02d},"
                    f"{hdop:.2f},{point.alt_m:.1f},M,8.3,M,{age},{station}"
                )
            else:
                out.append(f"{tk}GGA,{t},,,,,0,00,99.99,,,,,,")
        elif kind == "RMC":
            status = "A" if fix else "V"
            nav = ",V" if spec.nav_status else ""
            out.append(
                f"{tk}RMC,{t},{status},{lat},{ns},{lon},{ew},{knots},{heading},{d},,,{mode}{nav}"
            )
        elif kind == "VTG":
            kmh = f"{speed * 3.6:.3f}" if fix else ""
            out.append(f"{tk}VTG,{heading},T,,M,{knots},N,{kmh},K,{mode}")
        elif kind == "GLL":
            out.append(f"{tk}GLL,{lat},{ns},{lon},{ew},{t},{'A' if fix else 'V'},{mode}")
        elif kind == "GSA":
            out += _gsa(spec, systems, used, fix, (pdop, hdop, vdop))
        elif kind == "GSV":
            out += _gsv(spec, systems, sky)
        elif kind == "GST" and not cold:
            sigma = (0.012, 0.009, 0.021) if quality == 4 else (0.25, 0.2, 0.45)
            if quality not in (4, 5):
                sigma = (1.8, 1.5, 3.1) if fix else (99.0, 99.0, 99.0)
            out.append(f"{tk}GST,{t},1.2,,,,{sigma[0]},{sigma[1]},{sigma[2]}")
        elif kind == "ZDA" and not cold:
            out.append(f"{tk}ZDA,{t},{point.time:%d,%m,%Y},00,00")
        elif kind == "TXT" and spec.banner:
            out.append(f"GPTXT,01,01,02,{spec.banner}")
    return out


def _quality(spec: Family, point: TrackPoint, index: int) -> int:
    if point.quality is not None:
        return point.quality
    if spec.quality == 4:  # RTK: single, float while the ambiguities resolve, then fixed
        return 1 if index < 3 else 5 if index < 8 else 4
    return spec.quality


def _ddmm(value: float, width: int, decimals: int, hemispheres: str) -> tuple[str, str]:
    hemisphere = hemispheres[0] if value >= 0 else hemispheres[1]
    minutes_total = round(abs(value) * 60.0 * 10**decimals)
    degrees, rest = divmod(minutes_total, 60 * 10**decimals)
    minutes = f"{rest // 10**decimals:02d}" + (
        f".{rest % 10**decimals:0{decimals}d}" if decimals else ""
    )
    return f"{degrees:0{width}d}{minutes}", hemisphere


def _number(spec: Family, sat: Sat) -> int:
    if sat.system is Constellation.BEIDOU:
        return sat.number + spec.beidou_offset
    if sat.system is Constellation.GLONASS:
        return sat.number + 64
    if sat.system is Constellation.QZSS and not spec.gsa_system_id:
        return sat.number + 192
    return sat.number


def _gsa(
    spec: Family,
    systems: list[Constellation],
    used: dict[Constellation, list[Sat]],
    fix: bool,
    dop: tuple[float, float, float],
) -> list[str]:
    fix_type = 3 if fix else 1
    tail = f"{dop[0]:.2f},{dop[1]:.2f},{dop[2]:.2f}"
    groups = [[s] for s in systems] if spec.gsa_system_id else [systems]
    out = []
    for group in groups:
        numbers = [_number(spec, sat) for system in group for sat in used[system]]
        # NMEA 4.10 receivers send as many GSAs as a constellation needs; older ones list 12.
        pages = [numbers[k : k + 12] for k in range(0, len(numbers), 12)] or [[]]
        for page in pages if spec.gsa_system_id else pages[:1]:
            slots = ",".join([f"{n:02d}" for n in page] + [""] * (12 - len(page)))
            sysid = f",{SYSTEM_IDS[group[0]]}" if spec.gsa_system_id else ""
            out.append(f"{spec.talker}GSA,A,{fix_type},{slots},{tail}{sysid}")
    return out


def _gsv(
    spec: Family, systems: list[Constellation], sky: dict[Constellation, list[Sat]]
) -> list[str]:
    out = []
    for system in systems:
        talker = spec.gsv_talkers.get(system, GSV_TALKERS[system])
        for k, signal in enumerate(spec.signals.get(system, ()) or ("",)):
            # Second and third signals come from the newer satellites only.
            sats = [s for s in sky[system] if k == 0 or s.number % (k + 2) != 0]
            pages = max(1, math.ceil(len(sats) / 4))
            for page in range(pages):
                fields = [f"{talker}GSV,{pages},{page + 1},{len(sats):02d}"]
                for sat in sats[4 * page : 4 * page + 4]:
                    snr = "" if sat.snr is None else f"{sat.snr:02d}"
                    fields.append(
                        f"{_number(spec, sat):02d},{sat.elevation:02d},{sat.azimuth:03d},{snr}"
                    )
                if signal:
                    fields.append(signal)
                out.append(",".join(fields))
    return out
