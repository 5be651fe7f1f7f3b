"""The shape of the packages: every module says what it is for, each stage is a folder, and the
modules whose docstrings carry examples keep them (pytest's ``--doctest-modules`` runs them all,
see ``pyproject.toml``)."""

from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["gnss", "geo", "store", "maps", "api", "partymap", "devkit"]
# Modules whose docstrings hold examples; --doctest-modules runs them, this keeps them there.
WITH_EXAMPLES = [
    "api.app",
    "api.auth",
    "api.encode",
    "api.exports",
    "api.formats",
    "api.geojson",
    "api.ingest",
    "api.principal",
    "api.schemas.common",
    "api.xlsx",
    "devkit.families",
    "devkit.jt808",
    "devkit.receivers",
    "devkit.simulate",
    "devkit.sky",
    "gnss.epoch.accuracy",
    "gnss.epoch.assemble",
    "gnss.epoch.batch",
    "gnss.epoch.decoder",
    "gnss.epoch.rules",
    "gnss.jit",
    "gnss.jt808.codec",
    "gnss.jt808.framing",
    "gnss.jt808.header",
    "gnss.jt808.layout",
    "gnss.jt808.location",
    "gnss.jt808.messages",
    "gnss.jt808.reasons",
    "gnss.jt808.session",
    "gnss.logs.export",
    "gnss.logs.reader",
    "gnss.logs.splice",
    "gnss.nmea.fields",
    "gnss.nmea.handlers",
    "gnss.nmea.lines",
    "gnss.nmea.parser",
    "gnss.nmea.scan",
    "gnss.nmea.scan_fields",
    "gnss.nmea.sentences",
    "maps.aggregate",
    "maps.cache",
    "maps.labels",
    "maps.overview",
    "maps.page",
    "maps.snapshot",
    "maps.vendoring",
    "partymap.chromium",
    "partymap.demo.logs",
    "partymap.ingest.batching",
    "partymap.ingest.intake",
    "partymap.ingest.metrics",
    "partymap.ingest.offsets",
    "partymap.ingest.sources",
    "partymap.ingest.stages.handoff",
    "partymap.seed",
    "store.db",
    "store.fix_rows",
    "store.live",
    "store.meetings",
    "store.orgs",
    "store.positions",
    "store.query",
    "store.types",
]


def modules() -> list[Path]:
    return sorted(
        p
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
        if "migrations" not in p.parts or p.parent.name != "versions"
    )


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_says_what_it_is_for(path: Path) -> None:
    assert ast.get_docstring(ast.parse(path.read_text())), f"{path} has no docstring"


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_the_examples_are_still_there(name: str) -> None:
    tests = doctest.DocTestFinder().find(importlib.import_module(name))
    assert sum(len(t.examples) for t in tests) > 0


def test_the_doctests_run_with_the_tests() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert "--doctest-modules" in text
    assert all(f'"{pkg}"' in text.split("testpaths")[1].split("]")[0] for pkg in PACKAGES)


@pytest.mark.parametrize("package", ["gnss", "geo"])
def test_a_stage_is_a_folder(package: str) -> None:
    """A handful of entries per package, one folder per stage (STYLE §16)."""
    entries = [p for p in (ROOT / package).iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 10, sorted(p.name for p in entries)


def test_no_module_is_named_after_a_speed() -> None:
    named = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "fast" in p.stem]
    assert named == []


def test_development_tools_are_not_shipped() -> None:
    include = (ROOT / "pyproject.toml").read_text().split("[tool.setuptools.packages.find]")[1]
    assert "devkit" not in include.split("[")[0]


def test_no_class_name_is_defined_twice() -> None:
    """One name, one meaning: a reader who meets ``Rejection`` knows which one it is."""
    where: dict[str, list[str]] = {}
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                where.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}
