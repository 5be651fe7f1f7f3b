"""Conformance with gpsd over 77 real receivers (../shared/anchors/gpsd, see its README).

For every epoch in which gpsd reported a fix (a run of TPV reports with one time and mode 2 or
3; the last of them is the most complete), partymap must report a fix with the same time of day
(gpsd moves some old logs' dates by 1024 weeks), a position within 1e-6° of one gpsd reported
in that epoch (gpsd overwrites the position with every position sentence), the same mode and
the same altitude above mean sea level. At least 99 % of epochs must agree, no position may
differ, and every other difference is listed below with its reason.

Satellites used per constellation are compared with gpsd's SKY reports: gpsd marks a satellite
used when it is in view with a signal and in its list from GSA, and reports when a GSV run ends —
with the GSA of that cycle or of the one before — so an epoch agrees when gpsd's used set equals
partymap's (restricted to what gpsd lists with a signal) for that epoch or a neighbour.

The fast path is replayed over every log as well and must give the reference's fixes and counts.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

from gnss.epoch.rules import DeviceState, Item, flush, push, summarize
from gnss.logs.reader import decode_log, read_log
from gnss.model import Constellation, Fix, RawChunk
from gnss.nmea.parser import parse, pieces, split_lines
from gnss.nmea.sentences import Gsa
from tests.conftest import GPSD_ANCHORS

from .test_differential import assert_same

LOGS = sorted(GPSD_ANCHORS.glob("*.log"))
GNSSID = {
    0: Constellation.GPS,
    1: Constellation.SBAS,
    2: Constellation.GALILEO,
    3: Constellation.BEIDOU,
    5: Constellation.QZSS,
    6: Constellation.GLONASS,
    7: Constellation.NAVIC,
}

_PGRMZ = "gpsd takes the altitude of GLL-only epochs from Garmin's proprietary $PGRMZ (feet)"
# (log, time of day) → why partymap's fix differs from gpsd's.
ACCEPTED_FIX_DIFFERENCES = {
    ("garmin25lp.log", "12:03:26.000"): "GGA says 0 satellites but gives an altitude, GSA lists "
    "3 satellites in 2D: gpsd keeps GSA's 2D, partymap makes the altitude and satellites 3D",
    **{
        ("garmin48.log", t): _PGRMZ
        for t in (
            "22:53:09.000",
            "22:53:11.000",
            "22:53:13.000",
            "22:53:15.000",
            "22:53:17.000",
            "22:53:33.000",
            "22:53:35.000",
        )
    },
    **{("tn204.log", t): _PGRMZ for t in ("23:01:51.000", "23:01:53.000", "23:01:55.000")},
}
# (log, time of day, or "*" for every epoch) → why the satellites used differ from gpsd's SKY.
ACCEPTED_SKY_DIFFERENCES = {
    ("ericsson-gru04-02-70sec.log", "*"): "the receiver sends no GSA: gpsd takes the satellites "
    "used from Ericsson's proprietary $PERC sentences, which partymap does not read",
    ("quectel.log", "02:20:38.000"): "the fix is lost in this cycle; gpsd's report comes after "
    "the next, untimed cycle's empty GSA",
    ("rx210.log", "18:41:14.000"): "GSA only every fifth cycle: gpsd carries the last list of "
    "satellites used forward, partymap reports each epoch's own",
    ("ublox-lea-5h.log", "08:37:35.000"): "two captures are spliced here: gpsd's report mixes "
    "the satellites of both",
}


def time_of_day(iso: str) -> str:
    return iso[11:23]


@dataclass
class GpsdEpoch:
    tod: str
    tpvs: list[dict[str, object]] = field(default_factory=list)
    sky: dict[str, object] | None = None  # the last SKY with satellites before the next epoch

    @property
    def fixes(self) -> list[dict[str, object]]:
        return [t for t in self.tpvs if int(str(t.get("mode", 0))) >= 2 and "lat" in t]


@cache
def gpsd_epochs(log: Path) -> list[GpsdEpoch]:
    epochs: list[GpsdEpoch] = []
    for line in Path(f"{log}.chk").read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            report = json.loads(line)
        except json.JSONDecodeError:
            continue
        if report.get("class") == "TPV" and "time" in report:
            tod = time_of_day(report["time"])
            if not epochs or epochs[-1].tod != tod:
                epochs.append(GpsdEpoch(tod))
            epochs[-1].tpvs.append(report)
        elif report.get("class") == "SKY" and "satellites" in report and epochs:
            epochs[-1].sky = report
    return [e for e in epochs if e.fixes]


@dataclass(frozen=True)
class Ours:
    fix: Fix
    used: frozenset[tuple[Constellation, int]]


@cache
def our_epochs(log: Path) -> list[Ours]:
    """Every fix of the log with the satellites used behind its counts (reference path)."""
    state, out = DeviceState(), []

    def closed(items: list[Item]) -> None:
        result = summarize(state.memory, items)
        if isinstance(result, Fix):
            used = frozenset(
                s for i in items if isinstance(i.sentence, Gsa) for s in i.sentence.used
            )
            out.append(Ours(result, used))

    for line in split_lines(read_log(log)):
        for piece in pieces(line):
            for items in push(state, parse(piece), piece, None):
                closed(items)
    for items in flush(state):
        closed(items)
    return out


def pairs(log: Path) -> Iterator[tuple[GpsdEpoch, int | None]]:
    """gpsd's fix epochs with the index of our fix of the same time of day (k-th with k-th)."""
    ours = our_epochs(log)
    by_tod: dict[str, list[int]] = defaultdict(list)
    for index, entry in enumerate(ours):
        if entry.fix.lat is not None:
            by_tod[time_of_day(entry.fix.time.isoformat(timespec="milliseconds"))].append(index)
    seen: Counter[str] = Counter()
    for epoch in gpsd_epochs(log):
        k = seen[epoch.tod]
        seen[epoch.tod] += 1
        found = by_tod.get(epoch.tod, [])
        yield epoch, found[k] if k < len(found) else None


