"""Nodes of a partymap cluster as processes (``partymap serve --role …``), for the cluster drills
and ``bench/cluster.py``: start, read ``/healthz``, stop (SIGTERM) or kill (SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from devkit.services import free_port

ROOT = Path(__file__).resolve().parents[1]


class Node:
    """One ``partymap serve --role ROLE`` process on its own HTTP (and, for edges, TCP) port."""

    def __init__(
        self, role: str, env: dict[str, str], *, name: str, log_dir: Path, tcp: bool = False
    ) -> None:
        self.role = role
        self.name = name
        self.env = {**os.environ, **env, "PARTYMAP_CLUSTER_WORKER_ID": name}
        self.port = free_port()
        self.tcp_port = free_port() if tcp else None
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Node:
        command = [
            sys.executable, "-c", "from partymap.cli import main; main()", "serve",
            "--role", self.role, "--port", str(self.port), "--host", "127.0.0.1",
        ]  # fmt: skip
        command += ["--tcp-port", str(self.tcp_port)] if self.tcp_port else ["--no-tcp"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(command, env=self.env, cwd=ROOT, stdout=log, stderr=log)
        return self

    def health(self) -> dict[str, Any] | None:
        try:
            answer = httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
        except httpx.HTTPError:
            return None
        return answer.json() if answer.status_code == 200 else None

    def wait_up(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.health() is None:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not answer: {self.log_tail()}")
            time.sleep(0.2)

    def partitions(self) -> list[int]:
        health = self.health()
        return list(health["cluster"]["partitions"]) if health else []

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def log_tail(self, size: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-size:]
