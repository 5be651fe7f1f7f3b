"""Where NMEA comes from: serial receivers, field devices over TCP, MQTT, recorded logs and gpsd.

Every source is used the same way (:class:`~gnss.sources.base.Source`)::

    async with TcpSource(authenticate, port=5055) as source:
        async for chunk in source:          # or: await source.get_batch(4096)
            ...                             # RawChunk: device_id, complete lines, received_at

Sources only move bytes: they frame lines, authenticate devices and count what they refuse, and
never parse NMEA (STYLE rule 2). :class:`MemorySource` is the in-memory double for the layers
above.
"""

from gnss.sources.base import (
    LOCAL_BACKOFF,
    REMOTE_BACKOFF,
    Authenticate,
    Backoff,
    IsKnownDevice,
    Source,
    Verdict,
    valid_device_id,
)
from gnss.sources.counters import SourceRejection, SourceStats
from gnss.sources.gpsd import GpsdSource
from gnss.sources.memory import MemorySource
from gnss.sources.mqtt import MqttSource
from gnss.sources.replay import ReplaySource
from gnss.sources.serialport import SerialSource
from gnss.sources.tcp import TcpSource

__all__ = [
    "LOCAL_BACKOFF",
    "REMOTE_BACKOFF",
    "Authenticate",
    "Backoff",
    "GpsdSource",
    "IsKnownDevice",
    "MemorySource",
    "MqttSource",
    "ReplaySource",
    "SerialSource",
    "Source",
    "SourceRejection",
    "SourceStats",
    "TcpSource",
    "Verdict",
    "valid_device_id",
]
