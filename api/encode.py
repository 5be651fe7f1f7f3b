"""GeoJSON text for the two largest answers, written straight from rows.

The latest positions of a 2,000-member subtree and a day-long track (8,640 fixes) are built
as text, one template per feature, instead of a dict per feature passed through ``json.dumps``:
half the time, the same JSON. Numbers that are missing or not finite become ``null``.

>>> from datetime import datetime, UTC
>>> from store.tracks import TrackPoint
>>> p = TrackPoint(datetime(2026, 5, 1, 8, tzinfo=UTC), 30.5, 114.3, None, 2.5, 0.4, 271.0,
...                0.9, 1, 10, 6, 3, ("hdop_too_high",))
>>> import json
>>> json.loads(collection(track_features_json([p])))["features"][0]["geometry"]
{'type': 'Point', 'coordinates': [114.3, 30.5]}
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from store.latest import LatestFix
from store.tracks import TrackPoint

_text = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def num(value: float | None) -> str:
    return "null" if value is None or not math.isfinite(value) else repr(float(value))


def integer(value: int | None) -> str:
    return "null" if value is None else str(int(value))


def time(value: datetime) -> str:
    return '"' + value.astimezone(UTC).isoformat().replace("+00:00", "Z") + '"'


def collection(features: Iterable[str], **members: Any) -> str:
    """A FeatureCollection of feature texts; ``members`` are foreign members (paging)."""
    extra = "".join(f",{_text(k)}:{_text(v)}" for k, v in members.items())
    return '{"type":"FeatureCollection","features":[' + ",".join(features) + "]" + extra + "}"


def latest_features_json(fixes: Iterable[LatestFix], names: Mapping[int, str]) -> list[str]:
    """Point Features with id = member id and the fix's time and quality."""
    return [
        f'{{"type":"Feature","id":{f.member_id},"geometry":{{"type":"Point",'
        f'"coordinates":[{num(f.lon)},{num(f.lat)}]}},"properties":{{"member_id":{f.member_id},'
        f'"name":{_text(names.get(f.member_id))},"org_id":{f.org_id},"device_id":{f.device_id},'
        f'"fix_time":{time(f.fix_time)},"received_at":{time(f.received_at)},'
        f'"alt_m":{num(f.alt_m)},"accuracy_m":{num(f.accuracy_m)},"mode":{f.mode},'
        f'"quality":{f.quality},"hdop":{num(f.hdop)},"sats_used":{integer(f.sats_used)},'
        f'"sats_beidou":{integer(f.sats_beidou)},"speed_mps":{num(f.speed_mps)},'
        f'"course_deg":{num(f.course_deg)}}}}}'
        for f in fixes
    ]


def track_features_json(points: Iterable[TrackPoint]) -> list[str]:
    """One Point Feature per fix, oldest first."""
    return [
        f'{{"type":"Feature","geometry":{{"type":"Point","coordinates":[{num(p.lon)},'
        f'{num(p.lat)}]}},"properties":{{"fix_time":{time(p.fix_time)},"alt_m":{num(p.alt_m)},'
        f'"accuracy_m":{num(p.accuracy_m)},"speed_mps":{num(p.speed_mps)},'
        f'"course_deg":{num(p.course_deg)},"hdop":{num(p.hdop)},"quality":{p.quality},'
        f'"sats_used":{integer(p.sats_used)},"sats_beidou":{integer(p.sats_beidou)},'
        f'"device_id":{p.device_id},"rejections":{_text(list(p.rejections))}}}}}'
        for p in points
    ]
