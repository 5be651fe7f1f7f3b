"""A ``Fix`` as the JSON object of ``partymap gnss fixes --jsonl`` (DESIGN §7).

Keys, in this order: ``time`` (ISO 8601 UTC, milliseconds, ``Z``), ``lat``, ``lon`` (degrees),
``alt_m`` (metres above mean sea level), ``mode`` (1 no fix, 2 2D, 3 3D, as gpsd), ``quality``
(GGA fix quality 0–8: 1 GPS, 2 DGPS, 4 RTK fixed, 5 RTK float…), ``hdop``, ``pdop``, ``vdop``,
``sats_used``, ``sats_used_by_system`` and ``sats_in_view_by_system`` (constellation name →
count, e.g. ``{"BEIDOU": 14, "GPS": 8}``), ``speed_mps``, ``course_deg`` (true), ``accuracy_m``
(estimated horizontal one-sigma error). Unknown values are ``null``.

>>> from datetime import datetime, UTC
>>> from gnss.model import Fix
>>> fix_json(Fix(time=datetime(2026, 5, 1, 8, 0, 0, 250000, tzinfo=UTC)))["time"]
'2026-05-01T08:00:00.250Z'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from gnss.model import Constellation, Fix

__all__ = ["FIELDS", "fix_json", "fix_jsonl", "iso_time"]

FIELDS = (
    "time",
    "lat",
    "lon",
    "alt_m",
    "mode",
    "quality",
    "hdop",
    "pdop",
    "vdop",
    "sats_used",
    "sats_used_by_system",
    "sats_in_view_by_system",
    "speed_mps",
    "course_deg",
    "accuracy_m",
)
JsonValue = str | int | float | dict[str, int] | None


def iso_time(time: datetime) -> str:
    """UTC, milliseconds (microseconds when the receiver gave them)."""
    micros = time.microsecond
    fraction = f"{micros // 1000:03d}" if micros % 1000 == 0 else f"{micros:06d}"
    return f"{time:%Y-%m-%dT%H:%M:%S}.{fraction}Z"


def _systems(counts: Mapping[Constellation, int]) -> dict[str, int]:
    return {system.value: counts[system] for system in Constellation if system in counts}


def fix_json(fix: Fix) -> dict[str, JsonValue]:
    return {
        "time": iso_time(fix.time),
        "lat": fix.lat,
        "lon": fix.lon,
        "alt_m": fix.alt_m,
        "mode": int(fix.mode),
        "quality": int(fix.quality),
        "hdop": fix.hdop,
        "pdop": fix.pdop,
        "vdop": fix.vdop,
        "sats_used": fix.sats_used,
        "sats_used_by_system": _systems(fix.sats_used_by_system),
        "sats_in_view_by_system": _systems(fix.sats_in_view_by_system),
        "speed_mps": fix.speed_mps,
        "course_deg": fix.course_deg,
        "accuracy_m": fix.accuracy_m,
    }


def fix_jsonl(fix: Fix) -> str:
    """One line of ``--jsonl`` output (no newline)."""
    return json.dumps(fix_json(fix), ensure_ascii=False, separators=(", ", ": "))
