"""The daemon's sources, opened from its :class:`~partymap.ingest.sources.SourcePlan`, each
with a pump into the collector, and closed together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from gnss.sources import (
    GpsdSource,
    MqttSource,
    ReplaySource,
    SerialSource,
    SourceStats,
    TcpSource,
)
from gnss.sources.base import ChannelSource
from partymap.ingest.batching import Collector
from partymap.ingest.devices import Devices
from partymap.ingest.http import HttpBodies
from partymap.ingest.jt808 import Jt808Server
from partymap.ingest.sources import SourcePlan
from partymap.settings import Settings

# Where a replayed log resumes: (offset key, device id, byte offset).
Resume = Callable[[str, str, int], None]


class SourceSet:
    """The open sources and their pumps; the transports that can end a device's sessions."""

    def __init__(
        self,
        settings: Settings,
        collector: Collector,
        devices: Devices,
        watch: Callable[[asyncio.Task[None]], asyncio.Task[None]],
    ) -> None:
        self._settings = settings
        self._collector = collector
        self._devices = devices
        self._watch = watch
        self.opened: list[ChannelSource] = []
        self.tcp: TcpSource | None = None
        self.jt808: Jt808Server | None = None
        self.http: HttpBodies | None = None
        self._exits = contextlib.AsyncExitStack()
        self._pumps: list[asyncio.Task[None]] = []

    def mqtt(self, host: str, port: int, *, ack_when_delivered: bool = False) -> MqttSource:
        """The MQTT source of the settings (``ack_when_delivered``: see :class:`MqttSource`)."""
        settings = self._settings
        password = settings.ingest_mqtt_password
        return MqttSource(
            self._devices.know,
            host=host,
            port=port,
            username=settings.ingest_mqtt_username,
            password=password.get_secret_value() if password else None,
            client_id=settings.ingest_mqtt_client_id,
            ack_when_delivered=ack_when_delivered,
        )

    async def open(
        self,
        plan: SourcePlan,
        offsets: dict[str, int],
        *,
        resume: Resume | None,
        jt808: Callable[[str, int], Jt808Server],
    ) -> None:
        """Every source of ``plan``; replayed logs from ``offsets``, their resume points
        handed to ``resume`` (None: nothing resumes them here)."""
        settings, devices = self._settings, self._devices
        if plan.http:
            self.http = HttpBodies(name="http", queue_size=1024)
            await self.add(self.http, "http")
        if plan.tcp_port is not None:
            self.tcp = TcpSource(
                devices.authenticate,
                host=plan.tcp_host,
                port=plan.tcp_port,
                idle_timeout_s=settings.ingest_tcp_idle_timeout_seconds,
                registration_timeout_s=settings.ingest_tcp_registration_timeout_seconds,
                max_connections=settings.ingest_tcp_max_connections,
            )
            await self.add(self.tcp, "tcp")
        if plan.jt808_port is not None:
            self.jt808 = jt808(plan.jt808_host, plan.jt808_port)
            await self._exits.enter_async_context(self.jt808)
        if plan.mqtt is not None:
            await self.add(self.mqtt(*plan.mqtt), "mqtt")
        for spec in plan.serial:
            devices.warn_unknown(spec.device_id)
            await self.add(
                SerialSource(spec.path, spec.device_id, baudrate=spec.baudrate), "serial"
            )
        for gpsd in plan.gpsd:
            devices.warn_unknown(gpsd.device_id)
            relay = GpsdSource(gpsd.device_id, host=gpsd.host, port=gpsd.port, device=gpsd.receiver)
            await self.add(relay, "gpsd")
        for replay in plan.replay:
            devices.warn_unknown(replay.device_id)
            offset = offsets.get(replay.key, 0)
            if resume is not None:
                resume(replay.key, replay.device_id, offset)
            log_source = ReplaySource(
                replay.path, replay.device_id, speed=replay.speed, start_offset=offset
            )
            # A log's end closes its last epoch; paced replays' chunks arrive when they are due.
            await self.add(
                log_source, "replay", timed=replay.speed is not None, ends=replay.device_id
            )

    async def add(
        self, source: ChannelSource, label: str, *, timed: bool = True, ends: str | None = None
    ) -> None:
        """Open ``source`` and pump it into the collector as ``label``."""
        await self._exits.enter_async_context(source)
        self.opened.append(source)
        pump = self._collector.pump(source, label, timed=timed, device_id=ends)
        self._pumps.append(self._watch(asyncio.create_task(pump, name=f"pump {source.name}")))

    def stats(self) -> list[SourceStats]:
        return [source.stats for source in self.opened]

    async def revoke(self, device_id: str) -> None:
        """The device's token was rotated or the device deactivated: the directory is read
        again now (a deactivated device's lines are dropped from the next batch on) and its
        open sessions end on every transport."""
        await self._devices.refresh()
        self.disconnect(device_id)

    def disconnect(self, device_id: str) -> None:
        """End the device's open sessions on every transport (TCP and JT/T 808 close their
        connections; MQTT asks again)."""
        if self.tcp is not None:
            self.tcp.disconnect(device_id)
        if self.jt808 is not None:
            self.jt808.disconnect(device_id)
        for source in self.opened:
            if isinstance(source, MqttSource):
                source.forget(device_id)

    async def done(self) -> None:
        """Return when every source has ended (only logs ever do)."""
        await asyncio.gather(*self._pumps)

    def abandon_pumps(self) -> None:
        """Nobody takes from the collector any more: pumps waiting for room would wait
        forever."""
        for pump in self._pumps:
            pump.cancel()

    async def close(self) -> None:
        """Close the sources; their pumps drain what they hold."""
        await self._exits.aclose()
        await asyncio.gather(*self._pumps, return_exceptions=True)
