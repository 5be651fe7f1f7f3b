"""Hypothesis strategies for NMEA streams: real-looking lines, damaged, chunked, interleaved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

from hypothesis import strategies as st

from devkit.simulate import FAMILIES, TrackPoint, simulate
from gnss.model import RawChunk


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


# Field values at the edges of what the fast path reads itself: signs, dots, widths, ranges.
TRICKY_FIELDS = (
    "", "-", "+", ".", "1.2.3", "0", "00", "000", "0000", "1234567890", "-0", "+.5", "12.", ".5",
    "99.0", "99.9", "98.99", "-12.5", "1.23456789012345", "1.234567890123456", "12345678901234567",
    "235959.999999999", "240000", "235960", "120000.", "120000.1", "12000", "1200000",
    "-4552.65", "4552", "452.5", "45.5", "9000.00", "9000.01", "18000.0", "18000.00001",
    "8959.99999999999", "17959.9999", "290226", "290224", "311399", "010180", "311279",
    "A", "V", "D", "N", "R", "E", "W", "S", "NN", "SX", "EW", "WW", "AA", "x", "1", "3", "4",
    "6", "7", "F", "10", "a",
    "33", "65", "120", "193", "201", "301", "401", "999", "2026", "13", "31", "1e5", " 1",
)  # fmt: skip
# Numbers Python reads but no column holds, and spellings of numbers NMEA does not have: every
# numeric field of every sentence meets them (DESIGN §2: a counted ``bad_field``, never a raise).
EXTREME_NUMBERS = (
    "9" * 40, "-" + "9" * 40, "290299", "32767", "32768", "65536", "2147483648",
    "9223372036854775808", "18446744073709551616", "0" * 40 + "7", "1" + "0" * 30 + ".5",
    "9" * 20 + "." + "9" * 20, "1e5", "1E-3", "2e308", "-1e400", "nan", "NaN", "-nan", "inf",
    "-inf", "Infinity", "-0", "-0.0", "+0", "-.0", "0x10", "1_000",
)  # fmt: skip
_ODD_VALUES = TRICKY_FIELDS + EXTREME_NUMBERS
SENTENCE_TAGS = (
    "GPGGA", "GNRMC", "GNGNS", "GPGLL", "GNVTG", "GNZDA", "GPGST", "GNGSA", "BDGSA", "GIGSA",
    "GPGSV", "GBGSV", "PQGSV", "GAGSV", "GLGSV", "QZGSV", "GNTXT", "gpgga", "GPgga", "PXGSA",
    "GPXYZ", "GPGSVX",
)  # fmt: skip


def _nudged(field: str) -> st.SearchStrategy[str]:
    """The field with one character changed, doubled, dropped or added, or cut short."""
    at = st.integers(0, len(field))
    char = st.sampled_from("0159.-+ANx")
    return st.one_of(
        st.tuples(at, char).map(lambda a: field[: a[0]] + a[1] + field[a[0] + 1 :]),
        st.tuples(at, char).map(lambda a: field[: a[0]] + a[1] + field[a[0] :]),
        at.map(lambda k: field[:k] + field[k + 1 :]),
        at.map(lambda k: field[:k] + field[k:][:1] + field[k:]),
        at.map(lambda k: field[:k]),
    )


def layouts() -> dict[tuple[str, int], bytes]:
    """One clean line of each sentence layout (type and field count) of every family."""
    found: dict[tuple[str, int], bytes] = {}
    for family in sorted(FAMILIES):
        for line in clean_lines(family, 0):
            if line.startswith(b"$") and b"*" in line:
                found.setdefault((line[1:6].decode(), line.count(b",")), line)
    return found


def with_field(line: bytes, at: int, value: str) -> bytes:
    """The framed line with data field ``at`` (1: the first after the tag) replaced."""
    parts = line[1 : line.rindex(b"*")].decode("latin-1").split(",")
    return framed(",".join([*parts[:at], value, *parts[at + 1 :]]))


def framed(body: str) -> bytes:
    """``$body*hh`` with the right checksum."""
    text = body.encode("latin-1")
    check = 0
    for byte in text:
        check ^= byte
    return b"$%s*%02X" % (text, check)


@st.composite
def edited_fields(draw: st.DrawFn) -> list[bytes]:
    """Lines of one device with fields replaced, added or removed, and still a valid checksum:
    damage that reaches the field readers instead of stopping at the frame."""
    family = draw(st.sampled_from(sorted(FAMILIES)))
    sentences = [
        line for line in clean_lines(family, draw(st.integers(0, 2))) if line.startswith(b"$")
    ]
    first = draw(st.integers(0, len(sentences) // 2))
    lines = sentences[first : first + draw(st.integers(1, 60))]
    # Few edited lines: the columns hand a device's stream to the reference parser from its
    # first line they decline, so an edit after that one would only test the reference.
    for k in draw(st.lists(st.integers(0, len(lines) - 1), min_size=1, max_size=3)):
        parts = lines[k][1 : lines[k].rindex(b"*")].decode("latin-1").split(",")
        for _ in range(draw(st.integers(1, 3))):
            edit = draw(st.integers(0, 3))
            if edit == 0 and len(parts) > 1:
                # Fields near the front (times, positions) more often: every sentence reads them.
                last = len(parts) - 1
                at = draw(st.integers(1, min(last, 4)) | st.integers(1, last))
                parts[at] = draw(st.sampled_from(_ODD_VALUES) | _nudged(parts[at]))
            elif edit == 1:
                parts.append(draw(st.sampled_from(_ODD_VALUES)))
            elif edit == 2 and len(parts) > 2:
                del parts[draw(st.integers(1, len(parts) - 1))]
            else:
                parts[0] = draw(st.sampled_from(SENTENCE_TAGS))
        lines[k] = framed(",".join(parts))
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
