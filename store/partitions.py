"""Partitions of the raw stream (several machines): leases, fencing, and stored positions.

A worker takes a partition over with :func:`take_over`: the partition's generation grows by one
and the worker learns how far the partition is stored. Each of its transactions then ends with
:func:`commit_partition`, which records the newest stream sequence the transaction's rows cover
and the devices' resume positions, but only while the generation is still the one it took over
with; otherwise :class:`FencedError` rolls the whole transaction back, so a worker that lost
its partition (paused, cut off from the database and declared dead) stores nothing twice.

The lease itself is a PostgreSQL advisory lock held on the worker's own connection: it ends when
that connection does (a worker killed or cut off), which is what lets another take over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from store.errors import StoreError

# The advisory-lock namespace of partition leases: pg_try_advisory_lock(LOCK_SPACE, partition).
LOCK_SPACE = 0x504D  # "PM"
# A resume position packs the stream sequence and the byte within that message's data.
BYTE_BITS = 24


class FencedError(StoreError):
    """The partition was taken over by another worker since this one took it."""


@dataclass(frozen=True, slots=True)
class PartitionState:
    partition: int
    generation: int
    seq: int  # newest stream sequence stored (0: nothing yet)
    resume: dict[str, int]  # device uid → first position not stored

    @property
    def start_seq(self) -> int:
        """Where to read from so that every device resumes at its first unstored byte."""
        firsts = [position >> BYTE_BITS for position in self.resume.values()]
        return min([self.seq + 1, *firsts])


def try_lease(connection: Connection, partition: int) -> bool:
    """Take the partition's lease on ``connection`` (autocommit), if nobody holds it."""
    return bool(
        connection.scalar(
            text("SELECT pg_try_advisory_lock(:space, :p)"), {"space": LOCK_SPACE, "p": partition}
        )
    )


def release_lease(connection: Connection, partition: int) -> None:
    connection.execute(
        text("SELECT pg_advisory_unlock(:space, :p)"), {"space": LOCK_SPACE, "p": partition}
    )


def take_over(session: Session, *, partition: int, owner: str) -> PartitionState:
    """A new generation of ``partition`` for ``owner``, and how far it is stored (the caller
    commits; it must hold the partition's lease)."""
    row = session.execute(
        text(
            "INSERT INTO stream_partitions AS p (partition, generation, owner, seq, resume, "
            "updated_at) VALUES (:p, 1, :owner, 0, '{}', now()) "
            "ON CONFLICT (partition) DO UPDATE SET generation = p.generation + 1, "
            "owner = :owner, updated_at = now() RETURNING generation, seq, resume"
        ),
        {"p": partition, "owner": owner},
    ).one()
    resume = row.resume if isinstance(row.resume, dict) else json.loads(row.resume)
    return PartitionState(partition, row.generation, row.seq, dict(resume))


def commit_partition(
    session: Session, *, partition: int, generation: int, seq: int, resume: dict[str, int]
) -> None:
    """Record that ``partition`` is stored up to ``seq`` (with the devices' resume positions
    that moved), in the caller's transaction; :class:`FencedError` if it changed hands."""
    done = session.execute(
        text(
            "UPDATE stream_partitions SET seq = GREATEST(seq, :seq), "
            "resume = resume || CAST(:resume AS jsonb), updated_at = now() "
            "WHERE partition = :p AND generation = :g"
        ),
        {"p": partition, "g": generation, "seq": seq, "resume": json.dumps(resume)},
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise FencedError(f"partition {partition} is no longer at generation {generation}")


def commit_partitions(
    session: Session, commits: dict[int, tuple[int, int, dict[str, int]]]
) -> None:
    """:func:`commit_partition` for several partitions (partition → (generation, seq,
    resume)) in one statement; :class:`FencedError` if any of them changed hands."""
    if not commits:
        return
    ps = sorted(commits)
    done = session.execute(
        text(
            "UPDATE stream_partitions AS p SET seq = GREATEST(p.seq, c.seq), "
            "resume = p.resume || c.resume, updated_at = now() "
            "FROM (SELECT unnest(CAST(:ps AS int[])) AS partition, "
            "unnest(CAST(:gs AS bigint[])) AS generation, unnest(CAST(:seqs AS bigint[])) AS seq, "
            "unnest(CAST(:resumes AS jsonb[])) AS resume) AS c "
            "WHERE p.partition = c.partition AND p.generation = c.generation"
        ),
        {
            "ps": ps,
            "gs": [commits[q][0] for q in ps],
            "seqs": [commits[q][1] for q in ps],
            "resumes": [json.dumps(commits[q][2]) for q in ps],
        },
    )
    if done.rowcount != len(ps):  # type: ignore[attr-defined]
        raise FencedError(f"one of partitions {ps} changed hands")


def partition_states(session: Session) -> list[PartitionState]:
    """Every partition's stored state (for health and tests)."""
    rows = session.execute(
        text("SELECT partition, generation, seq, resume FROM stream_partitions ORDER BY 1")
    )
    return [
        PartitionState(
            r.partition,
            r.generation,
            r.seq,
            dict(r.resume if isinstance(r.resume, dict) else json.loads(r.resume)),
        )
        for r in rows
    ]
