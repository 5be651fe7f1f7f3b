"""MQTT subscriber: devices publish NMEA to ``partymap/devices/<device_id>/nmea``.

Each message is one or more complete NMEA lines (a last line without a newline is complete: the
message ends it). Who may publish on which topic is the broker's business — give each device its
own credentials and an ACL that lets it write only its own topic (Mosquitto's ``password_file``
and ``acl_file`` with ``pattern write partymap/devices/%u/nmea``) — so this source only checks that
the device id in the topic is one partymap knows, through the ``is_known`` callback, whose answers
are cached for ``known_ttl_s``.

The subscription is QoS 1 under a fixed client id with ``clean_session=False``: while the source
is reconnecting, the broker keeps the subscription and queues the messages for it. QoS 1 is at
least once: messages whose acknowledgement was lost with the connection come again after the
reconnect (the quality rules drop a fix that repeats the last one).

Backpressure reaches only as far as aiomqtt's receive queue: the MQTT client reads and acknowledges
each message as it arrives, so when the consumer is behind the source stops taking messages from
that queue but the queue itself is not bounded (bounding it would make aiomqtt drop messages).

>>> device_of_topic("partymap/devices/dtu-7/nmea", "partymap/devices")
'dtu-7'
>>> device_of_topic("partymap/devices/+/nmea", "partymap/devices") is None
True
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiomqtt

from gnss.model import RawChunk
from gnss.sources.base import REMOTE_BACKOFF, Backoff, ChannelSource, IsKnownDevice, valid_device_id
from gnss.sources.counters import SourceRejection

log = logging.getLogger(__name__)

TOPIC_PREFIX = "partymap/devices"
MAX_PAYLOAD = 256 * 1024
# Enough for a large fleet; past it the cache starts over rather than growing without bound.
_MAX_CACHED = 100_000


def device_of_topic(topic: str, prefix: str = TOPIC_PREFIX) -> str | None:
    """The device id in ``<prefix>/<device_id>/nmea``, or None if the topic is not one."""
    head, _, rest = topic.partition(prefix + "/")
    device_id, _, tail = rest.partition("/")
    if head or tail != "nmea" or not valid_device_id(device_id):
        return None
    return device_id


class MqttSource(ChannelSource):
    """Subscribes to ``<topic_prefix>/+/nmea`` on the broker at ``host:port``."""

    def __init__(
        self,
        is_known: IsKnownDevice,
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        username: str | None = None,
        password: str | None = None,
        client_id: str = "partymap-ingest",
        topic_prefix: str = TOPIC_PREFIX,
        known_ttl_s: float = 60.0,
        backoff: Backoff = REMOTE_BACKOFF,
        keepalive_s: int = 30,
        queue_size: int = 4096,
    ) -> None:
        super().__init__(f"mqtt:{host}:{port}", queue_size=queue_size)
        self._is_known = is_known
        self.host = host
        self.port = port
        self._username = username
        self._password = password
        self.client_id = client_id
        self.topic_prefix = topic_prefix
        self.known_ttl_s = known_ttl_s
        self._backoff = backoff
        self._keepalive_s = keepalive_s
        self._known: dict[str, tuple[bool, float]] = {}
        self.subscribed = asyncio.Event()  # set while subscribed; for tests and health checks

    async def _produce(self) -> None:
        transient = (OSError, aiomqtt.MqttError)
        await self._keep_connected(self._connect_and_read, self._backoff, transient)

    async def _connect_and_read(self) -> None:
        client = aiomqtt.Client(
            self.host,
            self.port,
            username=self._username,
            password=self._password,
            identifier=self.client_id,
            clean_session=False,
            keepalive=self._keepalive_s,
        )
        async with client:
            with self._connection():
                try:
                    await client.subscribe(f"{self.topic_prefix}/+/nmea", qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        self.stats.bytes += len(message.payload)
                        chunk = await self._chunk(message.topic.value, message.payload)
                        if chunk is not None:
                            await self._emit(chunk)
                finally:
                    self.subscribed.clear()

    async def _chunk(self, topic: str, payload: bytes) -> RawChunk | None:
        reject = self.stats.rejections
        device_id = device_of_topic(topic, self.topic_prefix)
        if device_id is None:
            reject[SourceRejection.BAD_TOPIC] += 1
            return None
        if len(payload) > MAX_PAYLOAD:
            reject[SourceRejection.BAD_PAYLOAD] += 1
            return None
        if not await self._known_device(device_id):
            reject[SourceRejection.UNKNOWN_DEVICE] += 1
            return None
        if not payload:
            return None
        lines = payload if payload.endswith(b"\n") else payload + b"\n"
        return RawChunk(device_id, lines, time.time())

    def forget(self, device_id: str) -> None:
        """Ask again whether the device is known at its next message (it was deactivated)."""
        self._known.pop(device_id, None)

    async def _known_device(self, device_id: str) -> bool:
        now = time.monotonic()
        cached = self._known.get(device_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        known = await self._is_known(device_id)
        if not known:
            log.warning("%s: message from unknown device %s dropped", self.name, device_id)
        if len(self._known) >= _MAX_CACHED:
            self._known.clear()
        self._known[device_id] = (known, now + self.known_ttl_s)
        return known
