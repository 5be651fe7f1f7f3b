"""``partymap gnss fixes LOG [--jsonl]`` (DESIGN §7)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from gnss.logs.export import FIELDS
from partymap.cli import app
from tests.conftest import FIXTURES

LOG = FIXTURES / "nmea" / "ublox-f9p.nmea"


def test_jsonl_prints_one_object_per_fix_and_the_summary_on_stderr() -> None:
    result = CliRunner().invoke(app, ["gnss", "fixes", str(LOG), "--jsonl"])
    assert result.exit_code == 0, result.output
    assert result.stdout == LOG.with_suffix(".jsonl").read_text()
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert objects and all(tuple(o) == FIELDS for o in objects)
    assert result.stderr == LOG.with_suffix(".summary").read_text()


def test_the_reference_path_prints_the_same() -> None:
    fast = CliRunner().invoke(app, ["gnss", "fixes", str(LOG), "--jsonl"])
    reference = CliRunner().invoke(app, ["gnss", "fixes", str(LOG), "--jsonl", "--reference"])
    assert fast.stdout == reference.stdout and fast.stderr == reference.stderr


def test_without_jsonl_a_table_for_people() -> None:
    result = CliRunner().invoke(app, ["gnss", "fixes", str(LOG)])
    assert result.exit_code == 0
    assert "ublox-f9p.nmea" in result.stdout and "used BDS/all" in result.stdout
    assert "2026-07-01 00:00:00.000" in result.stdout  # the UTC date changed during the walk
    assert result.stderr.startswith("lines: ")


def test_a_missing_log_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["gnss", "fixes", str(FIXTURES / "nmea" / "nope.nmea")])
    assert result.exit_code == 2
