"""The pieces of the cluster that need no process of their own: the message format, the
assignment of partitions, and fencing in the store (a worker that lost its partition stores
nothing more)."""

from __future__ import annotations

import doctest
import importlib
from typing import Any

import pytest
from sqlalchemy.orm import Session

from partymap.cluster.stream import decode_chunks, encode_chunks
from partymap.cluster.worker import assignment
from store.db import make_engine
from store.partitions import FencedError, commit_partition, partition_states, take_over


@pytest.mark.parametrize("name", ["partymap.cluster.stream", "partymap.cluster.worker"])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert (result.attempted > 0, result.failed) == (True, 0)


def test_a_message_that_is_not_partymaps_is_no_chunk() -> None:
    payload = encode_chunks([("tcp", "dev-1", 1.0, b"$GPGGA*00\n")])
    assert decode_chunks(payload[:-3]) == []
    assert decode_chunks(b"garbage") == []


def test_every_partition_has_one_worker_and_a_lost_worker_moves_only_its_own() -> None:
    before = assignment({"a", "b", "c"}, 32)
    after = assignment({"a", "b"}, 32)
    assert set(before.values()) == {"a", "b", "c"}
    assert {p: w for p, w in before.items() if w != "c"} == {
        p: w for p, w in after.items() if before[p] != "c"
    }


@pytest.mark.postgis
def test_a_fenced_worker_commits_nothing(cluster_databases: Any) -> None:
    engine = make_engine(cluster_databases.create())
    try:
        with Session(engine) as session:
            first = take_over(session, partition=3, owner="w1")
            session.commit()
            commit_partition(
                session, partition=3, generation=first.generation, seq=10, resume={"d": 5 << 24}
            )
            session.commit()
            second = take_over(session, partition=3, owner="w2")
            session.commit()
        assert (second.generation, second.seq, second.resume) == (2, 10, {"d": 5 << 24})
        assert second.start_seq == 5
        with Session(engine) as session, pytest.raises(FencedError):
            commit_partition(session, partition=3, generation=first.generation, seq=20, resume={})
        with Session(engine) as session:
            [state] = partition_states(session)
        assert (state.generation, state.seq) == (2, 10)
    finally:
        engine.dispose()
