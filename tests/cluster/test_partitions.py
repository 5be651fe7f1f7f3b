"""The pieces of the cluster that need no process of their own: the message format, the
assignment of partitions, and fencing in the store (a worker that lost its partition stores
nothing more)."""

from __future__ import annotations

import doctest
import importlib
import struct
from typing import Any

import pytest
from sqlalchemy.orm import Session

from partymap.cluster.stream import decode_chunks, encode_chunks
from partymap.cluster.worker import assignment
from store.db import make_engine
from store.partitions import (
    FencedError,
    commit_partition,
    commit_partitions,
    partition_states,
    take_over,
)


@pytest.mark.parametrize("name", ["partymap.cluster.stream", "partymap.cluster.worker"])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert (result.attempted > 0, result.failed) == (True, 0)


def test_a_message_that_is_not_partymaps_is_no_chunk() -> None:
    payload = encode_chunks([("tcp", "dev-1", 1.0, b"$GPGGA*00\n")])
    assert decode_chunks(payload[:-3]) == []
    assert decode_chunks(payload + b"x") == []
    assert decode_chunks(payload[:12]) == []
    assert decode_chunks(b"garbage") == []


def test_a_message_keeps_its_chunks_in_order_with_shared_names() -> None:
    chunks = [
        ("tcp", f"dev-{k % 7}", 1000.0 + k / 8, b"$GPGGA,%d*00\r\n" % k * (k % 3))
        for k in range(500)
    ]
    chunks.append(("mqtt", "dev-1", 2000.0, b"$GPRMC*00\n"))
    assert decode_chunks(encode_chunks(chunks)) == chunks
    assert decode_chunks(encode_chunks([])) == []


def test_messages_of_the_first_format_are_still_read() -> None:
    head = struct.Struct("<BHdI")
    chunks = [("tcp", "dev-1", 1.5, b"$GPGGA,1*00\r\n"), ("http", "dev-2", 2.0, b"$X*00\n")]
    rows = b"".join(
        head.pack(len(lb), len(uid), t, len(data)) + lb.encode() + uid.encode() + data
        for lb, uid, t, data in chunks
    )
    assert decode_chunks(rows) == chunks


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


@pytest.mark.postgis
def test_partitions_commit_together_or_not_at_all(cluster_databases: Any) -> None:
    engine = make_engine(cluster_databases.create())
    try:
        with Session(engine) as session:
            one = take_over(session, partition=1, owner="w1")
            two = take_over(session, partition=2, owner="w1")
            session.commit()
            commit_partitions(
                session, {1: (one.generation, 7, {"a": 7 << 24}), 2: (two.generation, 9, {})}
            )
            session.commit()
            take_over(session, partition=2, owner="w2")
            session.commit()
        with Session(engine) as session, pytest.raises(FencedError):
            commit_partitions(
                session, {1: (one.generation, 8, {"a": 8 << 24}), 2: (two.generation, 10, {})}
            )
        with Session(engine) as session:
            states = {s.partition: (s.seq, s.resume) for s in partition_states(session)}
        assert states == {1: (7, {"a": 7 << 24}), 2: (9, {})}
    finally:
        engine.dispose()
