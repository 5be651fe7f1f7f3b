"""The receiver simulator: every family talks valid NMEA, damage is real damage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devkit.simulate import FAMILIES, TrackPoint, damage, family, simulate, walk, with_checksums
from gnss.nmea.parser import parse_line
from gnss.nmea.sentences import Rejection

START = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def test_a_walk_has_one_point_per_interval_at_the_given_speed() -> None:
    track = walk(START, [(30.5, 114.3), (30.5009, 114.3)], speed_mps=2.0, interval_s=5.0)
    assert len(track) == 11 and track[-1].time == datetime(2026, 5, 1, 8, 0, 50, tzinfo=UTC)
    assert (track[-1].lat, track[-1].lon) == (30.5009, 114.3)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_talks_valid_nmea(name: str) -> None:
    lines = list(simulate(walk(START, [(30.5, 114.3), (30.5002, 114.3)]), name))
    outcomes = [o for line in lines for o in parse_line(line)]
    wrong = [o for o in outcomes if isinstance(o, Rejection) and o.reason.value != "binary"]
    assert outcomes and not wrong


def test_indoors_the_receiver_keeps_talking_without_a_fix() -> None:
    lines = list(
        simulate([TrackPoint(START, 30.5, 114.3, fix=False)], family("casic", cold_start=0))
    )
    assert any(line.startswith(b"$GNGGA,080000.000,,,,,0,") for line in lines)


def test_checksums() -> None:
    assert with_checksums(["GPZDA,120000,01,05,2026,,"]) == [b"$GPZDA,120000,01,05,2026,,*49"]


def test_damage_hurts_some_lines_and_is_repeatable() -> None:
    lines = list(simulate(walk(START, [(30.5, 114.3), (30.501, 114.3)]), "ublox-f9p"))
    hurt = damage(lines, seed=3, every=5)
    assert hurt == damage(lines, seed=3, every=5) and hurt != lines
    intact = set(lines)
    assert 0.5 * len(lines) < sum(line in intact for line in hurt) < len(lines)
