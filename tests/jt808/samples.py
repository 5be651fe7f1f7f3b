"""A few well-formed frames of each kind a terminal sends, for fuzzing by mutation."""

from __future__ import annotations

from datetime import datetime

from gnss.jt808.codec import encode
from gnss.jt808.header import Header
from gnss.jt808.location import Location, Status
from gnss.jt808.messages import (
    Authentication,
    Heartbeat,
    LocationBatch,
    LocationReport,
    Message,
    Registration,
    TerminalResponse,
)

PHONE, PHONE_2019 = "013800138000", "00000000013800138000"
FIX = Location(
    alarm=0,
    status=Status.POSITIONED | Status.BEIDOU | Status.GPS,
    lat_microdeg=30_592_800,
    lon_microdeg=114_305_500,
    alt_m=31,
    speed_tenth_kmh=50,
    heading_deg=90,
    device_time=datetime(2026, 5, 1, 16, 0, 0),
    extras=((0x01, bytes(4)), (0x30, b"\x1b"), (0x31, b"\x0c")),
)


def sample_messages() -> list[Message]:
    return [
        Heartbeat(Header(0x0002, PHONE, 1)),
        Heartbeat(Header(0x0002, PHONE_2019, 0x7E7D, protocol_version=1)),
        Authentication(Header(0x0102, PHONE, 2), b"Zk3~}q"),
        Authentication(Header(0x0102, PHONE_2019, 3, 1), b"code", "864800000000001", "1.0.7"),
        Registration(Header(0x0100, PHONE, 4), 42, 100, "PTMAP", "HELMET-B1", "H000001", 0, ""),
        LocationReport(Header(0x0200, PHONE, 5), FIX),
        LocationReport(Header(0x0200, PHONE_2019, 6, 1), FIX),
        LocationBatch(Header(0x0704, PHONE, 7), 1, (FIX, FIX, FIX)),
        TerminalResponse(Header(0x0001, PHONE, 8), 3, 0x8001, 0),
    ]


SAMPLES = [encode(m) for m in sample_messages()]
