"""The MQTT source against a real Mosquitto (the throwaway broker of the test run)."""

from __future__ import annotations

import asyncio
import uuid

import aiomqtt

from gnss.sources import Backoff, MqttSource, SourceRejection
from gnss.sources.mqtt import MAX_PAYLOAD
from tests.sources.helpers import (
    EPOCH,
    GARBAGE,
    Relay,
    collect,
    joined,
    open_fds,
    run,
    wait_until,
)

FAST = Backoff(initial_s=0.02, max_s=0.1)
KNOWN = {"dtu-1", "dtu-2"}


class Registry:
    """The ``is_known`` callback, counting how often it is asked."""

    def __init__(self) -> None:
        self.asked = 0

    async def __call__(self, device_id: str) -> bool:
        self.asked += 1
        return device_id in KNOWN


def source_for(port: int, registry: Registry) -> MqttSource:
    client_id = f"partymap-test-{uuid.uuid4().hex[:8]}"
    return MqttSource(registry, host="127.0.0.1", port=port, client_id=client_id, backoff=FAST)


async def publish(port: int, messages: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"pub-{uuid.uuid4().hex[:8]}") as pub:
        for topic, payload in messages:
            await pub.publish(topic, payload, qos=1)


def test_known_devices_stream_unknown_and_malformed_are_refused(
    mqtt_broker: tuple[str, int],
) -> None:
    _, port = mqtt_broker
    registry = Registry()

    async def body() -> None:
        async with source_for(port, registry) as source:
            await asyncio.wait_for(source.subscribed.wait(), 10)
            await publish(
                port,
                [
                    ("partymap/devices/dtu-1/nmea", EPOCH),
                    ("partymap/devices/stranger/nmea", EPOCH),
                    ("partymap/devices/a b/nmea", EPOCH),
                    ("partymap/devices/dtu-2/nmea", EPOCH.rstrip(b"\r\n")),  # newline added
                    ("partymap/devices/dtu-1/nmea", GARBAGE),  # passed on, for the parser
                    ("partymap/devices/dtu-2/nmea", b"x" * (MAX_PAYLOAD + 1)),
                    ("partymap/devices/stranger/nmea", EPOCH),
                    ("partymap/devices/dtu-1/nmea", b""),
                    ("partymap/devices/dtu-2/nmea", EPOCH),
                ],
            )
            chunks = await collect(source, total=3 * len(EPOCH) + len(GARBAGE))
            assert joined(chunks, "dtu-1") == EPOCH + GARBAGE + b"\n"
            assert joined(chunks, "dtu-2") == EPOCH.rstrip(b"\r\n") + b"\n" + EPOCH
            assert source.stats.rejections == {
                SourceRejection.UNKNOWN_DEVICE: 2,
                SourceRejection.BAD_TOPIC: 1,
                SourceRejection.BAD_PAYLOAD: 1,
            }
            assert registry.asked == 3  # dtu-1, stranger, dtu-2: answers are cached
            assert source.stats.connections == source.stats.active == 1

    run(body())


def test_messages_sent_during_an_outage_arrive_after_the_reconnect(
    mqtt_broker: tuple[str, int],
) -> None:
    _, port = mqtt_broker
    epochs = [EPOCH.replace(b"120000.00", b"1200%02d.00" % n) for n in range(20)]

    async def body() -> None:
        fds = open_fds()
        async with Relay("127.0.0.1", port) as relay, source_for(relay.port, Registry()) as source:
            await asyncio.wait_for(source.subscribed.wait(), 10)
            await publish(port, [("partymap/devices/dtu-1/nmea", e) for e in epochs[:5]])
            assert joined(await collect(source, total=5 * len(EPOCH))) == b"".join(epochs[:5])
            await relay.down()  # the network between the daemon and the broker fails
            await wait_until(lambda: source.stats.disconnects == 1, what="loss noticed")
            await publish(port, [("partymap/devices/dtu-1/nmea", e) for e in epochs[5:]])
            await wait_until(lambda: source.stats.connect_failures >= 2, what="retries")
            await relay.up()
            rest = b""
            while not rest.endswith(epochs[-1]):
                rest += joined(await asyncio.wait_for(source.get_batch(), 10))
            # Kept by the broker, in order. QoS 1 is at least once: messages whose
            # acknowledgement the outage swallowed come again first.
            again, new = rest[: -15 * len(EPOCH)], rest[-15 * len(EPOCH) :]
            assert new == b"".join(epochs[5:])
            assert again in b"".join(epochs[:5])
            assert source.stats.connections == 2
        assert open_fds() == fds

    run(body())


def test_messages_are_acknowledged_only_once_delivered(mqtt_broker: tuple[str, int]) -> None:
    """With acknowledgements on delivery, a message whose chunk was not delivered comes again
    on the next connection; one delivered (and those before it) does not."""
    _, port = mqtt_broker
    client_id = f"partymap-test-{uuid.uuid4().hex[:8]}"
    dtu1, dtu2 = "partymap/devices/dtu-1/nmea", "partymap/devices/dtu-2/nmea"

    def source() -> MqttSource:
        return MqttSource(
            Registry(),
            host="127.0.0.1",
            port=port,
            client_id=client_id,
            backoff=FAST,
            ack_when_delivered=True,
        )

    async def body() -> None:
        async with source() as first:
            await asyncio.wait_for(first.subscribed.wait(), 10)
            await publish(port, [(dtu1, EPOCH), ("partymap/devices/stranger/nmea", EPOCH)])
            await publish(port, [(dtu2, EPOCH)])
            chunks = await collect(first, total=2 * len(EPOCH))
            assert [c.device_id for c in chunks] == ["dtu-1", "dtu-2"]
            await wait_until(lambda: first.unacknowledged == 3, what="three messages held")
            first.delivered([chunks[1]])  # dtu-2's, still behind dtu-1's (acknowledged in order)
            assert first.unacknowledged == 3
        async with source() as second:  # nothing was acknowledged: all three come again
            chunks = await collect(second, total=2 * len(EPOCH))
            assert sorted(c.device_id for c in chunks) == ["dtu-1", "dtu-2"]
            await wait_until(lambda: second.unacknowledged == 3, what="all three held again")
            second.delivered(chunks)
            assert second.unacknowledged == 0
            await publish(port, [])  # a round trip to the broker: the acknowledgements are in
        async with source() as third:  # only what is new comes
            await asyncio.wait_for(third.subscribed.wait(), 10)
            await publish(port, [(dtu2, EPOCH)])
            chunks = await collect(third, total=len(EPOCH))
            assert [c.device_id for c in chunks] == ["dtu-2"]
            try:
                more = await asyncio.wait_for(third.get_batch(), 1.0)
            except TimeoutError:
                more = []
            assert more == []

    run(body())
