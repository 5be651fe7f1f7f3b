"""The command line with bad input: one ``error: …`` line and exit code 2, never a traceback;
commands that read data refuse a database that is not there, and all of them take ``--url``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from partymap.cli import app
from tests.conftest import ROOT

PARTYMAP = str(Path(sys.executable).with_name("partymap"))  # the installed command


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    for name in ("PARTYMAP_DATABASE_URL", "PARTYMAP_ENVIRONMENT", "PARTYMAP_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return CliRunner()


def _files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "notsites.csv").write_text("a,b\n1,2\n")
    with zipfile.ZipFile(tmp_path / "zeros.zip", "w") as archive:
        for suffix in ("shp", "dbf", "shx"):
            archive.writestr(f"sites.{suffix}", b"\0" * 200)
    ring = [[114.0, 30.0], [114.01, 30.0], [114.01, 30.01], [114.0, 30.01]]  # never closed
    (tmp_path / "open.geojson").write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                        "properties": {"id": 7, "org_id": 1, "name": "x", "tz": "Asia/Shanghai"},
                    }
                ],
            }
        )
    )
    return {p.name: p for p in tmp_path.iterdir() if p.is_file()}


BAD = {
    "a CSV given as sites": (["import", "sites", "{notsites.csv}"], "notsites.csv"),
    "a zero-filled Shapefile": (["import", "sites", "{zeros.zip}"], "zeros.zip"),
    "an unclosed ring": (["import", "sites", "{open.geojson}"], "feature 1 (id 7)"),
    "no such file": (["import", "orgs", "missing.csv"], "does not exist"),
    "a meeting that does not exist": (["report", "attendance", "--meeting", "99"], "meeting 99"),
    "an unknown format": (["report", "attendance", "--format", "pdf"], "csv, xlsx, json"),
    "an unknown role": (["user", "add", "li", "--role", "king", "--password", "x" * 9], "role"),
    "an unknown command": (["imports", "orgs"], "No such command"),
    "an unregistered device": (["replay", "{notsites.csv}", "--device", "nobody"], "nobody"),
}


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a user whose embedded database exists (made by `partymap db
    upgrade` in a process of its own, as a user would)."""
    home = tmp_path_factory.mktemp("cli-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTYMAP_")}
    env["XDG_DATA_HOME"] = str(home / "xdg")
    made = subprocess.run(
        [PARTYMAP, "db", "upgrade"], env=env, cwd=home, capture_output=True, text=True, check=False
    )
    assert made.returncode == 0, made.stderr
    return env


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_exit_code_2(
    case: str, embedded: dict[str, str], tmp_path: Path
) -> None:
    """regression: `partymap import sites notsites.csv` ended in a traceback."""
    files = _files(tmp_path)
    args, words = BAD[case]
    argv = [str(files[a[1:-1]]) if a.startswith("{") else a for a in args]
    result = subprocess.run(
        [PARTYMAP, *argv], env=embedded, cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2, result.stderr
    # replay and serve log their progress (INFO lines) before they refuse
    lines = [line for line in result.stderr.strip().splitlines() if " INFO " not in line]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert words in lines[0]
    assert "Traceback" not in result.stderr and embedded["XDG_DATA_HOME"] not in lines[0]


def test_a_weak_secret_is_one_clear_line_at_start(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARTYMAP_ENVIRONMENT", "production")
    monkeypatch.setenv("PARTYMAP_SECRET_KEY", "hunter2-hunter2")
    result = runner.invoke(app, ["serve", "--no-tcp"])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: PARTYMAP_SECRET_KEY") and "secrets.token_urlsafe" in line
    assert "hunter2" not in result.output  # the value itself is never echoed


@pytest.mark.parametrize(
    "args",
    [
        ["map", "--out", "map.html"],
        ["report", "attendance"],
        ["db", "current"],
        ["db", "purge", "--days", "30"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_readers_refuse_a_database_that_is_not_there(
    args: list[str], runner: CliRunner, tmp_path: Path
) -> None:
    """regression: `partymap map` made a new empty database and wrote an empty map."""
    expected = tmp_path / "xdg" / "partymap" / "partymap.sqlite"
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"no database at {expected}" in result.stderr and "--url" in result.stderr
    assert not expected.exists() and not (tmp_path / "map.html").exists()
    elsewhere = tmp_path / "other.sqlite"
    given = runner.invoke(app, [*args, "--url", f"sqlite:///{elsewhere}"])
    assert given.exit_code == 2 and f"no database at {elsewhere}" in given.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["map"],
        ["serve"],
        ["replay"],
        ["report", "attendance"],
        ["import", "sites"],
        ["user", "add"],
        ["db", "current"],
    ],
    ids=" ".join,
)
def test_every_command_that_reads_data_takes_url(command: list[str], runner: CliRunner) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "--url" in result.output


def test_the_bootstrap_installs_a_chinese_font_for_the_browser() -> None:
    """The map's Chinese labels render in the browser tests and screenshots only with a CJK
    font on the machine: the test bootstrap installs one."""
    text = (ROOT / "scripts" / "bootstrap").read_text()
    test_packages = next(line for line in text.splitlines() if "packages+=(" in line)
    assert "fonts-noto-cjk" in test_packages or "fonts-wqy-microhei" in test_packages
