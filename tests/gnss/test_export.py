"""The JSON form of a fix."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import MappingProxyType

from gnss.logs.export import FIELDS, fix_json, fix_jsonl, iso_time
from gnss.model import Constellation, Fix, FixMode, FixQuality


def test_keys_are_those_of_design_section_7_in_order() -> None:
    assert FIELDS == (
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


def test_a_fix_as_json() -> None:
    fix = Fix(
        time=datetime(2026, 5, 1, 8, 0, 1, 500000, tzinfo=UTC),
        lat=30.5,
        lon=-87.25,
        alt_m=12.5,
        mode=FixMode.THREE_D,
        quality=FixQuality.RTK_FIXED,
        sats_used=14,
        sats_used_by_system=MappingProxyType({Constellation.BEIDOU: 9, Constellation.GPS: 5}),
        accuracy_m=0.02,
    )
    data = json.loads(fix_jsonl(fix))
    assert data == fix_json(fix)
    assert data["time"] == "2026-05-01T08:00:01.500Z"
    assert (data["mode"], data["quality"], data["hdop"]) == (3, 4, None)
    assert list(data["sats_used_by_system"]) == ["GPS", "BEIDOU"]  # constellation order


def test_times_keep_microseconds_when_the_receiver_sent_them() -> None:
    assert (
        iso_time(datetime(2026, 5, 1, 8, 0, 1, 123456, tzinfo=UTC)) == "2026-05-01T08:00:01.123456Z"
    )
