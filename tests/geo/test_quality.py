"""Quality rules one by one, every reason kept, the replay guard, and batch == reference."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.model import QualityThresholds
from geo.quality.batch import (
    DeviceTable,
    check_quality_batch,
    liveness,
    position_hashes,
    reason_names,
)
from geo.quality.replay_guard import ReplayGuard
from geo.quality.rules import (
    RULE_NAMES,
    DeviceTrack,
    check_quality,
    counts_as_liveness,
    meets_site_thresholds,
)
from gnss.fixtable import FixTable, raw_hash
from gnss.model import FixQuality
from tests.geo.helpers import at, fix, slices

WUHAN = (114.2655, 30.6190)
NOW = at(1000)
LAST = DeviceTrack(time_s=at(100).timestamp(), lat=WUHAN[1], lon=WUHAN[0])


DEFAULT = QualityThresholds()


def reasons_of(f, state=LAST, thresholds=DEFAULT, replayed=False):  # type: ignore[no-untyped-def]
    return check_quality(f, state, thresholds, NOW, replayed=replayed)[0]


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (fix(110, *WUHAN), ()),
        (fix(110, None, None), ("no_fix", "too_few_sats", "hdop_too_high")),
        (fix(110, *WUHAN, quality=FixQuality.ESTIMATED), ("no_fix",)),
        (fix(110, *WUHAN, sats=3, beidou=2), ("too_few_sats",)),
        (fix(110, *WUHAN, hdop=5.5), ("hdop_too_high",)),
        # Sent without HDOP (a JT/T 808 terminal, a phone): judged by the accuracy given.
        (replace(fix(110, *WUHAN), hdop=None), ()),
        (replace(fix(110, *WUHAN), hdop=None, accuracy_m=None), ("hdop_too_high",)),
        (fix(90, *WUHAN), ("stale",)),
        (fix(100, *WUHAN), ("duplicate",)),
        (fix(110, WUHAN[0] + 0.01, WUHAN[1]), ("impossible_speed",)),  # 958 m in 10 s
        (fix(1031, *WUHAN), ("future",)),
        (
            fix(90, WUHAN[0] + 0.01, WUHAN[1], sats=2, beidou=1, hdop=9.0),
            ("too_few_sats", "hdop_too_high", "stale"),
        ),
    ],
)
def test_each_rule_and_every_reason_kept(f, expected) -> None:  # type: ignore[no-untyped-def]
    assert reasons_of(f) == expected


def test_the_state_moves_only_on_accepted_fixes() -> None:
    good = fix(110, *WUHAN)
    reasons, state = check_quality(good, LAST, QualityThresholds(), NOW)
    assert reasons == () and state == DeviceTrack(good.time.timestamp(), WUHAN[1], WUHAN[0])
    reasons, after = check_quality(fix(105, *WUHAN), state, QualityThresholds(), NOW)
    assert reasons == ("stale",) and after is state


def test_thresholds_are_per_device_and_per_site() -> None:
    strict = QualityThresholds(min_sats=10, max_hdop=1.0, max_speed_mps=5.0, max_future_s=0.0)
    f = fix(110, WUHAN[0] + 0.0007, WUHAN[1], sats=8, hdop=1.5)  # 67 m in 10 s
    assert reasons_of(f) == ()
    assert reasons_of(f, thresholds=strict) == ("too_few_sats", "hdop_too_high", "impossible_speed")
    assert meets_site_thresholds(8, 1.5, QualityThresholds())
    assert not meets_site_thresholds(8, 1.5, QualityThresholds(min_sats=9))
    assert not meets_site_thresholds(None, 1.5, QualityThresholds())
    # Without HDOP, the accuracy the source gave decides (a JT/T 808 terminal's default).
    assert meets_site_thresholds(8, None, QualityThresholds(), accuracy_m=10.0)
    assert not meets_site_thresholds(8, None, QualityThresholds())


def test_untrustworthy_times_are_no_sign_of_life() -> None:
    assert counts_as_liveness(("no_fix", "too_few_sats", "hdop_too_high", "impossible_speed"))
    for name in ("stale", "duplicate", "future"):
        assert not counts_as_liveness(("no_fix", name))
    masks = np.array(
        [0, 1, 1 << RULE_NAMES.index("future"), 1 << RULE_NAMES.index("stale")], np.uint16
    )
    assert liveness(masks).tolist() == [True, True, False, False]


def test_replayed_position_sentences_from_another_device() -> None:
    guard = ReplayGuard(window_s=600)
    gga = raw_hash("$GNGGA,080000.00,3037.140,N,11415.930,E,1,12,0.8,20.0,M,-10.0,M,,*5A")
    assert guard.check(np.array([gga]), np.array([1]), np.array([0.0])).tolist() == [False]
    # The same device again is not a replay (the duplicate rule sees it); another device is.
    assert guard.check(np.array([gga, gga]), np.array([1, 2]), np.array([1.0, 1.0])).tolist() == [
        False,
        True,
    ]
    assert guard.check(np.array([0, 0]), np.array([1, 2]), np.array([2.0, 2.0])).tolist() == [
        False,
        False,
    ]
    # Outside the window the first sender is forgotten.
    assert guard.check(np.array([gga]), np.array([3]), np.array([700.0])).tolist() == [False]
    assert reasons_of(fix(110, *WUHAN), replayed=True) == ("replayed",)


def test_the_replay_guard_stays_bounded() -> None:
    guard = ReplayGuard(window_s=10)
    for k in range(200):
        guard.check(
            np.arange(k * 50 + 1, k * 50 + 51), np.zeros(50, np.int64), np.full(50, float(k))
        )
    # Two windows' worth plus the chunks not yet compacted, not all 10,000.
    assert len(guard) <= 50 * (2 * 10 + 33)


def test_the_replay_guard_agrees_with_a_dict_through_growth_and_expiry() -> None:
    """Many batches (tables growing, generations dropped and reused) against the rule written
    as a dict: each sentence's first sender, forgotten ``window`` seconds after its receipt."""
    rng = np.random.default_rng(3)
    window, guard, first = 10.0, ReplayGuard(window_s=10.0), {}
    sent: list[int] = []
    registered: list[float] = []  # receipt times of the sentences remembered
    replays = 0
    for k in range(120):
        n = int(rng.integers(2000, 2400))
        fresh = rng.integers(1, 2**62, n)
        # About one in ten is a sentence sent before: within the window or long ago.
        again = rng.random(n) < 0.1
        if sent:
            fresh[again] = rng.choice(np.array(sent[-40_000:]), int(again.sum()))
        devices = rng.integers(0, 50, n)
        now = k * 0.5
        got = guard.check(fresh, devices, np.full(n, now)).tolist()
        expected = []
        for h, d in zip(fresh.tolist(), devices.tolist(), strict=True):
            seen = first.get(h)
            if seen is not None and seen[1] >= now - window:
                expected.append(seen[0] != d)
            else:
                first[h] = (d, now)
                registered.append(now)
                expected.append(False)
        assert got == expected, k
        replays += sum(expected)
        sent += fresh.tolist()
    assert replays > 1000  # the comparison saw replays, not only new sentences
    # It remembers what the rule needs and forgets, a generation (half a window) at a time,
    # what is older than two windows and a half.
    remembered = np.array(registered)
    assert (
        (remembered >= now - window).sum() <= len(guard) <= (remembered >= now - 3 * window).sum()
    )


