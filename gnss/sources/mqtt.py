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

By default each message is acknowledged to the broker as it arrives. With
``ack_when_delivered=True`` (a cluster's edge) a message is acknowledged only once the consumer
says that its chunk is safe (:meth:`MqttSource.delivered`), in the order the messages came (as
MQTT wants); a message the source refuses is acknowledged at once. A message not yet
acknowledged when the connection drops comes again after the reconnect. The broker sends at
most its in-flight limit of unacknowledged messages (Mosquitto's ``max_inflight_messages``,
20 by default): raise it for a busy edge, since a message now waits for a round of the
consumer before it is acknowledged.

Backpressure reaches only as far as aiomqtt's receive queue: when the consumer is behind the
source stops taking messages from that queue but the queue itself is not bounded (bounding it
would make aiomqtt drop messages); with acknowledgements on delivery the broker's in-flight
limit bounds it.

>>> device_of_topic("partymap/devices/dtu-7/nmea", "partymap/devices")
'dtu-7'
>>> device_of_topic("partymap/devices/+/nmea", "partymap/devices") is None
True
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiomqtt

from gnss.model import RawChunk
from gnss.sources.base import REMOTE_BACKOFF, Backoff, ChannelSource, IsKnownDevice, valid_device_id
from gnss.sources.counters import SourceRejection

log = logging.getLogger(__name__)

TOPIC_PREFIX = "partymap/devices"
MAX_PAYLOAD = 256 * 1024
# Enough for a large fleet; past it the cache starts over rather than growing without bound.
_MAX_CACHED = 100_000


@dataclass(slots=True)
class _Unacknowledged:
    """A message of a connection, waiting for its chunk's delivery (``chunk`` None: refused)."""

    client: Any  # paho's client of the connection it came on
    mid: int
    qos: int
    chunk: RawChunk | None
    done: bool = False


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
        ack_when_delivered: bool = False,
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
        self.ack_when_delivered = ack_when_delivered
        # Messages in arrival order until acknowledged, and those whose chunk went on, by the
        # chunk's identity (the chunk is held here, so its identity stays its own).
        self._unacknowledged: collections.deque[_Unacknowledged] = collections.deque()
        self._by_chunk: dict[int, _Unacknowledged] = {}

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
        # aiomqtt has no manual acknowledgement of its own: paho's (since 2.0) on its client.
        paho = client._client
        if self.ack_when_delivered:
            paho.manual_ack_set(True)
        async with client:
            with self._connection():
                try:
                    await client.subscribe(f"{self.topic_prefix}/+/nmea", qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        self.stats.bytes += len(message.payload)
                        chunk = await self._chunk(message.topic.value, message.payload)
                        if self.ack_when_delivered and message.qos > 0:
                            self._hold(_Unacknowledged(paho, message.mid, message.qos, chunk))
                        if chunk is not None:
                            await self._emit(chunk)
                finally:
                    self.subscribed.clear()
                    self._unacknowledged.clear()  # the broker sends them again
                    self._by_chunk.clear()

    def _hold(self, entry: _Unacknowledged) -> None:
        self._unacknowledged.append(entry)
        if entry.chunk is None:
            entry.done = True
            self._acknowledge_ready()
        else:
            self._by_chunk[id(entry.chunk)] = entry

    def delivered(self, chunks: list[RawChunk]) -> None:
        """The consumer has these chunks safe: acknowledge their messages (and those before
        them) to the broker. Chunks that are not this source's are ignored."""
        for chunk in chunks:
            entry = self._by_chunk.pop(id(chunk), None)
            if entry is not None:
                entry.done = True
        self._acknowledge_ready()

    @property
    def unacknowledged(self) -> int:
        """Messages received and not yet acknowledged to the broker."""
        return len(self._unacknowledged)

    def _acknowledge_ready(self) -> None:
        waiting = self._unacknowledged
        while waiting and waiting[0].done:
            entry = waiting.popleft()
            entry.client.ack(entry.mid, entry.qos)

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
