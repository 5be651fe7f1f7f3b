"""JT/T 808 locations as fixes: what a terminal's report says, in the pipeline's terms.

A terminal sends no HDOP, DOP or accuracy: each device has a default accuracy (its
``accuracy_m``, else :data:`DEFAULT_ACCURACY_M`), which membership's margin uses, and the quality
rules judge the fix by it rather than by an HDOP it never had. Its time is read in the
device's clock zone (GMT+8 unless set otherwise: some terminals send UTC) and stored in UTC.

BeiDou: a terminal says which constellations it used (status bits) and how many satellites in
all (item 0x31), not how many of each. When its BeiDou bit is set, the count it gives is taken
as its BeiDou count — the terminal's own claim, so a check-in is BeiDou-verified when the bit is
set and at least 4 satellites were used; the check-in's evidence says the claim is the
terminal's (kind ``terminal``, from the positions' source ``jt808``), weaker than a receiver's
per-constellation count, and attendance shows it as 北斗终端, not 北斗核验.

>>> from datetime import datetime
>>> from gnss.jt808.location import Location, Status
>>> loc = Location(0, Status.POSITIONED | Status.BEIDOU, 30_500_000, 114_300_000, 40, 36, 90,
...                datetime(2026, 5, 1, 16, 0), extras=((0x31, bytes([7])),))
>>> fix = location_fix(loc, accuracy_m=8.0)
>>> fix.time.isoformat(), fix.lat, fix.accuracy_m, fix.hdop, fix.beidou_used
('2026-05-01T08:00:00+00:00', 30.5, 8.0, None, 7)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from gnss.jt808.location import Location, Status
from gnss.model import Constellation, Fix, FixMode, FixQuality

__all__ = ["DEFAULT_ACCURACY_M", "location_fix", "location_fixes"]

# Helmets and badges with a consumer BeiDou/GPS module: a few metres in the open, worse beside
# buildings and under scaffolding; ten metres is the accuracy partymap assumes unless told.
DEFAULT_ACCURACY_M = 10.0


def location_fix(
    location: Location,
    *,
    accuracy_m: float = DEFAULT_ACCURACY_M,
    received_at: datetime | None = None,
) -> Fix | None:
    """The fix of one location (in the zone its ``utc_offset_s`` says); None when the terminal
    sent no time (it has never had a fix)."""
    time = location.time
    if time is None:
        return None
    sats = location.sats_used
    positioned = location.positioned
    beidou = {Constellation.BEIDOU: sats} if sats and location.status & Status.BEIDOU else {}
    return Fix(
        time=time,
        lat=location.lat if positioned else None,
        lon=location.lon if positioned else None,
        alt_m=float(location.alt_m) if positioned else None,
        mode=FixMode.THREE_D if positioned else FixMode.NO_FIX,
        quality=FixQuality.GPS if positioned else FixQuality.INVALID,
        sats_used=sats,
        sats_used_by_system=beidou,
        speed_mps=location.speed_mps if positioned else None,
        course_deg=float(location.heading_deg) if positioned else None,
        accuracy_m=accuracy_m if positioned else None,
        raw_position=f"jt808:{location.basic.hex()}" if positioned else None,
        received_at=received_at,
    )


def location_fixes(
    locations: Sequence[Location], *, accuracy_m: float | None, received_at: datetime | None = None
) -> list[Fix]:
    """The fixes of a report or batch, in order (locations without a time make none)."""
    accuracy = DEFAULT_ACCURACY_M if accuracy_m is None else accuracy_m
    fixes = (location_fix(loc, accuracy_m=accuracy, received_at=received_at) for loc in locations)
    return [fix for fix in fixes if fix is not None]