@settings(max_examples=120, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(0, 3),  # device
            st.sampled_from([-30, -1, 0, 1, 5, 10, 40]),  # time step
            st.floats(-0.002, 0.002),  # position jitter (degrees)
            st.sampled_from([0, 1, 2, 4, 6]),  # GGA quality
            st.integers(0, 12),  # satellites used
            st.sampled_from([0.6, 1.2, 4.9, 5.0, 5.1, 20.0, None]),  # HDOP (None: not sent)
            st.sampled_from([3.0, None]),  # accuracy (m)
            st.sampled_from([None, 0.0, 25.0, 40.0]),  # received − time (s)
            st.integers(0, 4),  # raw sentence id (shared ids across devices are replays)
        ),
        max_size=60,
    ),
    batches=st.lists(st.integers(1, 20), max_size=4),
)
def test_batch_quality_equals_the_reference(steps, batches) -> None:  # type: ignore[no-untyped-def]
    clock = {d: 0.0 for d in range(4)}
    fixes, devices = [], []
    for device, dt, jitter, quality, sats, hdop, accuracy, skew, raw in steps:
        clock[device] += dt
        t = clock[device]
        fixes.append(
            fix(
                t,
                WUHAN[0] + jitter,
                WUHAN[1] - jitter,
                quality=FixQuality(quality),
                sats=sats,
                beidou=min(sats, 4),
                hdop=hdop,
                accuracy_m=accuracy,
                received_s=None if skew is None else t - skew,
                raw=f"$GNGGA,{raw}",
            )
        )
        devices.append(device)
    thresholds = QualityThresholds(min_sats=5)
    now = at(0)
    # Longer than these devices' clocks can ever disagree (60 steps of −30…+40 s): the guard
    # forgets a sentence once sentences received two windows later arrive.
    window = 7200.0
    guard, states, expected = ReplayGuard(window), {}, []
    for f, d in zip(fixes, devices, strict=True):
        received = (f.received_at or now).timestamp()
        replayed = guard.check(
            np.array([raw_hash(f.raw_position)]), np.array([d]), np.array([received])
        )
        reasons, states[d] = check_quality(
            f, states.get(d, DeviceTrack()), thresholds, now, replayed=bool(replayed[0])
        )
        expected.append(reasons)
    guard, table, got = ReplayGuard(window), DeviceTable.empty(), []
    for lo, hi in slices(len(fixes), batches):
        part = FixTable.from_fixes(fixes[lo:hi], np.array(devices[lo:hi], np.int64))
        received = np.where(np.isnan(part.received_s), now.timestamp(), part.received_s)
        replayed = guard.check(position_hashes(part), part.device, received)
        table = table.with_devices(part.device, thresholds)
        mask, table = check_quality_batch(part, table, now.timestamp(), replayed)
        got += [reason_names(m) for m in mask]
    assert got == expected
    for d, state in states.items():
        row = table.rows(np.array([d]))[0]
        assert (table.time_s[row], table.lat[row], table.lon[row]) == pytest.approx(
            (state.time_s, state.lat, state.lon), nan_ok=True
        )


def test_unknown_devices_are_a_configuration_error() -> None:
    fixes = FixTable.from_fixes([fix(0, *WUHAN)], np.array([9]))
    with pytest.raises(KeyError, match="unknown device"):
        check_quality_batch(fixes, DeviceTable.empty(), 0.0, np.zeros(1, bool))
