"""A throwaway 3-node NATS cluster with JetStream on loopback, for the cluster drills and
``bench/cluster.py`` (Debian's ``nats-server``; ``scripts/bootstrap --test`` installs it).

>>> with NatsCluster() as cluster:  # doctest: +SKIP
...     cluster.url           # "nats://127.0.0.1:p1,nats://127.0.0.1:p2,nats://127.0.0.1:p3"
...     cluster.kill(0)       # SIGKILL one server (its JetStream files stay)
...     cluster.start(0)      # bring it back on the same ports and files
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from devkit.services import ServerUnavailableError, free_port


class NatsCluster:
    """``size`` nats-server processes routed to each other, JetStream on each; ``max_payload``:
    the longest message they take (None: the server's default, 1 MB)."""

    def __init__(self, size: int = 3, *, max_payload: int | None = None) -> None:
        exe = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not Path(exe).exists():
            raise ServerUnavailableError(
                "nats-server is not installed: run scripts/bootstrap --test "
                "(or `sudo apt-get install nats-server`)"
            )
        self.exe = exe
        self.root = Path(tempfile.mkdtemp(prefix="partymap-nats-"))
        self.ports = [free_port() for _ in range(size)]
        self.routes = [free_port() for _ in range(size)]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * size
        self.max_payload = max_payload

    @property
    def url(self) -> str:
        return ",".join(f"nats://127.0.0.1:{p}" for p in self.ports)

    def _config(self, i: int) -> Path:
        routes = ", ".join(
            f"nats-route://127.0.0.1:{r}" for k, r in enumerate(self.routes) if k != i
        )
        conf = self.root / f"n{i}.conf"
        conf.write_text(
            f"server_name: n{i}\nlisten: 127.0.0.1:{self.ports[i]}\n"
            f"jetstream {{ store_dir: '{self.root / f'n{i}'}', max_memory_store: 256MB, "
            f"max_file_store: 2GB }}\n"
            f"cluster {{ name: partymap, listen: 127.0.0.1:{self.routes[i]}, "
            f"routes: [{routes}] }}\n"
            + (f"max_payload: {self.max_payload}\n" if self.max_payload else "")
        )
        return conf

    def start(self, i: int) -> None:
        with (self.root / f"n{i}.log").open("ab") as log:
            self.procs[i] = subprocess.Popen(
                [self.exe, "-c", str(self._config(i))], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.ports[i])) == 0:
                    return
            time.sleep(0.05)
        raise ServerUnavailableError(f"nats-server n{i} did not start: see {self.root}")

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        if proc is not None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            self.procs[i] = None

    def __enter__(self) -> NatsCluster:
        for i in range(len(self.ports)):
            self.start(i)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for i, proc in enumerate(self.procs):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.kill(i)
        shutil.rmtree(self.root, ignore_errors=True)
