"""Throwaway servers for partymap's tests and benchmarks: a PostgreSQL + PostGIS cluster and a
Mosquitto broker, each started in a temporary directory on a free port and removed afterwards.

>>> with throwaway_postgis() as url:          # doctest: +SKIP
...     print(url)
postgresql+psycopg://postgres@127.0.0.1:45123/partymap
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


class ServerUnavailableError(RuntimeError):
    """A server the tests need cannot be started; the message says how to install it."""


def free_port() -> int:
    """A port no one listens on, for a server to bind soon after.

    Chosen below the kernel's ephemeral range: a port from that range (what binding port 0
    gives) can become the local end of any outgoing connection before the server binds it, and
    on a machine making thousands of connections it sometimes does.
    """
    low = _ephemeral_low()
    share, shares = _share
    width = (low - 10_000) // shares
    first = 10_000 + share * width
    while True:
        port = _ports.randrange(first, first + width) if width > 1_000 else 0
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            port = int(s.getsockname()[1])
        _given.add(port)
        return port


_ports = random.Random()  # its own: tests may seed the module's generator
_given: set[int] = set()
_share = (0, 1)  # this process's slice of the ports below the ephemeral range, and the slices


def share_ports(index: int, count: int) -> None:
    """From now on :func:`free_port` chooses from slice ``index`` of ``count`` equal slices of its
    range: processes given different slices never choose the same port, even one whose server
    is briefly stopped to be restarted on it (the test processes of one run do this).

    >>> before = _share
    >>> share_ports(1, 2)
    >>> free_port() >= 10_000 + (_ephemeral_low() - 10_000) // 2
    True
    >>> share_ports(*before)
    """
    if not 0 <= index < count:
        raise ValueError(f"slice {index} of {count}")
    global _share  # noqa: PLW0603 - one setting per process, made once by the test session
    _share = (index, count)


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _pg_bindir() -> Path:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    for initdb in reversed(candidates):
        major = initdb.parent.parent.name
        if Path(f"/usr/share/postgresql/{major}/extension/postgis.control").exists():
            return initdb.parent
    raise ServerUnavailableError(
        "PostgreSQL with PostGIS is not installed: run ./scripts/test, or "
        "`sudo apt-get install postgresql postgresql-postgis`"
    )


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextlib.contextmanager
def throwaway_postgis(dbname: str = "partymap") -> Iterator[str]:
    """Start a private PostgreSQL cluster with PostGIS; yield its SQLAlchemy URL; remove it."""
    bindir = _pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="partymap-pg-"))
    data = root / "data"
    port = free_port()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            env=env,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -k {root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200 -c shared_buffers=256MB"
        )
        subprocess.run(
            _as_postgres(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(root / "log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            env=env,
        )
        psql = [
            str(bindir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
        ]
        subprocess.run([*psql, "-c", f"CREATE DATABASE {dbname}"], check=True, capture_output=True)
        subprocess.run(
            [*psql, "-d", dbname, "-c", "CREATE EXTENSION postgis"], check=True, capture_output=True
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{dbname}"
    except subprocess.CalledProcessError as exc:
        log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
        raise ServerUnavailableError(
            f"throwaway PostGIS failed: {exc.cmd}: {exc.stderr!r}\n{log[-2000:]}"
        ) from exc
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                check=False,
                capture_output=True,
            )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def throwaway_mosquitto() -> Iterator[tuple[str, int]]:
    """Start a private Mosquitto broker on a free port; yield (host, port); stop it."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        raise ServerUnavailableError(
            "mosquitto is not installed: run ./scripts/test, or `sudo apt-get install mosquitto`"
        )
    root = Path(tempfile.mkdtemp(prefix="partymap-mqtt-"))
    port = free_port()
    conf = root / "mosquitto.conf"
    user = "user root\n" if os.geteuid() == 0 else ""
    conf.write_text(
        f"{user}listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        f"max_queued_messages 100000\n"
    )
    proc = subprocess.Popen(
        [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait_for_port(port, proc, "mosquitto")
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if proc.stderr:
            proc.stderr.close()
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise ServerUnavailableError(f"{name} exited with {proc.returncode}: {err}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise ServerUnavailableError(f"{name} did not listen on port {port} within 20 s")
