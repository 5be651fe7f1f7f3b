"""The decoder in a child process answers as the one in this process, and fails loudly."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from gnss.epoch.batch import BatchDecoder
from gnss.epoch.process import DecoderProcess, DecoderProcessError
from gnss.model import RawChunk
from tests.conftest import FIXTURES

from .streams import interleaved
from .test_differential import assert_same_columns


@pytest.fixture(scope="module")
def child() -> Iterator[DecoderProcess]:
    """One child for every example (one each would cost a start-up each)."""
    with DecoderProcess() as decoder:
        yield decoder


def same_answers(batches: list[list[RawChunk]], child: DecoderProcess, here: BatchDecoder) -> None:
    """Batch by batch, the child's answers are ``here``'s; then each device's last fixes."""
    for batch in batches:
        want, got = here.decode_table(batch), child.decode_table(batch)
        assert child.device_ids == here.device_ids
        assert np.array_equal(got.devices, want.devices)
        assert np.array_equal(got.counts, want.counts)
        assert_same_columns(got.table, want.table)
        for device_id in {c.device_id for c in batch}:
            assert child.code(device_id) == here.code(device_id)
            assert child.open_lines(device_id) == here.open_lines(device_id)
    for device_id in dict.fromkeys(c.device_id for b in batches for c in b):
        assert child.flush(device_id) == here.flush(device_id)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=interleaved())
def test_the_child_answers_as_the_decoder_here(
    batches: list[list[RawChunk]], child: DecoderProcess
) -> None:
    # The child outlives the examples: each example's devices get names of their own, and the
    # decoder here first sees the devices before them, so that codes agree.
    here = BatchDecoder()
    here.decode_table([RawChunk(device_id, b"", 0.0) for device_id in child.device_ids])
    run = len(child.device_ids)
    renamed = [
        [RawChunk(f"{c.device_id}#{run}", c.data, c.received_at) for c in b] for b in batches
    ]
    same_answers(renamed, child, here)


@pytest.mark.parametrize("log", ["unicore-um980.nmea", "broken.nmea"])
def test_a_recorded_log_in_batches_gives_the_same_fixes_and_flush(log: str) -> None:
    lines = (FIXTURES / "nmea" / log).read_bytes().splitlines(keepends=True)
    batches = [
        [RawChunk(f"rx-{d}", b"".join(lines[k : k + 37 + d]), 1.7e9 + k) for d in range(3)]
        for k in range(0, len(lines), 37)
    ]
    with DecoderProcess() as child:
        same_answers(batches, child, BatchDecoder())


def test_an_error_in_the_child_is_raised_here_with_its_traceback() -> None:
    with DecoderProcess() as child:
        with pytest.raises(KeyError) as raised:
            child.flush("never-seen")
        assert any("in the decoder process" in note for note in raised.value.__notes__)
        # And the child goes on answering.
        batch = child.decode_table([RawChunk("a", b"$GPZDA,120000,01,05,2026,,*49\r\n", 0.0)])
        assert batch.devices.tolist() == [0] and child.device_ids == ["a"]


def test_a_killed_child_fails_the_next_call_and_ctrl_c_does_not_reach_it() -> None:
    with DecoderProcess() as child:
        child.decode_table([])  # started and answering
        os.kill(child.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the process group
        os.kill(child.pid, signal.SIGTERM)
        time.sleep(0.2)
        assert child.decode_table([]).devices.tolist() == []
        os.kill(child.pid, signal.SIGKILL)
        with pytest.raises(DecoderProcessError, match="exit code -9"):
            child.decode_table([RawChunk("a", b"$GPZDA,120000,01,05,2026,,*49\r\n", 0.0)])


def test_the_child_ends_when_its_parent_lets_go() -> None:
    child = DecoderProcess()
    child.decode_table([])
    pid = child.pid
    child.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
