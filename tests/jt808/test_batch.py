"""The batch reader of location bodies against the reference decoder and ``location_fix``:
the same verdict for every body, good or broken, and the same fix for every good one."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gnss.jt808.batch import VERDICTS, location_table, read_locations
from gnss.jt808.layout import BodyError
from gnss.jt808.location import LOCATION, Location
from partymap.ingest.terminal_fixes import location_fix
from tests.jt808.strategies import locations

# Bodies as terminals send them, and the same bodies damaged: cut short, a byte changed (BCD
# digits, months and days out of range, coordinates past the poles), or garbage appended.
good_bodies = locations.map(LOCATION.write)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    body = draw(good_bodies)
    damage = draw(st.sampled_from(["none", "cut", "byte", "tail", "time", "place"]))
    if damage == "time" and len(body) >= 28:
        # A date with one part at or past its bounds (month 0 or 13, day 29-32 of any month,
        # hour 24, minute or second 60), or a nibble that is not a digit.
        parts = [draw(st.integers(0, 99)), draw(st.integers(1, 12)), draw(st.integers(1, 28))]
        parts += [draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))]
        at = draw(st.integers(0, 5))
        edges = {1: [0, 12, 13], 2: [0, 29, 30, 31, 32], 3: [23, 24], 4: [59, 60], 5: [59, 60]}
        parts[at] = draw(st.sampled_from(edges.get(at, [0, 99])))
        time = bytearray((v // 10) << 4 | v % 10 for v in parts)
        if draw(st.integers(0, 9)) == 0:
            time[draw(st.integers(0, 5))] |= 0xA0
        return body[:22] + bytes(time) + body[28:]
    if damage == "place" and len(body) >= 28:
        lat = draw(st.integers(89_999_990, 90_000_010)).to_bytes(4, "big")
        lon = draw(st.integers(179_999_990, 180_000_010)).to_bytes(4, "big")
        return body[:8] + lat + lon + body[16:]
    if damage == "cut":
        return body[: draw(st.integers(0, len(body)))]
    if damage == "byte":
        at = draw(st.integers(0, len(body) - 1))
        return body[:at] + bytes((draw(st.integers(0, 255)),)) + body[at + 1 :]
    if damage == "tail":
        return body + draw(st.binary(max_size=12))
    return body


def reference(body: bytes) -> Location | str:
    try:
        return LOCATION.read(body, 0)[0]
    except BodyError as error:
        return error.reason.value


@settings(max_examples=400, deadline=None)
@given(st.lists(bodies(), min_size=1, max_size=20), st.sampled_from([8 * 3600, 0, -5 * 3600]))
def test_batch_reads_every_body_as_the_reference_does(batch: list[bytes], offset_s: int) -> None:
    buf = b"".join(batch)
    lengths = np.array([len(b) for b in batch], dtype=np.int64)
    start = np.cumsum(lengths) - lengths
    cols = read_locations(buf, start, start + lengths)
    expected = [reference(body) for body in batch]
    got = [VERDICTS[v].value if v else "ok" for v in cols.verdict.tolist()]
    assert got == [e if isinstance(e, str) else "ok" for e in expected]

    accepted = [i for i, e in enumerate(expected) if not isinstance(e, str)]
    n = len(accepted)
    table = location_table(
        cols,
        np.array(accepted, dtype=np.int64),
        utc_offset_s=np.full(n, offset_s),
        accuracy_m=np.full(n, 7.5),
        received_s=np.full(n, 1_800_000_000.25),
    )
    fixes = []
    for i in accepted:
        loc = expected[i]
        assert isinstance(loc, Location)
        fix = location_fix(dataclasses.replace(loc, utc_offset_s=offset_s), accuracy_m=7.5)
        if fix is not None:
            fixes.append(fix)
    got_fixes = [dataclasses.replace(f, received_at=None) for f in table.fixes()]
    assert got_fixes == fixes
    assert np.all(table.received_s == 1_800_000_000.25)
