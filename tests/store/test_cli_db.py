"""``partymap db upgrade|current|purge`` on a real database of each kind."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from partymap.cli import app
from store.migrations import head_revision
from tests.store.conftest import ScratchDatabases


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("PARTYMAP_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return CliRunner()


def test_upgrade_creates_the_embedded_database(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"schema empty -> {head_revision()}" in result.output
    assert (tmp_path / "xdg" / "partymap" / "partymap.sqlite").exists()
    again = runner.invoke(app, ["db", "current"])
    assert f"current: {head_revision()}" in again.output
    purged = runner.invoke(app, ["db", "purge", "--days", "30"])
    assert purged.exit_code == 0 and "purged 0 positions" in purged.output
    kept = runner.invoke(app, ["db", "purge", "--days", "0"])
    assert "kept forever" in kept.output


def test_a_missing_spatialite_is_one_clear_line(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SPATIALITE_LIBRARY_PATH", str(tmp_path / "absent"))
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 1
    assert "apt-get install libsqlite3-mod-spatialite" in result.output
    assert "Traceback" not in result.output


@pytest.mark.postgis
def test_upgrade_a_postgis_database(runner: CliRunner, scratch_postgis: ScratchDatabases) -> None:
    url = scratch_postgis.create()
    result = runner.invoke(app, ["db", "upgrade", "--url", url])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["db", "current", "--url", url]).output.startswith(
        f"current: {head_revision()}"
    )
