"""The reference NMEA parser: pynmea2 behind an adapter that yields typed, BeiDou-aware values.

A received line becomes one outcome per sentence in it — usually one; more when a receiver glued
sentences together without a line break. Each outcome is a typed sentence
(:mod:`gnss.nmea.sentences`) or a :class:`~gnss.nmea.sentences.Rejection` with a named reason.
Nothing here raises on bad input.

The adapter frames and checks each sentence itself (``$$`` starts, binary noise, truncation,
checksum), lets pynmea2 split a well-formed sentence into fields, and reads the fields through a
dispatch table (sentence type → minimum field count → handler) with strict typed conversions. It
reads the NMEA 4.10+ fields pynmea2 hides or misplaces: the GSA system id, and the GSV signal id
that pynmea2 takes for a satellite on short pages.

>>> [type(o).__name__ for o in parse_line(b"$GPGSA,A,1,,,,,,,,,,,,,,,*1E$GNRMC,,V,,,,,,,,,,N*4D")]
['Gsa', 'Rmc']
>>> parse_line(b"$GBGSV,1,1,01,07,40,083,46,1*4D")[0].in_view
((<Constellation.BEIDOU: 'BEIDOU'>, 7),)
>>> parse_line(b"$GPGGA,1*00")[0].reason
<Reason.CHECKSUM: 'checksum'>
"""

from __future__ import annotations

from functools import reduce
from itertools import pairwise
from operator import xor

import pynmea2

from gnss.nmea.fields import BadFieldError
from gnss.nmea.handlers import TABLE, Fields
from gnss.nmea.layout import MIN_FIELDS
from gnss.nmea.sentences import Reason, Rejection, Sentence

__all__ = [
    "MAX_SENTENCE",
    "MIN_FIELDS",
    "parse",
    "parse_line",
    "pieces",
    "split_lines",
    "split_sentences",
]

Outcome = Sentence | Rejection

# NMEA allows 82 characters; survey receivers print more digits. Longer than this is two
# sentences run together, whatever the checksum says (gpsd drops such packets as well).
MAX_SENTENCE = 160
_WHITESPACE = b" \t\r\n\x0b\x0c"
_HEX = frozenset(b"0123456789ABCDEFabcdef")
# Talkers starting with P look proprietary to pynmea2 (Quectel's BeiDou "PQGSA" would become
# manufacturer "QGS"): pynmea2 splits such sentences under a stand-in talker.
_PROPRIETARY_TALKERS = ("PQ",)


def split_lines(data: bytes) -> list[bytes]:
    """A chunk of complete lines as lines: split on LF, one trailing CR dropped from each.

    >>> split_lines(b"$A*00\\r\\n\\n$B*00")
    [b'$A*00', b'', b'$B*00']
    """
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def split_sentences(line: bytes) -> list[bytes]:
    """Cuts a line before every ``$`` that starts another sentence (``$$`` stays one start).

    >>> split_sentences(b"$GPGSA,A,1*1E$GPRMC,1*00")
    [b'$GPGSA,A,1*1E', b'$GPRMC,1*00']
    >>> split_sentences(b"$$GPGGA,1*00")
    [b'$$GPGGA,1*00']
    """
    cuts = [i for i in range(1, len(line)) if line[i] == 36 and line[i - 1] != 36]
    if not cuts:
        return [line]
    return [line[a:b] for a, b in pairwise([0, *cuts, len(line)])]


def pieces(line: bytes) -> list[bytes]:
    """The sentences of a line: a comment line is one piece whatever `$` it mentions."""
    if line.lstrip(_WHITESPACE)[:1] == b"#":
        return [line]
    return split_sentences(line)


def parse_line(line: bytes) -> list[Outcome]:
    """One outcome per sentence in the line (at least one)."""
    return [parse(piece) for piece in pieces(line)]


def parse(piece: bytes) -> Outcome:
    """One sentence, framed and checked: the typed sentence or why it was refused."""
    text = piece.strip(_WHITESPACE)
    if not text:
        return Rejection(Reason.EMPTY, piece)
    if text[:1] == b"#":
        return Rejection(Reason.COMMENT, piece)
    if any(byte < 0x20 or byte > 0x7E for byte in text):
        return Rejection(Reason.BINARY, piece)
    if len(text) > MAX_SENTENCE:
        return Rejection(Reason.TOO_LONG, piece)
    if text[:1] != b"$":
        return Rejection(Reason.FRAMING, piece, "no $ start")
    text = b"$" + text.lstrip(b"$")  # `$$GPGGA`: a doubled start (pynmea2 refuses these)
    star = text.find(b"*")
    if star < 0 or text.count(b"*") > 1:
        return Rejection(Reason.TRUNCATED if star < 0 else Reason.FRAMING, piece)
    check = text[star + 1 :]
    if not set(check) <= _HEX or len(check) > 2:
        return Rejection(Reason.FRAMING, piece, "junk after the checksum")
    if len(check) < 2:
        return Rejection(Reason.TRUNCATED, piece)
    body = text[1:star]
    if reduce(xor, body, 0) != int(check, 16):
        return Rejection(Reason.CHECKSUM, piece)
    return _typed(body.decode("ascii"), piece)


def _typed(body: str, piece: bytes) -> Outcome:
    tag = body.split(",", 1)[0].upper()
    talker, kind = tag[:2], tag[2:]
    entry = TABLE.get(kind) if len(tag) == 5 else None
    if entry is None:
        return Rejection(Reason.UNKNOWN_TYPE, piece, tag)
    if talker in _PROPRIETARY_TALKERS:
        body = "GP" + body[2:]
    try:
        sentence = pynmea2.parse(f"${body}*{reduce(xor, body.encode(), 0):02X}", check=True)
    except pynmea2.ParseError:
        return Rejection(Reason.FRAMING, piece, "malformed sentence")
    if not isinstance(sentence, pynmea2.TalkerSentence):
        return Rejection(Reason.UNKNOWN_TYPE, piece, tag)
    minimum, handler = entry
    data: list[str] = list(sentence.data)
    if len(data) < minimum:
        return Rejection(Reason.TOO_SHORT, piece, f"{len(data)} fields, {kind} needs {minimum}")
    try:
        return handler(talker, Fields(data))
    except BadFieldError as error:
        return Rejection(Reason.BAD_FIELD, piece, str(error))
