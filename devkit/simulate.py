"""Simulated receivers: realistic multi-GNSS BeiDou NMEA for a track of (time, lat, lon) points.

Each receiver *family* reproduces the output of a class of real receivers — talkers, sentence
order, NMEA 4.10/4.11 fields, BeiDou numbering, banners, binary protocol, cold start — so the
demo can replay members walking into worksites and tests and benchmarks have realistic streams.
One track point is one epoch; a point with ``fix=False`` is a receiver indoors that keeps talking
without a fix.

>>> from datetime import datetime, UTC
>>> track = walk(datetime(2026, 5, 1, 8, 0, tzinfo=UTC), [(30.5, 114.3), (30.5005, 114.3)])
>>> lines = list(simulate(track[:1], "ublox-f9p"))
>>> lines[0]
b'$GNRMC,080000.00,A,3030.00000,N,11418.00000,E,0.000,,010526,,,A,V*11'
>>> len(track), sorted(FAMILIES)[:3]
(41, ['bd-only', 'casic', 'quectel-lc79d'])
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import pairwise

import numpy as np

from devkit.families import FAMILIES, Family, TrackPoint
from devkit.receivers import distance_m, epoch_bodies
from devkit.sky import Sky

__all__ = [
    "FAMILIES",
    "Family",
    "TrackPoint",
    "damage",
    "family",
    "log",
    "simulate",
    "walk",
    "with_checksums",
]


def walk(
    start: datetime,
    waypoints: Sequence[tuple[float, float]],
    *,
    speed_mps: float = 1.4,
    interval_s: float = 1.0,
    alt_m: float = 30.0,
) -> list[TrackPoint]:
    """A walk through ``waypoints`` (lat, lon) at a steady speed, one point per interval."""
    points = [TrackPoint(start, *waypoints[0], alt_m=alt_m)]
    time = start
    for (lat0, lon0), (lat1, lon1) in pairwise(waypoints):
        steps = max(1, round(distance_m(lat0, lon0, lat1, lon1) / (speed_mps * interval_s)))
        for k in range(1, steps + 1):
            time += timedelta(seconds=interval_s)
            f = k / steps
            points.append(
                TrackPoint(time, lat0 + f * (lat1 - lat0), lon0 + f * (lon1 - lon0), alt_m)
            )
    return points


def with_checksums(bodies: Sequence[str]) -> list[bytes]:
    """``$body*hh`` for many sentence bodies at once."""
    if not bodies:
        return []
    raw = [b.encode("ascii") for b in bodies]
    buf = np.frombuffer(b"".join(raw), dtype=np.uint8)
    starts = np.cumsum([0] + [len(r) for r in raw[:-1]])
    sums = np.bitwise_xor.reduceat(buf, starts).tolist()
    return [b"$%s*%02X" % (r, s) for r, s in zip(raw, sums, strict=True)]


def simulate(
    track: Sequence[TrackPoint], family: str | Family, *, seed: int = 0
) -> Iterator[bytes]:
    """The receiver's lines (no line endings), epoch after epoch."""
    spec = FAMILIES[family] if isinstance(family, str) else family
    sky = Sky(seed)
    rng = random.Random(seed)
    if not track:
        return
    start = track[0].time
    previous: TrackPoint | None = None
    for index, point in enumerate(track):
        seconds = (point.time - start).total_seconds()
        cold = index < spec.cold_start
        sats = sky.at(seconds, fix=point.fix and not cold)
        bodies = epoch_bodies(spec, point, previous, sats, index=index, cold=cold)
        yield from with_checksums(bodies)
        if spec.binary_every and index % spec.binary_every == spec.binary_every - 1:
            yield b"\xba\xce" + bytes(rng.randrange(256) for _ in range(rng.randint(12, 40)))
        previous = point


def damage(lines: Sequence[bytes], *, seed: int = 0, every: int = 9) -> list[bytes]:
    """Real-world damage, about one line in ``every``: wrong checksums, cut lines, glued
    sentences, ``$$`` starts, binary noise, blank lines, short and malformed sentences."""
    rng = random.Random(seed)
    out: list[bytes] = []
    for line in lines:
        hurt = rng.randrange(8) if rng.randrange(every) == 0 else -1
        if hurt == 0 and out:
            out[-1] += line  # glued to the line before: the line break was lost
        else:
            out.append(_hurt(hurt, line, rng))
    return out


def _hurt(hurt: int, line: bytes, rng: random.Random) -> bytes:
    if hurt == 1:  # one bit of the checksum off
        return line[:-1] + (b"0" if line[-1:] != b"0" else b"1")
    if hurt == 2:  # cut off
        return line[: rng.randint(5, max(6, len(line) - 4))]
    if hurt == 3:
        return b"$" + line
    if hurt == 4:  # binary protocol, then the sentence
        return bytes(rng.randrange(128, 256) for _ in range(6)) + line
    if hurt == 5:
        return b""
    if hurt == 6:  # a malformed field (the checksum is wrong too)
        return line.replace(b",", b",X", 1)
    if hurt == 7:  # too short
        return line[:6] + b"*00"
    return line


def log(track: Sequence[TrackPoint], family: str, *, seed: int = 0, notes: str = "") -> bytes:
    """A gpsd-format log: a ``#`` header (receiver, notes), then CRLF-terminated lines."""
    spec = FAMILIES[family]
    header = [f"# Receiver: {spec.receiver}", f"# Notes: {spec.notes}"]
    if notes:
        header.append(f"# {notes}")
    header.append("# Simulated by partymap (devkit.simulate) from a walked track.")
    body = list(simulate(track, spec, seed=seed))
    return "\n".join(header).encode() + b"\n" + b"".join(line + b"\r\n" for line in body)


def family(name: str, **changes: object) -> Family:
    """A variant of a family (e.g. ``family("casic", cold_start=0)``)."""
    return replace(FAMILIES[name], **changes)  # type: ignore[arg-type]
