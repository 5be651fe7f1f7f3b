"""Two paths, one truth: the fast path's fixes, rejections and counts are the reference's.

Hypothesis builds streams from every receiver family with random damage, cuts them into chunks
and batches from several devices at once; every recorded fixture is replayed in several
chunkings. (The gpsd corpus logs are replayed the same way in test_conformance.py.)
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnss.epoch.batch import BatchDecoder
from gnss.epoch.decoder import Counts, Decoder
from gnss.fixtable import FixTable
from gnss.logs.reader import read_log
from gnss.model import Fix, RawChunk
from gnss.nmea.parser import parse_line
from gnss.nmea.sentences import Reason, Rejection
from tests.conftest import FIXTURES

from .streams import (
    EXTREME_NUMBERS,
    chunked,
    clean_lines,
    edited_fields,
    interleaved,
    layouts,
    with_field,
)


def reference(batches: list[list[RawChunk]]) -> dict[str, tuple[list[Fix], Counts]]:
    decoders: dict[str, Decoder] = {}
    fixes: dict[str, list[Fix]] = {}
    for batch in batches:
        for chunk in batch:
            decoder = decoders.setdefault(chunk.device_id, Decoder())
            fixes.setdefault(chunk.device_id, []).extend(decoder.feed_chunk(chunk))
    return {d: (fixes[d] + decoder.flush(), decoder.counts) for d, decoder in decoders.items()}


def fast(batches: list[list[RawChunk]]) -> dict[str, tuple[list[Fix], Counts]]:
    """The batches through the fast path: as ``Fix`` objects and as the columns the pipeline
    takes, batch and batch about (both continue the same devices' state)."""
    decoder = BatchDecoder()
    fixes: dict[str, list[Fix]] = {}
    for k, batch in enumerate(batches):
        if k % 2 == 0:
            for device, found in decoder.decode(batch).fixes.items():
                fixes.setdefault(device, []).extend(found)
            continue
        result = decoder.decode_table(batch)
        ids = [decoder.device_ids[code] for code in result.devices.tolist()]
        assert ids == list(dict.fromkeys(c.device_id for c in batch))  # first chunk first
        assert (np.diff(result.table.device) != 0).sum() < max(len(ids), 1)  # by device
        made = result.table.fixes()
        for device in ids:
            fixes.setdefault(device, [])
        for code, fix in zip(result.table.device.tolist(), made, strict=True):
            fixes[decoder.device_ids[code]].append(fix)
        assert_same_columns(FixTable.from_fixes(made, result.table.device), result.table)
    for device, found in decoder.flush().items():
        fixes.setdefault(device, []).extend(found)
    return {d: (fixes[d], decoder.totals[d]) for d in fixes}


def assert_same_columns(a: FixTable, b: FixTable) -> None:
    """Every column equal (NaN equal to NaN), the raw sentences' text too."""
    for f in fields(FixTable):
        if f.name not in ("text", "raw_start", "raw_end"):
            assert np.array_equal(getattr(a, f.name), getattr(b, f.name), equal_nan=True), f.name
    raws = [
        [t.text[s:e] for s, e in zip(t.raw_start.tolist(), t.raw_end.tolist(), strict=True)]
        for t in (a, b)
    ]
    assert raws[0] == raws[1]


def assert_same(batches: list[list[RawChunk]]) -> None:
    expected, got = reference(batches), fast(batches)
    assert got.keys() == expected.keys()
    for device, (fixes, counts) in expected.items():
        assert got[device][1] == counts, device
        assert got[device][0] == fixes, device


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(interleaved())
def test_generated_streams(batches: list[list[RawChunk]]) -> None:
    assert_same(batches)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_streams_with_edited_fields(data: st.DataObject) -> None:
    """Framed lines with odd field values, through the whole fast path (test_fastdecode.py
    compares the scanner with the reference line by line)."""
    assert_same([data.draw(chunked(data.draw(edited_fields()), "dev-0"))])


def chunkings(data: bytes, device: str) -> list[list[list[RawChunk]]]:
    """One batch; one line per batch; ~20 lines per chunk, 3 chunks per batch."""
    lines = data.splitlines(keepends=True)
    single = [[RawChunk(device, data, 0.0)]]
    per_line = [[RawChunk(device, line, float(k))] for k, line in enumerate(lines[:300])]
    chunks = [
        RawChunk(device, b"".join(lines[k : k + 20]), float(k)) for k in range(0, len(lines), 20)
    ]
    grouped = [chunks[k : k + 3] for k in range(0, len(chunks), 3)]
    return [single, per_line, grouped]


@pytest.mark.parametrize("path", sorted((FIXTURES / "nmea").glob("*.nmea")), ids=lambda p: p.stem)
def test_fixture_logs(path: Path) -> None:
    for batches in chunkings(read_log(path), path.stem):
        assert_same(batches)


@pytest.mark.parametrize("name", ["casic-at6558", "ublox-f9p", "unicore-um980", "rtk-rover"])
def test_the_columns_decode_clean_streams_themselves(name: str) -> None:
    """Otherwise the comparisons above would only compare the reference with itself."""
    decoder = BatchDecoder()
    for batch in chunkings(read_log(FIXTURES / "nmea" / f"{name}.nmea"), name)[2]:
        decoder.decode(batch)
    used = decoder.lines_by_path
    assert used["columns"] > 4 * used["reference"]


def test_devices_move_between_paths_mid_epoch() -> None:
    """An open epoch left by one path is finished by the other, in both directions."""
    data = read_log(FIXTURES / "nmea" / "broken.nmea")
    lines = data.splitlines(keepends=True)
    batches = [
        [
            RawChunk("a", b"".join(lines[k : k + 7]), float(k)),
            RawChunk("b", b"".join(lines[k + 3 : k + 11]), float(k)),
        ]
        for k in range(0, len(lines), 7)
    ]
    assert_same(batches)


def test_extreme_numbers_in_every_field_are_bad_fields_on_both_paths() -> None:
    """Huge integers, long digit runs, exponents, nan, inf and negative zero in each numeric
    field of each sentence layout, between clean epochs: neither path raises (the reference's
    fixes fit the columns too), both give the same fixes and counts, and every line is counted."""
    clean = layouts()
    context = [line for line in clean_lines("ublox-f9p", 0) if line.startswith(b"$")][:40]
    edited = [
        with_field(line, at, value)
        for line in clean.values()
        for at in range(1, line.count(b",") + 1)
        for value in EXTREME_NUMBERS
    ]
    for k in range(0, len(edited), 200):
        lines = context[:20] + edited[k : k + 200] + context[20:]
        batches = [[RawChunk("dev-0", b"".join(line + b"\n" for line in lines), 1.0)]]
        assert_same(batches)
        ((fixes, counts),) = reference(batches).values()
        FixTable.from_fixes(fixes, np.zeros(len(fixes), np.int64))
        assert counts.accepted + counts.rejected_total == counts.lines == len(lines)
    zda = with_field(clean["GNZDA", 6], 2, "9" * 40)
    (outcome,) = parse_line(zda)
    assert isinstance(outcome, Rejection) and outcome.reason is Reason.BAD_FIELD
    sats = with_field(clean["GNGGA", 14], 7, "290299")
    (outcome,) = parse_line(sats)
    assert isinstance(outcome, Rejection) and outcome.reason is Reason.BAD_FIELD
