"""Helpers for the live stream over a real server: uvicorn in a thread, events as the pipeline
publishes them, and a reader that collects a stream's lines in the background."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from queue import Empty, Queue
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from api.app import PROXY_HEADERS
from devkit.services import free_port
from tests.api.world import World

BRANCH_OF = {"self": "B1", "peer": "B1", "sibling": "B2", "outside": "B3"}
CHAIN = {"B1": ("C1", "G1", "B1"), "B2": ("C1", "G1", "B2"), "B3": ("C2", "B3")}


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on a free port; yields its base URL."""
    config = uvicorn.Config(app, port=free_port(), log_level="warning", proxy_headers=PROXY_HEADERS)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def org_path(world: World, branch: str) -> str:
    return "/" + "/".join(str(world.org_ids[k]) for k in CHAIN[branch]) + "/"


def event(world: World, target: str, kind: str = "checkin", branch: str | None = None) -> Any:
    """An event about ``target``'s member as the pipeline publishes it; ``branch`` overrides
    the organisation the event says the member is in (a pipeline not yet refreshed)."""
    t = world.targets[target]
    return {
        "type": kind,
        "member_id": t.member_id,
        "org_id": t.org_id,
        "org_path": org_path(world, branch or BRANCH_OF[target]),
        "site_id": t.site_id,
        "time": "2026-05-01T08:22:00+00:00",
    }


class StreamReader:
    """Reads ``GET /api/v1/stream`` (or ``path``) in a thread; ``lines`` receives every line,
    then None when the server closes the stream."""

    def __init__(self, base: str, headers: dict[str, str], path: str = "/api/v1/stream") -> None:
        self.lines: Queue[str | None] = Queue()
        self.status: int | None = None
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(base + path, headers), daemon=True)
        self._client = httpx.Client(timeout=30)
        self._thread.start()
        assert self._opened.wait(20), "the stream did not open"

    def _read(self, url: str, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                self.status = response.status_code
                lines = response.iter_lines()
                if response.status_code == 200:
                    assert next(lines).startswith(":")  # open and subscribed
                self._opened.set()
                for line in lines:
                    self.lines.put(line)
        except (httpx.HTTPError, RuntimeError):
            pass
        finally:
            self._opened.set()
            self.lines.put(None)

    def until(self, done: Any, timeout: float = 10.0) -> tuple[list[str], bool]:
        """Data and event lines until ``done(line)`` holds (True) or the stream ends or the
        time is up (False)."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except Empty:
                continue
            if line is None:
                return seen, False
            if line.startswith(("data: ", "event: ")):
                seen.append(line)
                if done(line):
                    return seen, True
        return seen, False

    def ended(self, timeout: float) -> bool:
        """Whether the server closes the stream within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.lines.get(timeout=0.1) is None:
                    return True
            except Empty:
                continue
        return False

    def close(self) -> None:
        self._client.close()
        self._thread.join(timeout=10)
