"""GeoJSON for the two largest answers, serialised by orjson.

The latest positions of a 2,000-member subtree and a day-long track (8,640 fixes) are the
heaviest bodies the API writes. orjson writes them in a third of the time of the standard
library (and of templates filled per feature): ``bench/api.py`` shows the effect on latency.
Times come out in UTC with ``Z``; numbers that are missing or not finite become ``null``.

>>> from datetime import datetime, UTC
>>> from store.tracks import TrackFix
>>> p = TrackFix(datetime(2026, 5, 1, 8, tzinfo=UTC), 30.5, 114.3, None, 2.5, float("nan"),
...                271.0, 0.9, 1, 10, 6, 3, ("hdop_too_high",))
>>> import json
>>> feature = json.loads(collection(track_features([p])))["features"][0]
>>> feature["geometry"], feature["properties"]["fix_time"], feature["properties"]["speed_mps"]
({'type': 'Point', 'coordinates': [114.3, 30.5]}, '2026-05-01T08:00:00Z', None)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from store.latest import LatestFix
from store.tracks import TrackFix

Feature = dict[str, Any]


def collection(features: list[Feature], **members: Any) -> bytes:
    """A FeatureCollection; ``members`` are foreign members (paging)."""
    body = {"type": "FeatureCollection", "features": features, **members}
    # NaN and infinities are written as null by orjson, as RFC 8259 needs.
    return orjson.dumps(body, option=orjson.OPT_UTC_Z)


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def latest_features(fixes: Iterable[LatestFix], names: Mapping[int, str]) -> list[Feature]:
    """Point Features with id = member id and the fix's time and quality."""
    return [
        {
            "type": "Feature",
            "id": f.member_id,
            "geometry": _point(f.lon, f.lat),
            "properties": {
                "member_id": f.member_id,
                "name": names.get(f.member_id),
                "org_id": f.org_id,
                "device_id": f.device_id,
                "fix_time": f.fix_time,
                "received_at": f.received_at,
                "alt_m": f.alt_m,
                "accuracy_m": f.accuracy_m,
                "mode": f.mode,
                "quality": f.quality,
                "hdop": f.hdop,
                "sats_used": f.sats_used,
                "sats_beidou": f.sats_beidou,
                "speed_mps": f.speed_mps,
                "course_deg": f.course_deg,
            },
        }
        for f in fixes
    ]


def track_features(points: Iterable[TrackFix]) -> list[Feature]:
    """One Point Feature per fix, oldest first."""
    return [
        {
            "type": "Feature",
            "geometry": _point(p.lon, p.lat),
            "properties": {
                "fix_time": p.fix_time,
                "alt_m": p.alt_m,
                "accuracy_m": p.accuracy_m,
                "speed_mps": p.speed_mps,
                "course_deg": p.course_deg,
                "hdop": p.hdop,
                "quality": p.quality,
                "sats_used": p.sats_used,
                "sats_beidou": p.sats_beidou,
                "device_id": p.device_id,
                "rejections": p.rejections,
            },
        }
        for p in points
    ]
