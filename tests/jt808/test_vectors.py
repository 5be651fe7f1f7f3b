"""Conformance: published JT/T 808 frames (the standard's example and other open
implementations' test suites) decode to the values their sources state.

``vectors.json`` holds each frame as hex with its source and the expected values; ``fields``
name attributes by dotted path (``locations.0.lat``; ``locations.#`` is a length). Byte values
are given as ``{"ascii": …}`` or ``{"hex": …}``, times in ISO 8601, enums by value. A vector
marked ``reencode`` must also come out of :func:`gnss.jt808.codec.encode` byte for byte.
"""

from __future__ import annotations

import enum
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gnss.jt808.codec import Reader, decode, encode
from gnss.jt808.framing import escape, unescape
from gnss.jt808.location import LOCATION
from gnss.jt808.reasons import FrameRejection

VECTORS = json.loads((Path(__file__).parent / "vectors.json").read_text(encoding="utf-8"))


def resolve(value: object, path: str) -> Any:
    for part in path.split("."):
        if part == "#":
            value = len(value)  # type: ignore[arg-type]
        elif part.isdigit():
            value = value[int(part)]  # type: ignore[index]
        else:
            value = getattr(value, part)
    return value


def normalise(actual: Any) -> Any:
    """Decoded values in the vocabulary of the JSON file."""
    if isinstance(actual, enum.Enum):
        return actual.value
    if isinstance(actual, datetime):
        return actual.isoformat()
    if isinstance(actual, frozenset):
        return sorted(normalise(item) for item in actual)
    if isinstance(actual, tuple):
        return [normalise(item) for item in actual]
    if isinstance(actual, bytes):
        return actual.hex()
    return actual


def check_fields(decoded: object, fields: dict[str, Any]) -> None:
    for path, expected in fields.items():
        actual = resolve(decoded, path)
        if isinstance(expected, dict):
            text = expected.get("ascii")
            raw = text.encode() if text is not None else bytes.fromhex(expected["hex"])
            assert actual == raw, path
        elif isinstance(expected, float):
            assert actual == pytest.approx(expected, abs=1e-9), path
        else:
            assert normalise(actual) == expected, path


def test_the_file_notes_a_source_for_every_vector() -> None:
    every = VECTORS["escapes"] + VECTORS["locations"] + VECTORS["frames"]
    assert len(every) >= 50
    assert all(v["source"] and v["id"] for v in every)
    assert len({v["id"] for v in every}) == len(every)


@pytest.mark.parametrize("vector", VECTORS["escapes"], ids=lambda v: v["id"])
def test_escape_examples(vector: dict[str, str]) -> None:
    raw, escaped = bytes.fromhex(vector["raw"]), bytes.fromhex(vector["escaped"])
    assert escape(raw) == escaped
    assert unescape(escaped) == raw


@pytest.mark.parametrize("vector", VECTORS["locations"], ids=lambda v: v["id"])
def test_location_bodies(vector: dict[str, Any]) -> None:
    body = bytes.fromhex(vector["body"])
    location, used = LOCATION.read(body, 0)
    assert used == len(body)
    check_fields(location, vector["fields"])


@pytest.mark.parametrize("vector", VECTORS["frames"], ids=lambda v: v["id"])
def test_frames(vector: dict[str, Any]) -> None:
    frame = bytes.fromhex(vector["frame"])
    if vector.get("stream"):
        reader = Reader()
        outcomes = reader.feed(frame) + reader.flush()
        assert len(outcomes) == 1
        decoded = outcomes[0]
    else:
        decoded = decode(frame)
    if "rejection" in vector:
        assert isinstance(decoded, FrameRejection), decoded
        assert decoded.reason.value == vector["rejection"], decoded.detail
    else:
        assert not isinstance(decoded, FrameRejection), decoded
        assert type(decoded).__name__ == vector["message"]
    check_fields(decoded, vector.get("fields", {}))
    if vector.get("reencode"):
        assert not isinstance(decoded, FrameRejection)
        assert encode(decoded) == frame


@pytest.mark.parametrize("vector", VECTORS["frames"], ids=lambda v: v["id"])
def test_frames_read_from_a_stream_byte_by_byte(vector: dict[str, Any]) -> None:
    """The same outcome when the frame arrives one byte per read, after some noise."""
    frame = bytes.fromhex(vector["frame"])
    whole, dribbled = Reader(), Reader()
    expected = whole.feed(b"\x7e" + frame) + whole.flush()
    got = [item for byte in b"\x7e" + frame for item in dribbled.feed(bytes((byte,)))]
    assert got + dribbled.flush() == expected
