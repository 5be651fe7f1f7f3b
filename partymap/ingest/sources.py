"""Which sources the daemon reads: a plan made from the settings and the command's options.

Receivers on the machine are written ``<where>=<device_id>``, with an optional ``@`` suffix::

    /dev/ttyUSB0=rx-office@115200       serial port, device id, baud rate (default 9600)
    127.0.0.1:2947=rx-camp@/dev/ttyACM0 gpsd (port default 2947), device id, gpsd's receiver
    logs/site-a.nmea=dtu-0042           a recorded log replayed as that device

>>> parse_serial("/dev/ttyUSB0=rx-office@115200")
SerialSpec(path='/dev/ttyUSB0', device_id='rx-office', baudrate=115200)
>>> parse_gpsd("gpsd.local=rx-camp")
GpsdSpec(host='gpsd.local', port=2947, device_id='rx-camp', receiver=None)
>>> parse_broker("mqtt.local:8883")
('mqtt.local', 8883)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gnss.sources import valid_device_id
from gnss.sources.gpsd import GPSD_PORT
from partymap.settings import Settings

MQTT_PORT = 1883


class SourceSpecError(ValueError):
    """A source written in a way the daemon cannot read (bad configuration)."""


@dataclass(frozen=True, slots=True)
class SerialSpec:
    path: str
    device_id: str
    baudrate: int = 9600


@dataclass(frozen=True, slots=True)
class GpsdSpec:
    host: str
    port: int
    device_id: str
    receiver: str | None = None  # which of gpsd's receivers (None: all of them)


@dataclass(frozen=True, slots=True)
class ReplaySpec:
    path: Path
    device_id: str
    speed: float | None = None  # None: as fast as the pipeline takes it

    @property
    def key(self) -> str:
        """What its offset is committed under: the device and the log's absolute path."""
        return f"replay:{self.device_id}:{self.path.resolve()}"


@dataclass(frozen=True, slots=True)
class SourcePlan:
    """Every source of one daemon."""

    tcp_port: int | None = None
    tcp_host: str = "0.0.0.0"
    # The JT/T 808 server for terminals (helmets, badges); None: none.
    jt808_port: int | None = None
    jt808_host: str = "0.0.0.0"
    mqtt: tuple[str, int] | None = None
    serial: tuple[SerialSpec, ...] = ()
    gpsd: tuple[GpsdSpec, ...] = ()
    replay: tuple[ReplaySpec, ...] = ()
    # Accept NMEA posted over HTTP (the API's ingest endpoint hands it over).
    http: bool = True

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        tcp_port: int | bool | None = True,
        jt808_port: int | None = None,
        mqtt: str | None = None,
        serial: Sequence[str] = (),
        gpsd: Sequence[str] = (),
        replay: Sequence[str] = (),
        speed: float | None = None,
        http: bool = True,
    ) -> SourcePlan:
        """The settings' sources plus the options' (``tcp_port``: True keeps the settings'
        port, False or None turns the TCP server off, a number replaces the port;
        ``jt808_port``: a number replaces the settings' JT/T 808 port, 0 any free one)."""
        if tcp_port is True:
            port = settings.ingest_tcp_port
        elif tcp_port is False or tcp_port is None:
            port = None
        else:
            port = tcp_port  # 0: any free port
        broker = mqtt or settings.ingest_mqtt_broker
        replay_speed = speed if speed is not None else settings.ingest_replay_speed
        return cls(
            tcp_port=port,
            tcp_host=settings.ingest_tcp_host,
            jt808_port=settings.ingest_jt808_port if jt808_port is None else jt808_port,
            jt808_host=settings.ingest_jt808_host,
            mqtt=parse_broker(broker) if broker else None,
            serial=tuple(parse_serial(s) for s in (*settings.ingest_serial, *serial)),
            gpsd=tuple(parse_gpsd(s) for s in (*settings.ingest_gpsd, *gpsd)),
            replay=tuple(
                parse_replay(s, speed=replay_speed) for s in (*settings.ingest_replay, *replay)
            ),
            http=http,
        )

    @property
    def finite(self) -> bool:
        """Only logs: the daemon is done when they are."""
        live = self.tcp_port is not None or self.jt808_port is not None
        return not (live or self.mqtt or self.serial or self.gpsd or self.http)


def _split(text: str, what: str) -> tuple[str, str, str | None]:
    where, sep, rest = text.rpartition("=")
    if not sep or not where:
        raise SourceSpecError(f"{what} {text!r}: write it as <where>=<device_id>[@<option>]")
    device_id, _, option = rest.partition("@")
    if not valid_device_id(device_id):
        raise SourceSpecError(f"{what} {text!r}: {device_id!r} is not a valid device id")
    return where, device_id, option or None


def _port(text: str, default: int, what: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default
    if not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise SourceSpecError(f"{what} {text!r}: expected <host>[:<port>]")
    return host, int(port)


def parse_serial(text: str) -> SerialSpec:
    path, device_id, baud = _split(text, "serial port")
    if baud is not None and not baud.isdigit():
        raise SourceSpecError(f"serial port {text!r}: baud rate {baud!r} is not a number")
    return SerialSpec(path, device_id, int(baud) if baud else 9600)


def parse_gpsd(text: str) -> GpsdSpec:
    where, device_id, receiver = _split(text, "gpsd")
    host, port = _port(where, GPSD_PORT, "gpsd")
    return GpsdSpec(host, port, device_id, receiver)


def parse_replay(text: str, *, speed: float | None = None) -> ReplaySpec:
    path, device_id, option = _split(text, "replay")
    if option is not None:
        raise SourceSpecError(f"replay {text!r}: no @ option (use the speed setting)")
    return ReplaySpec(Path(path), device_id, speed)


def parse_broker(text: str) -> tuple[str, int]:
    return _port(text, MQTT_PORT, "MQTT broker")
