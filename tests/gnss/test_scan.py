"""Line by line, the compiled scanner against the reference parser.

Every line :func:`gnss.nmea.scan.decode_lines` decodes, the reference parses to the same kind
of sentence with the same values; every line it rejects, the reference rejects for the same
reason; every TXT it accepts, the reference accepts. (The pipeline-level comparisons in
test_differential.py cannot see all of this: the columns hand a stream to the reference from its
first declined line on.)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devkit.simulate import FAMILIES
from gnss.epoch.rules import KIND_INDEX, sentence_base
from gnss.model import Constellation
from gnss.nmea.lines import Lines
from gnss.nmea.parser import parse_line
from gnss.nmea.scan import DECLINED, DECODED, NEUTRAL, REASONS, REJECTED, SAT_STRIDE, decode_lines
from gnss.nmea.sentences import (
    EpochSentence,
    Gga,
    Gll,
    Gns,
    Gsa,
    Gst,
    Gsv,
    Rejection,
    Rmc,
    SatId,
    Txt,
    Vtg,
    Zda,
    quality_from_mode_indicator,
)
from tests.conftest import FIXTURES, GPSD_ANCHORS

from .streams import TRICKY_FIELDS, clean_lines, device_lines, edited_fields, framed

_SYSTEMS = {system: i for i, system in enumerate(Constellation)}


def _f(value: float | None) -> float:
    return math.nan if value is None else value


def _i(value: int | None) -> int:
    return -1 if value is None else value


def _day(value: object) -> int:
    return 0 if value is None else int(f"{value:%Y%m%d}")


def _codes(sats: tuple[SatId, ...]) -> list[int]:
    return [_SYSTEMS[system] * SAT_STRIDE + number for system, number in sats]


def expected(s: EpochSentence) -> dict[str, object]:
    """The columns the scanner should hold for a sentence the reference parsed."""
    row: dict[str, object] = {
        "kind": KIND_INDEX[s.kind],
        "base": sentence_base(s),
        "tod": _i(s.tod_us),
    }
    match s:
        case Gga():
            row |= {"lat": _f(s.lat), "lon": _f(s.lon), "alt": _f(s.alt_m), "valid": s.valid}
            row |= {"quality": _i(s.quality), "sats": _i(s.sats_used), "hdop": _f(s.hdop)}
        case Rmc():
            row |= {"lat": _f(s.lat), "lon": _f(s.lon), "valid": s.valid, "date": _day(s.date)}
            row |= {"speed": _f(s.speed_mps), "course": _f(s.course_deg), "motion_ok": s.valid}
            row["quality"] = int(quality_from_mode_indicator(s.mode_indicator))
        case Gns():
            row |= {"lat": _f(s.lat), "lon": _f(s.lon), "alt": _f(s.alt_m), "valid": s.valid}
            row |= {"sats": _i(s.sats_used), "hdop": _f(s.hdop)}
            row["quality"] = int(quality_from_mode_indicator(s.mode_indicator))
        case Gll():
            row |= {"lat": _f(s.lat), "lon": _f(s.lon), "valid": s.valid}
            row["quality"] = int(quality_from_mode_indicator(s.mode_indicator))
        case Gsa():
            row |= {"fix_type": s.fix_type or 0, "used": _codes(s.used)}
            row |= {"pdop": _f(s.pdop), "hdop": _f(s.hdop), "vdop": _f(s.vdop)}
        case Gsv():
            row["view"] = _codes(s.in_view)
        case Vtg():
            row |= {"course": _f(s.course_deg), "speed": _f(s.speed_mps)}
            row["motion_ok"] = s.mode_indicator[:1] != "N"
        case Zda():
            row["date"] = _day(s.date)
        case Gst():
            row["sigma"] = [_f(s.sigma_lat_m), _f(s.sigma_lon_m), _f(s.sigma_alt_m)]
    return row


def scanned(lines: Lines, i: int, names: list[str]) -> dict[str, object]:
    row: dict[str, object] = {}
    for name in names:
        if name in ("used", "view"):
            which = getattr(lines, f"{name}_line") == i
            row[name] = getattr(lines, f"{name}_code")[which].tolist()
        else:
            row[name] = getattr(lines, name)[i].tolist()
    return row


def same(a: object, b: object) -> bool:
    """Equal as numbers (NaN equal to NaN; True and 1 alike), element by element."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return x.shape == y.shape and bool(np.array_equal(x, y, equal_nan=True))


def assert_as_reference(buf: bytes) -> dict[int, int]:
    """Each line's scan against the reference; returns how many lines had each status."""
    lines = decode_lines(buf)
    for i in range(len(lines.start)):
        text = buf[lines.start[i] : lines.end[i]]
        status = int(lines.status[i])
        if status == DECLINED:
            continue
        outcomes = parse_line(text)
        assert len(outcomes) == 1, text
        outcome = outcomes[0]
        if status == REJECTED:
            assert isinstance(outcome, Rejection), text
            assert outcome.reason == REASONS[lines.reason[i]], text
        elif status == NEUTRAL:
            assert isinstance(outcome, Txt), text
        else:
            assert status == DECODED
            assert not isinstance(outcome, Rejection | Txt), (text, outcome)
            want = expected(outcome)
            got = scanned(lines, i, list(want))
            assert all(same(want[k], got[k]) for k in want), (text, want, got)
    return dict(enumerate(np.bincount(lines.status, minlength=4).tolist()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(edited_fields(), min_size=1, max_size=4), st.sampled_from([b"\n", b"\r\n"]))
def test_lines_with_edited_fields(streams: list[list[bytes]], ending: bytes) -> None:
    assert_as_reference(b"".join(line + ending for lines in streams for line in lines))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(device_lines(max_edits=40))
def test_damaged_lines(lines: list[bytes]) -> None:
    assert_as_reference(b"".join(line + b"\r\n" for line in lines))


# The recorded fixtures, and the gpsd project's receiver logs where this checkout has them.
LOGS = sorted((FIXTURES / "nmea").glob("*.nmea")) + sorted(GPSD_ANCHORS.glob("*.log"))


@pytest.mark.parametrize("path", LOGS, ids=lambda p: p.name)
def test_recorded_logs(path: Path) -> None:
    data = path.read_bytes()
    counts = assert_as_reference(data if data.endswith(b"\n") else data + b"\n")
    assert counts[DECODED] + counts[REJECTED] + counts[NEUTRAL] > 0


def test_every_tricky_value_in_every_field() -> None:
    """Each sentence layout of every receiver family, with each odd value in each field in
    turn: the scanner reads the values it takes exactly, and takes most of them."""
    layouts: dict[tuple[str, int], bytes] = {}
    for family in sorted(FAMILIES):
        for line in clean_lines(family, 0):
            if line.startswith(b"$") and b"*" in line:
                layouts.setdefault((line[1:6].decode(), line.count(b",")), line)
    clean = assert_as_reference(b"".join(line + b"\n" for line in layouts.values()))
    assert clean[DECODED] + clean[NEUTRAL] == len(layouts)  # clean lines: all read here
    edited = []
    for line in layouts.values():
        parts = line[1 : line.rindex(b"*")].decode().split(",")
        for at in range(1, len(parts)):
            for value in TRICKY_FIELDS:
                edited.append(framed(",".join([*parts[:at], value, *parts[at + 1 :]])))
    counts = assert_as_reference(b"".join(line + b"\n" for line in edited))
    assert counts[DECODED] > counts[DECLINED] > 0
    assert counts[REJECTED] == 0  # well framed, known types: only the fields are odd