def fix_differences(log: Path) -> Iterator[tuple[str, str]]:
    ours = our_epochs(log)
    for epoch, index in pairs(log):
        if index is None:
            yield epoch.tod, "missing"
            continue
        fix, last = ours[index].fix, epoch.fixes[-1]
        assert fix.lat is not None and fix.lon is not None
        if not any(
            abs(fix.lat - float(str(t["lat"]))) <= 1e-6
            and abs(fix.lon - float(str(t["lon"]))) <= 1e-6
            for t in epoch.fixes
        ):
            yield epoch.tod, "position"
        if int(fix.mode) != last["mode"]:
            yield epoch.tod, "mode"
        gpsd_alt = last.get("altMSL")
        if (gpsd_alt is None) != (fix.alt_m is None) or (
            fix.alt_m is not None and abs(fix.alt_m - float(str(gpsd_alt))) > 1e-3
        ):
            yield epoch.tod, "altitude"


def test_fixes_agree_with_gpsd() -> None:
    total = agreeing = 0
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for log in LOGS:
        differences = defaultdict(set)
        for tod, what in fix_differences(log):
            differences[tod].add(what)
        total += len(gpsd_epochs(log))
        agreeing += len(gpsd_epochs(log)) - len(differences)
        for tod, what in differences.items():
            found[(log.name, tod)] |= what
    assert total > 1200
    assert not [k for k, what in found.items() if "position" in what], "position mismatches"
    assert set(found) == set(ACCEPTED_FIX_DIFFERENCES), "unlisted (or no longer seen) differences"
    assert agreeing / total >= 0.99


def test_satellites_used_agree_with_gpsd_sky() -> None:
    compared = 0
    differing = set()
    for log in LOGS:
        ours = our_epochs(log)
        for epoch, index in pairs(log):
            if index is None or epoch.sky is None:
                continue
            satellites = epoch.sky["satellites"]
            assert isinstance(satellites, list)
            listed = {
                (GNSSID.get(s["gnssid"]), s["svid"]) for s in satellites if s.get("ss", 0) > 0
            }
            used = {(GNSSID.get(s["gnssid"]), s["svid"]) for s in satellites if s.get("used")}
            compared += 1
            near = [
                ours[j].used & listed for j in (index - 1, index, index + 1) if 0 <= j < len(ours)
            ]
            fix = ours[index]
            assert sum(fix.fix.sats_used_by_system.values()) == len(fix.used)
            if used not in near:
                differing.add((log.name, epoch.tod))
    unexplained = {
        d
        for d in differing
        if d not in ACCEPTED_SKY_DIFFERENCES and (d[0], "*") not in ACCEPTED_SKY_DIFFERENCES
    }
    assert compared > 700
    assert not unexplained
    assert {k for k in ACCEPTED_SKY_DIFFERENCES if k[1] != "*"} <= differing


def test_beidou_receivers_report_beidou_satellites() -> None:
    names = [
        "beidou-bd",
        "beidou-gb",
        "quectel-eg25-g",
        "quectel-eg25-g-2",
        "skytraq-fixB",
        "skytraq-PX1172RH_DS",
        "ublox-f9p-hpnmea",
        "ublox-neo-m9n-nmea",
        "ublox-zed-f9p-nmea",
    ]
    for log in (GPSD_ANCHORS / f"{name}.log" for name in names):
        assert any(
            e.fix.beidou_used or e.fix.sats_in_view_by_system.get(Constellation.BEIDOU)
            for e in our_epochs(log)
        ), log.name


@pytest.mark.parametrize("log", LOGS, ids=lambda p: p.stem)
def test_fast_path_matches_the_reference(log: Path) -> None:
    data = read_log(log)
    lines = data.splitlines(keepends=True)
    assert_same([[RawChunk(log.stem, data, 0.0)]])
    assert_same(
        [
            [RawChunk(log.stem, b"".join(lines[k : k + 20]), float(k))]
            for k in range(0, len(lines), 20)
        ]
    )
    assert decode_log(data).fixes == decode_log(data, fast=False).fixes
