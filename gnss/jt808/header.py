"""The JT/T 808 message header: message id, body properties, terminal phone number, serial.

Two layouts, told apart by bit 14 of the body properties (the 2019 version flag):

- 2011 and 2013: id (2 bytes), properties (2), phone number (6 bytes BCD: 12 digits), serial (2);
- 2019: id, properties, protocol version (1 byte), phone number (10 bytes BCD: 20 digits), serial.

Properties: bits 0–9 body length, 10–12 encryption (bit 10: RSA), 13 sub-packaged (then the
header ends with the packet count and the packet's index, from 1), 14 the 2019 version flag.
All numbers are big-endian. The phone number is kept as printed, leading zeros and all; a
terminal that puts hexadecimal digits in it (some do) keeps those too, so its number simply
matches no device that was imported with decimal digits.

>>> header, body = parse(bytes.fromhex("0002400001000000000172998417380000"))
>>> header.phone, header.protocol_version, header.serial, body
('00000000017299841738', 1, 0, b'')
>>> encode(header, b"").hex()
'0002400001000000000172998417380000'
"""

from __future__ import annotations

from dataclasses import dataclass

from gnss.jt808.reasons import KEPT_BYTES, FrameReason, FrameRejection

__all__ = ["MAX_BODY", "PHONE_DIGITS", "Header", "body_at", "encode", "parse"]

MAX_BODY = 0x3FF  # the 10-bit length field
PHONE_DIGITS = {False: 12, True: 20}  # by "is a 2019 header"
_LENGTH = 0x3FF
_ENCRYPTION = 0x1C00
_SUBPACKAGED = 0x2000
_VERSION_FLAG = 0x4000


@dataclass(frozen=True, slots=True)
class Header:
    """One message's header. ``protocol_version`` is None for 2011/2013 headers (no version
    flag) and the version byte for 2019 ones (1 for the first 2019 revision)."""

    msg_id: int
    phone: str  # BCD digits as printed: 12 (2011/2013) or 20 (2019)
    serial: int  # the sender's message serial number, 0–65535, counting up from 0
    protocol_version: int | None = None
    encryption: int = 0  # properties bits 10–12; 0: plain
    packet_count: int | None = None  # only when sub-packaged
    packet_index: int | None = None  # from 1

    @property
    def is_2019(self) -> bool:
        return self.protocol_version is not None

    @property
    def subpackaged(self) -> bool:
        return self.packet_count is not None


def parse(payload: bytes) -> tuple[Header, bytes] | FrameRejection:
    """The header and body of an unescaped, checked frame (check code removed).

    A body shorter than the properties say is ``truncated``, a longer one ``bad_length``; a
    frame too short for its own header is ``too_short``.
    """
    if len(payload) < 4:
        return FrameRejection(FrameReason.TOO_SHORT, payload[:KEPT_BYTES])
    msg_id = int.from_bytes(payload[0:2], "big")
    properties = int.from_bytes(payload[2:4], "big")
    at = 4
    version: int | None = None
    if properties & _VERSION_FLAG:
        if len(payload) < 5:
            return FrameRejection(FrameReason.TOO_SHORT, payload[:KEPT_BYTES])
        version = payload[4]
        at = 5
    digits = PHONE_DIGITS[version is not None]
    size = at + digits // 2 + 2 + (4 if properties & _SUBPACKAGED else 0)
    if len(payload) < size:
        return FrameRejection(
            FrameReason.TOO_SHORT, payload[:KEPT_BYTES], "shorter than its header"
        )
    phone = payload[at : at + digits // 2].hex()
    at += digits // 2
    serial = int.from_bytes(payload[at : at + 2], "big")
    count = index = None
    if properties & _SUBPACKAGED:
        count = int.from_bytes(payload[at + 2 : at + 4], "big")
        index = int.from_bytes(payload[at + 4 : at + 6], "big")
    header = Header(
        msg_id=msg_id,
        phone=phone,
        serial=serial,
        protocol_version=version,
        encryption=(properties & _ENCRYPTION) >> 10,
        packet_count=count,
        packet_index=index,
    )
    body = payload[size:]
    declared = properties & _LENGTH
    if len(body) != declared:
        reason = FrameReason.TRUNCATED if len(body) < declared else FrameReason.BAD_LENGTH
        detail = f"body of {len(body)} bytes, header says {declared}"
        return FrameRejection(reason, payload[:KEPT_BYTES], detail, header)
    return header, body


def encode(header: Header, body: bytes) -> bytes:
    """Header and body as one unescaped message (no check code, no flags).

    A body longer than 1023 bytes or a phone number with more digits than the header holds is
    a bug in the caller: ValueError.
    """
    if len(body) > MAX_BODY:
        raise ValueError(f"a body of {len(body)} bytes does not fit one packet (max {MAX_BODY})")
    digits = PHONE_DIGITS[header.is_2019]
    if len(header.phone) > digits:
        raise ValueError(f"phone number {header.phone!r} has more than {digits} digits")
    properties = len(body) | ((header.encryption << 10) & _ENCRYPTION)
    if header.subpackaged:
        properties |= _SUBPACKAGED
    parts = [header.msg_id.to_bytes(2, "big"), b""]
    if header.protocol_version is not None:
        properties |= _VERSION_FLAG
        parts.append(bytes((header.protocol_version,)))
    parts[1] = properties.to_bytes(2, "big")
    parts += [bytes.fromhex(header.phone.rjust(digits, "0")), header.serial.to_bytes(2, "big")]
    if header.packet_count is not None:
        index = header.packet_index or 0
        parts += [header.packet_count.to_bytes(2, "big"), index.to_bytes(2, "big")]
    return b"".join(parts) + body


def body_at(payload: bytes, msg_id: int, phone: bytes, *, trailer: int = 0) -> int:
    """Where the body begins of a plain message (neither sub-packaged nor encrypted) with id
    ``msg_id`` from the terminal whose BCD phone number is ``phone``, when the body is as long as
    the header says (``trailer``: bytes after the body, as a check code not yet removed); −1
    for anything else (which :func:`parse` then reads in full).

    >>> payload = bytes.fromhex("0002400001000000000172998417380000")
    >>> body_at(payload, 0x0002, bytes.fromhex("00000000017299841738"))
    17
    >>> body_at(payload, 0x0002, bytes.fromhex("000000000172")), body_at(payload, 0x0200, b"")
    (-1, -1)
    """
    if len(payload) < 12 or int.from_bytes(payload[0:2], "big") != msg_id:
        return -1
    properties = int.from_bytes(payload[2:4], "big")
    if properties & (_ENCRYPTION | _SUBPACKAGED):
        return -1
    at = 5 if properties & _VERSION_FLAG else 4
    end = at + len(phone)
    if len(phone) != PHONE_DIGITS[at == 5] // 2 or payload[at:end] != phone:
        return -1
    if len(payload) - trailer - end - 2 != properties & _LENGTH:
        return -1
    return end + 2
