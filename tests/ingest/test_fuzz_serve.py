"""The mutated-line fuzz of ``bench/fuzz_serve.py`` at a small size, MQTT included: the server
stays up, every source's lines are counted, the well-behaved device's fixes are all stored."""

from __future__ import annotations

import subprocess
import sys

from tests.ingest.test_serve import ROOT


def test_mutated_lines_on_every_transport_spare_the_server_and_a_good_device(
    mqtt_broker: tuple[str, int],
) -> None:
    broker = f"{mqtt_broker[0]}:{mqtt_broker[1]}"
    command = [sys.executable, "bench/fuzz_serve.py", "--lines", "20000", "--mqtt", broker]
    done = subprocess.run(
        command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "server up to the end: True" in done.stdout
    assert "well-behaved device: 150 of 150 fixes stored" in done.stdout
    assert "mqtt" in done.stdout
