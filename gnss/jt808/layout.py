"""Message layouts as data: one table of fields per message body, read by :func:`read` and
written by :func:`write`, so decoding and encoding cannot drift apart.

A field is a name and a codec: fixed-width integers (big-endian), BCD digits, fixed-length
text (GBK, padded with NUL bytes), and the kinds that run to the end of the body. A field whose
``count_of`` names a later list field is not a value of its own: it is read to know how many
items follow and written as the list's length.

>>> LAYOUT = (Field("id", U16), Field("n", U8, count_of="xs"), Field("xs", U16, repeat=True))
>>> read(LAYOUT, bytes.fromhex("0102020003ffff"))
{'id': 258, 'xs': (3, 65535)}
>>> write(LAYOUT, {"id": 258, "xs": (3, 65535)}).hex()
'0102020003ffff'

A body shorter than its layout raises :class:`BodyError` (``too_short``); a field that cannot
hold what it carries, or bytes left over after the last field, raise it with ``bad_field``. The
message decoder turns both into counted rejections; nothing else escapes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gnss.jt808.reasons import FrameReason

__all__ = [
    "I16",
    "REST",
    "REST_TEXT",
    "SHORT_BYTES",
    "U8",
    "U16",
    "U32",
    "BodyError",
    "Codec",
    "Field",
    "Layout",
    "bcd",
    "read",
    "sized",
    "text",
    "write",
]


class BodyError(Exception):
    """A body that does not fit its layout; carries the rejection reason."""

    def __init__(self, reason: FrameReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


Reader = Callable[[bytes, int], tuple[Any, int]]
Writer = Callable[[Any], bytes]


@dataclass(frozen=True, slots=True)
class Codec:
    """How one field is read at an offset (returning the value and the next offset) and
    written; ``name`` is for error messages."""

    name: str
    read: Reader
    write: Writer
    fmt: str = ""  # a fixed-width integer's struct code: runs of them are read in one call


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    codec: Codec
    count_of: str | None = None  # this integer counts the items of that (later) list field
    repeat: bool = False  # a list: as many items as an earlier ``count_of`` field says


Layout = tuple[Field, ...]


def _take(data: bytes, at: int, size: int, what: str) -> bytes:
    if at + size > len(data):
        detail = f"{what}: needs {size} bytes at {at}, body has {len(data)}"
        raise BodyError(FrameReason.TOO_SHORT, detail)
    return data[at : at + size]


def _integer(size: int, *, signed: bool = False) -> Codec:
    name = f"{'i' if signed else 'u'}{8 * size}"
    fmt = {1: "B", 2: "H", 4: "I"}[size]

    def read_int(data: bytes, at: int) -> tuple[int, int]:
        raw = _take(data, at, size, name)
        return int.from_bytes(raw, "big", signed=signed), at + size

    def write_int(value: int) -> bytes:
        return int(value).to_bytes(size, "big", signed=signed)

    return Codec(name, read_int, write_int, fmt.lower() if signed else fmt)


U8 = _integer(1)
U16 = _integer(2)
U32 = _integer(4)
I16 = _integer(2, signed=True)  # a WORD some terminals send as two's complement (altitude)


def bcd(size: int) -> Codec:
    """``size`` bytes of BCD as a string of ``2 * size`` digits (refused if not decimal)."""

    def read_bcd(data: bytes, at: int) -> tuple[str, int]:
        digits = _take(data, at, size, "bcd").hex()
        if not digits.isdigit():
            raise BodyError(FrameReason.BAD_FIELD, f"BCD {digits!r} has a non-decimal digit")
        return digits, at + size

    def write_bcd(value: str) -> bytes:
        return bytes.fromhex(value.rjust(2 * size, "0"))

    return Codec(f"bcd[{size}]", read_bcd, write_bcd)


def _gbk(raw: bytes) -> str:
    # Registration text (maker, model, plate) is informational: a terminal that sends bytes
    # GBK cannot decode still registers, with U+FFFD where the bytes were.
    return raw.decode("gbk", errors="replace")


def text(size: int) -> Codec:
    """Fixed-length GBK text; NUL padding (front or back, terminals differ) removed."""

    def read_text(data: bytes, at: int) -> tuple[str, int]:
        return _gbk(_take(data, at, size, f"text[{size}]").strip(b"\x00")), at + size

    def write_text(value: str) -> bytes:
        raw = value.encode("gbk")
        if len(raw) > size:
            raise ValueError(f"{value!r} is longer than {size} bytes")
        return raw.ljust(size, b"\x00")

    return Codec(f"text[{size}]", read_text, write_text)


def _read_rest(data: bytes, at: int) -> tuple[bytes, int]:
    return data[at:], len(data)


REST = Codec("rest", _read_rest, bytes)
# Text to the end of the body (a plate number): NUL padding removed, as for fixed text.
REST_TEXT = Codec(
    "rest_text",
    lambda data, at: (_gbk(data[at:].strip(b"\x00")), len(data)),
    lambda value: value.encode("gbk"),
)


def _read_short(data: bytes, at: int) -> tuple[bytes, int]:
    size = _take(data, at, 1, "length")[0]
    return _take(data, at + 1, size, "bytes"), at + 1 + size


def _write_short(value: bytes) -> bytes:
    if len(value) > 0xFF:
        raise ValueError(f"{len(value)} bytes do not fit a one-byte length")
    return bytes((len(value),)) + value


SHORT_BYTES = Codec("short_bytes", _read_short, _write_short)  # a length byte, then the bytes


def sized(item: Codec, length: Codec = U16) -> Codec:
    """``item`` preceded by its length in bytes; ``item`` reads exactly that many."""

    def read_sized(data: bytes, at: int) -> tuple[Any, int]:
        size, at = length.read(data, at)
        chunk = _take(data, at, size, f"sized {item.name}")
        value, used = item.read(chunk, 0)
        if used != size:
            raise BodyError(FrameReason.BAD_FIELD, f"{item.name} used {used} of its {size} bytes")
        return value, at + size

    def write_sized(value: Any) -> bytes:
        raw = item.write(value)
        return bytes(length.write(len(raw))) + raw

    return Codec(f"sized {item.name}", read_sized, write_sized)


@dataclass(frozen=True, slots=True)
class _Run:
    """Consecutive plain integer fields, read with one struct call (same values as reading
    them one by one, several times faster)."""

    names: tuple[str, ...]
    packed: struct.Struct


# Plans by the layout's identity: hashing a layout's fields costs more than reading them.
_PLANS: dict[int, tuple[Layout, tuple[_Run | Field, ...]]] = {}


def _plan(layout: Layout) -> tuple[_Run | Field, ...]:
    known = _PLANS.get(id(layout))
    if known is not None and known[0] is layout:
        return known[1]
    plan = _compile(layout)
    _PLANS[id(layout)] = (layout, plan)
    return plan


def _compile(layout: Layout) -> tuple[_Run | Field, ...]:
    plan: list[_Run | Field] = []
    run: list[Field] = []
    for field in (*layout, None):
        if field is not None and field.codec.fmt and not field.count_of and not field.repeat:
            run.append(field)
            continue
        if len(run) > 1:
            fmt = ">" + "".join(f.codec.fmt for f in run)
            plan.append(_Run(tuple(f.name for f in run), struct.Struct(fmt)))
        else:
            plan += run
        run = []
        if field is not None:
            plan.append(field)
    return tuple(plan)


def read(layout: Layout, data: bytes) -> dict[str, Any]:
    """The values of a body's fields by name (counts of lists are not values)."""
    values: dict[str, Any] = {}
    counts: dict[str, int] = {}
    at = 0
    for field in _plan(layout):
        if isinstance(field, _Run):
            size = field.packed.size
            if at + size > len(data):
                detail = f"{field.names[0]}…: needs {size} bytes at {at}, body has {len(data)}"
                raise BodyError(FrameReason.TOO_SHORT, detail)
            values.update(zip(field.names, field.packed.unpack_from(data, at), strict=True))
            at += size
            continue
        if field.repeat:
            items = []
            for _ in range(counts.get(field.name, 0)):
                item, at = field.codec.read(data, at)
                items.append(item)
            values[field.name] = tuple(items)
            continue
        value, at = field.codec.read(data, at)
        if field.count_of is not None:
            counts[field.count_of] = value
        else:
            values[field.name] = value
    if at != len(data):
        raise BodyError(FrameReason.BAD_FIELD, f"{len(data) - at} bytes after the last field")
    return values


def write(layout: Layout, values: Mapping[str, Any]) -> bytes:
    """The body for ``values`` (a dataclass's fields, say); counts come from the lists."""
    parts = []
    for field in layout:
        if field.count_of is not None:
            parts.append(field.codec.write(len(values[field.count_of])))
        elif field.repeat:
            parts += [field.codec.write(item) for item in values[field.name]]
        else:
            parts.append(field.codec.write(values[field.name]))
    return b"".join(parts)
