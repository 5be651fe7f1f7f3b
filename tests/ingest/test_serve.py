"""``partymap serve`` as a process, with every transport at once: garbage and fixes over TCP,
MQTT, a serial pty, gpsd, a replayed log and HTTP; every line accounted for per source in
``/metrics``; SIGTERM stores everything that was read."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiomqtt
import httpx
import pytest

from devkit.services import free_port
from gnss.epoch.decoder import Decoder
from gnss.model import RawChunk
from store.db import make_engine
from tests.ingest.helpers import Person, build_world, nmea, stored, visit_track
from tests.sources.helpers import GARBAGE, run
from tests.sources.test_gpsd import gpsd
from tests.sources.test_serial import Pty

ROOT = Path(__file__).resolve().parents[2]
TRANSPORTS = ("tcp", "mqtt", "serial", "gpsd", "replay", "http")


def lines_in(data: bytes) -> int:
    """What the decoder counts in ``data``: each line, or each sentence glued into one."""
    decoder = Decoder()
    decoder.feed_chunk(RawChunk("x", data, 0.0))
    return decoder.counts.lines


def metrics(port: int) -> dict[tuple[str, str], float]:
    """``/metrics`` samples by (name, labels as text)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name_labels, _, value = line.rpartition(" ")
            name, _, labels = name_labels.partition("{")
            samples[name, labels.rstrip("}")] = float(value)
    return samples


def lines_decoded(samples: dict[tuple[str, str], float], source: str) -> float:
    return sum(
        v
        for (name, labels), v in samples.items()
        if name == "partymap_ingest_line_outcomes_total" and f'source="{source}"' in labels
    )


def wait_for(predicate: object, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


async def over_tcp(port: int, person: Person, data: bytes) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"REG,{person.uid},{person.token}\n".encode() + data)
    await writer.drain()
    await asyncio.sleep(0.5)  # hang up once the server has read it all
    writer.close()
    await writer.wait_closed()


async def over_mqtt(broker: tuple[str, int], person: Person, data: bytes) -> None:
    async with aiomqtt.Client(*broker, identifier=f"pub-{os.getpid()}") as client:
        for line in data.split(b"\n")[:-1]:  # one line a message, as a DTU would
            await client.publish(f"partymap/devices/{person.uid}/nmea", line + b"\n", qos=1)
        await client.publish("partymap/devices/bad topic/nmea", b"x", qos=1)


@pytest.mark.slow
def test_every_transport_counts_every_line_and_sigterm_stores_what_was_read(
    spatialite_url: str, tmp_path: Path, mqtt_broker: tuple[str, int]
) -> None:
    engine = make_engine(spatialite_url)
    people = dict(zip(TRANSPORTS, build_world(engine, len(TRANSPORTS)).people, strict=True))
    track = visit_track()[:30]
    valid = nmea(track)
    noisy = GARBAGE + b"\r\n" + valid + b"$GPGGA,garbage*00\r\n"
    log = tmp_path / "replay.nmea"
    log.write_bytes(noisy)
    serial, receiver = Pty(), Pty()
    http_port, tcp_port, gpsd_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "PARTYMAP_DATABASE_URL": spatialite_url,
        "PARTYMAP_DATA_DIR": str(tmp_path),
        "PARTYMAP_INGEST_MQTT_CLIENT_ID": f"ingest-test-{os.getpid()}",
        "PARTYMAP_INGEST_BATCH_SECONDS": "0.02",
    }
    u = {t: p.uid for t, p in people.items()}
    command = [
        sys.executable, "-c", "from partymap.cli import main; main()", "serve",
        "--port", str(http_port), "--tcp-port", str(tcp_port),
        "--mqtt", f"{mqtt_broker[0]}:{mqtt_broker[1]}",
        "--serial", f"{serial.name}={u['serial']}@115200",
        "--gpsd", f"127.0.0.1:{gpsd_port}={u['gpsd']}",
        "--replay", f"{log}={u['replay']}",
    ]  # fmt: skip
    with gpsd(gpsd_port, receiver.name):
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        try:
            source_up = lambda: any(  # noqa: E731
                n == "partymap_source_connections_total" and "mqtt" in labels and v >= 1
                for (n, labels), v in metrics(http_port).items()
            )
            up = lambda: _answers(http_port) and source_up()  # noqa: E731
            try:
                wait_for(up, what="serve up, MQTT subscribed")
            except AssertionError as exc:  # say how far the server got
                answered = _answers(http_port)
                proc.kill()
                printed = proc.communicate()[1][-3000:]
                exc.add_note(f"HTTP answered: {answered}; serve printed:\n{printed}")
                raise
            time.sleep(0.5)
            run(over_tcp(tcp_port, people["tcp"], noisy))
            run(over_mqtt(mqtt_broker, people["mqtt"], noisy))
            serial.write(noisy)
            for k in range(0, len(valid), 4096):  # gpsd relays what it accepts, as it comes
                receiver.write(valid[k : k + 4096])
                time.sleep(0.02)
            token = people["http"].token
            response = httpx.post(
                f"http://127.0.0.1:{http_port}/api/v1/devices/{u['http']}/nmea",
                content=noisy,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
                timeout=10,
            )
            assert response.status_code == 202
            expected = lines_in(noisy)
            for transport in ("tcp", "mqtt", "serial", "replay", "http"):
                wait_for(
                    lambda t=transport: lines_decoded(metrics(http_port), t) == expected,
                    what=f"every line from {transport} counted",
                )
            samples = metrics(http_port)
            proc.send_signal(signal.SIGTERM)
            _, errors = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
            serial.close()
            receiver.close()
    assert proc.returncode == 0, errors[-3000:]
    assert "Traceback" not in errors, errors[-3000:]
    rejected = {
        labels for (name, labels), v in samples.items()
        if name == "partymap_ingest_line_outcomes_total" and 'outcome="rejected"' in labels and v
    }  # fmt: skip
    assert any('source="tcp"' in labels and 'reason="binary"' in labels for labels in rejected)
    assert samples["partymap_source_rejected_bad_topic_total", _mqtt_label(samples)] == 1
    try:
        # SIGTERM closed the devices' open epochs: every epoch sent is stored, over every
        # transport (gpsd forwards only what it accepted, and may hold the last epoch back).
        for transport, person in people.items():
            got = len(stored(engine, person.device_id))
            assert got == len(track) or (transport == "gpsd" and got >= len(track) - 2), transport
    finally:
        engine.dispose()


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _mqtt_label(samples: dict[tuple[str, str], float]) -> str:
    return next(
        labels
        for name, labels in samples
        if name == "partymap_source_rejected_bad_topic_total" and "mqtt" in labels
    )
