"""The recorded logs in fixtures/nmea: golden outputs on both paths, and the truth they encode.

Each log has a gpsd-style header (receiver, notes) and two goldens written by
``fixtures/nmea/generate.py``: ``*.jsonl`` (what ``partymap gnss fixes --jsonl`` prints) and
``*.summary`` (its stderr). Every clean log is also checked against the walk it was simulated
from: times, positions to the printed precision, the satellites used and in view.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from devkit.simulate import FAMILIES
from devkit.sky import Sky
from gnss.logs.export import fix_jsonl
from gnss.logs.reader import decode_log, header, read_log
from gnss.model import Constellation, FixMode
from gnss.nmea.fields import SYSTEM_IDS
from tests.conftest import FIXTURES

LOGS = sorted((FIXTURES / "nmea").glob("*.nmea"))
FAMILY_KINDS = {"casic", "ublox", "unicore", "quectel", "rtk", "broken"}


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "fixtures_generate", FIXTURES / "nmea" / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


RECIPES = _generator().RECIPES


def test_the_receiver_families_are_all_there() -> None:
    names = {path.stem for path in LOGS}
    assert len(names) >= 6
    assert all(any(name.startswith(kind) for name in names) for kind in FAMILY_KINDS)


@pytest.mark.parametrize("path", LOGS, ids=lambda p: p.stem)
def test_every_log_says_what_receiver_it_is(path: Path) -> None:
    fields = header(path.read_bytes())
    assert fields.get("receiver") and fields.get("notes")


@pytest.mark.parametrize("fast", [False, True], ids=["reference", "fast"])
@pytest.mark.parametrize("path", LOGS, ids=lambda p: p.stem)
def test_golden_output(path: Path, fast: bool) -> None:
    decoded = decode_log(read_log(path), fast=fast)
    assert (
        "".join(fix_jsonl(f) + "\n" for f in decoded.fixes)
        == path.with_suffix(".jsonl").read_text()
    )
    assert decoded.counts.summary() + "\n" == path.with_suffix(".summary").read_text()


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_clean_logs_decode_to_their_track(name: str) -> None:
    recipe = RECIPES[name]
    family = FAMILIES[recipe.family]
    track = recipe.track()
    decoded = decode_log(read_log(FIXTURES / "nmea" / f"{name}.nmea"))
    noise = decoded.counts.rejected["comment"] + decoded.counts.rejected["binary"]
    assert decoded.counts.rejected_total == noise  # headers, and binary protocol (CASIC)
    assert decoded.counts.untimed_epochs == family.cold_start
    fixes = decoded.fixes
    assert len(fixes) == len(track) - family.cold_start
    sky = Sky(recipe.seed)
    for point, fix in zip(track[family.cold_start :], fixes, strict=True):
        assert fix.time == point.time
        if not point.fix:
            assert fix.mode is FixMode.NO_FIX and fix.lat is None
            continue
        assert fix.lat == pytest.approx(point.lat, abs=1e-6)
        assert fix.lon == pytest.approx(point.lon, abs=1e-6)
        assert fix.alt_m == point.alt_m and fix.mode is FixMode.THREE_D
        sats = sky.at((point.time - track[0].time).total_seconds(), fix=True)
        systems = [s for s in sats if s in (family.signals or {Constellation.BEIDOU: ()})]
        used = {s: sum(sat.used for sat in sats[s]) for s in systems}
        if not family.gsa_system_id:  # one GSA, at most 12 numbers
            used = {s: min(n, 12) for s, n in used.items()}
        assert dict(fix.sats_used_by_system) == {s: n for s, n in used.items() if n}
        assert dict(fix.sats_in_view_by_system) == {s: len(sats[s]) for s in systems}
        assert all(s in SYSTEM_IDS.values() for s in fix.sats_used_by_system)
