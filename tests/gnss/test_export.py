"""The JSON form of a fix."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gnss.fixtable import FixTable
from gnss.logs.export import FIELDS, fix_json, fix_jsonl, iso_time, table_jsonl
from gnss.logs.reader import decode_log, decode_log_table, read_log
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


# -- a whole table at once (the batch path of ``partymap gnss fixes --jsonl``) ----------------

LOGS = sorted((Path(__file__).resolve().parents[2] / "fixtures" / "nmea").glob("*.nmea"))
_MAYBE = st.none() | st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def any_fix(draw: st.DrawFn) -> Fix:
    def counts() -> MappingProxyType[Constellation, int]:
        found = draw(st.dictionaries(st.sampled_from(list(Constellation)), st.integers(1, 63)))
        return MappingProxyType(found)

    return Fix(
        time=draw(st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31), timezones=st.just(UTC))),
        lat=draw(_MAYBE),
        lon=draw(_MAYBE),
        alt_m=draw(_MAYBE),
        mode=draw(st.sampled_from(list(FixMode))),
        quality=draw(st.sampled_from(list(FixQuality))),
        hdop=draw(_MAYBE),
        pdop=draw(_MAYBE),
        vdop=draw(_MAYBE),
        sats_used=draw(st.none() | st.integers(0, 999)),
        sats_used_by_system=counts(),
        sats_in_view_by_system=counts(),
        speed_mps=draw(_MAYBE | st.sampled_from([5.14444e-05, 1e-7, -3e-6, 1e16, 2.5e300])),
        course_deg=draw(_MAYBE),
        accuracy_m=draw(_MAYBE),
    )


def _one_at_a_time(fixes: list[Fix]) -> bytes:
    return "".join(fix_jsonl(f) + "\n" for f in fixes).encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(any_fix(), max_size=20))
def test_a_table_writes_the_same_bytes_as_its_fixes_one_by_one(fixes: list[Fix]) -> None:
    table = FixTable.from_fixes(fixes, np.zeros(len(fixes), np.int64))
    assert table_jsonl(table) == _one_at_a_time(fixes)


@pytest.mark.parametrize("path", LOGS, ids=lambda p: p.stem)
def test_a_logs_columns_write_its_golden_lines(path: Path) -> None:
    data = read_log(path)
    decoded = decode_log_table(data)
    assert table_jsonl(decoded.table) == path.with_suffix(".jsonl").read_bytes()
    assert decoded.counts == decode_log(data).counts
