"""Hypothesis strategies for NMEA streams: real-looking lines, damaged, chunked, interleaved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

from hypothesis import strategies as st

from gnss.model import RawChunk
from gnss.simulate import FAMILIES, TrackPoint, simulate


@cache
def clean_lines(family: str, seed: int) -> tuple[bytes, ...]:
    """40 epochs of a family's output for a short walk (with a no-fix stretch)."""
    start = datetime(2026, 6, 30, 23, 59, 40, tzinfo=UTC)  # crosses midnight
    track = [
        TrackPoint(
            start + timedelta(seconds=k), 30.59 + k * 1e-5, 114.30 - k * 2e-5, fix=not 20 <= k < 24
        )
        for k in range(40)
    ]
    return tuple(simulate(track, family, seed=seed))


def _mutate(line: bytes, kind: int, at: int, byte: int) -> list[bytes]:
    """One edit of a line; may return zero, one or two lines."""
    at %= max(len(line), 1)
    if kind == 0:  # change a byte
        return [line[:at] + bytes([byte]) + line[at + 1 :]]
    if kind == 1:  # drop the rest (a cut)
        return [line[:at]]
    if kind == 2:  # insert a byte
        return [line[:at] + bytes([byte]) + line[at:]]
    if kind == 3:  # lose the line
        return []
    if kind == 4:  # split in two
        return [line[:at], line[at:]]
    if kind == 5:  # said twice
        return [line, line]
    return [b"$" + line]


@st.composite
def device_lines(draw: st.DrawFn, *, max_edits: int = 12) -> list[bytes]:
    """Lines of one device: a stretch of a family's output with a few random edits."""
    family = draw(st.sampled_from(sorted(FAMILIES)))
    lines = list(clean_lines(family, draw(st.integers(0, 2))))
    first = draw(st.integers(0, len(lines) // 2))
    lines = lines[first : first + draw(st.integers(1, len(lines)))]
    edits = draw(
        st.lists(
            st.tuples(
                st.integers(0, 10_000), st.integers(0, 6), st.integers(0, 200), st.integers(0, 255)
            ),
            max_size=max_edits,
        )
    )
    for where, kind, at, byte in sorted(edits, reverse=True):
        if not lines:
            break
        index = where % len(lines)
        lines[index : index + 1] = _mutate(lines[index], kind, at, byte)
    return lines


@st.composite
def chunked(draw: st.DrawFn, lines: list[bytes], device_id: str) -> list[RawChunk]:
    """The lines cut into chunks of complete lines (CRLF or LF), arriving one second apart."""
    chunks = []
    k = 0
    clock = 1_782_863_980.0  # 2026-06-30 23:59:40 UTC
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    while k < len(lines):
        n = draw(st.integers(1, 40))
        chunks.append(
            RawChunk(device_id, b"".join(line + ending for line in lines[k : k + n]), clock)
        )
        k += n
        clock += draw(st.sampled_from([0.0, 0.05, 1.0]))
    return chunks


@st.composite
def interleaved(draw: st.DrawFn, devices: int = 3) -> list[list[RawChunk]]:
    """Batches of chunks from several devices, each device's chunks in order."""
    queues = [
        draw(chunked(draw(device_lines()), f"dev-{d}"))
        for d in range(draw(st.integers(1, devices)))
    ]
    order = [d for d, queue in enumerate(queues) for _ in queue]
    order = draw(st.permutations(order))
    stream = [queues[d].pop(0) for d in order]
    batches = []
    k = 0
    while k < len(stream):
        n = draw(st.integers(1, 12))
        batches.append(stream[k : k + n])
        k += n
    return batches
