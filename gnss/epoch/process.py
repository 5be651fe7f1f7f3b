"""The fast path on a core of its own: a :class:`~gnss.epoch.batch.BatchDecoder` in a child process.

A daemon that reads thousands of sockets on its event loop and decodes their lines on another
thread has both take turns on one interpreter lock, and decoding is the larger share.
:class:`DecoderProcess` keeps the decoder in a child process and asks it over a pipe what the
ingestion pipeline asks a ``BatchDecoder`` — a batch's fixes as columns, a device's open epoch,
a stream's last fixes — so one batch is decoded while the event loop reads the next. Answers
are the in-process decoder's exactly (the tests compare them): the child *is* a BatchDecoder.

Device codes are given by the child in order of first appearance; every answer carries the
ids that are new since the last one, so :attr:`DecoderProcess.device_ids` and
:meth:`DecoderProcess.code` need no round trip. Chunks cross as columns (ids, one joined
buffer, lengths, arrival times) rather than as pickled objects.

The child ignores SIGINT and SIGTERM: stopping is its parent's decision (the daemon still has
open epochs to close when a terminal's Ctrl-C reaches the whole process group), and it ends
when its pipe closes, including when the parent is killed. An exception in the child is raised
in the parent with the child's traceback as a note; a child that died raises
:class:`DecoderProcessError`.
"""

from __future__ import annotations

import copyreg
import os
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

import numpy as np

from gnss.epoch.batch import BatchDecoder, FixBatch
from gnss.model import Fix, RawChunk
from gnss.nmea.scan import decode_lines

__all__ = ["DecoderProcess", "DecoderProcessError", "serve"]

_CHILD = "import sys; from gnss.epoch.process import serve; serve(int(sys.argv[1]))"
_ROOT = str(Path(__file__).resolve().parents[1])  # where the child imports gnss from


class DecoderProcessError(RuntimeError):
    """The decoder's process is gone (killed, or out of memory); its state went with it."""


class DecoderProcess:
    """A ``BatchDecoder`` in a child process; :meth:`close` (or leaving ``with``) ends it.

    Calls may come from any one thread at a time (they are serialised)."""

    def __init__(self) -> None:
        # A fresh interpreter rather than multiprocessing's spawn, which would run the parent's
        # main script again in the child (a CLI's, a test runner's), or fork, which would copy
        # a threaded parent's locks in whatever state they were.
        ours, theirs = socket.socketpair()
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([_ROOT, path] if path else [_ROOT])}
        self._process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            env=env,
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        self._lock = threading.Lock()
        self._ids: list[str] = []
        self._codes: dict[str, int] = {}

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def device_ids(self) -> list[str]:
        """Every device seen, by code (as :attr:`BatchDecoder.device_ids`)."""
        return self._ids

    def code(self, device_id: str) -> int | None:
        """The device's code (None: not seen yet)."""
        return self._codes.get(device_id)

    def decode_table(self, chunks: Sequence[RawChunk]) -> FixBatch:
        """The batch's fixes as columns (as :meth:`BatchDecoder.decode_table`)."""
        ids = [c.device_id for c in chunks]
        data = b"".join([c.data for c in chunks])
        lengths = np.fromiter((len(c.data) for c in chunks), np.int64, len(chunks))
        received = np.fromiter((c.received_at for c in chunks), np.float64, len(chunks))
        batch: FixBatch = self._ask("decode", ids, data, lengths, received)
        return batch

    def open_lines(self, device_id: str) -> list[bytes]:
        """The lines of the device's open epoch (as :meth:`BatchDecoder.open_lines`)."""
        lines: list[bytes] = self._ask("open_lines", device_id)
        return lines

    def flush(self, device_id: str | None = None) -> dict[str, list[Fix]]:
        """Closes open epochs, all or one device's (as :meth:`BatchDecoder.flush`)."""
        fixes: dict[str, list[Fix]] = self._ask("flush", device_id)
        return fixes

    def close(self) -> None:
        """Ends the child (its state is dropped: flush first what must be kept)."""
        with self._lock:
            self._conn.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> DecoderProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _ask(self, op: str, *args: Any) -> Any:
        with self._lock:
            try:
                self._conn.send((op, *args))
                status, new_ids, answer = self._conn.recv()
            except (EOFError, OSError) as exc:
                try:
                    code = self._process.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    code = None
                raise DecoderProcessError(
                    f"the decoder process is gone (exit code {code})"
                ) from exc
        for device_id in new_ids:
            self._codes[device_id] = len(self._ids)
            self._ids.append(device_id)
        if status == "error":
            raise answer
        return answer


def serve(fd: int) -> None:
    """The child: answer requests on the socket ``fd`` until it closes."""
    conn = Connection(fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # A Fix's counts by constellation are read-only views, which pickle does not take: they
    # cross as the dicts they view and are wrapped again on arrival.
    copyreg.pickle(MappingProxyType, lambda view: (_read_only, (dict(view),)))
    decoder = BatchDecoder()
    # Load the compiled line scanner now, while the daemon starts, rather than in its first
    # batch (in a fresh install this compiles it: seconds, once).
    decode_lines(b"\n")
    known = 0
    while True:
        try:
            op, *args = conn.recv()
        except EOFError:
            return
        try:
            status, answer = "ok", _answer(decoder, op, args)
        except Exception as exc:
            exc.add_note(f"in the decoder process:\n{traceback.format_exc()}")
            status, answer = "error", exc
        ids = decoder.device_ids
        try:
            conn.send((status, ids[known:], answer))
        except (BrokenPipeError, EOFError):
            return
        except Exception:  # an exception that does not pickle: its text still reaches the parent
            conn.send(("error", ids[known:], RuntimeError(traceback.format_exc())))
        known = len(ids)


def _answer(decoder: BatchDecoder, op: str, args: list[Any]) -> object:
    if op == "decode":
        ids, data, lengths, received = args
        ends = np.cumsum(lengths).tolist()
        starts = [0, *ends][:-1]
        chunks = [
            RawChunk(device_id, data[a:b], t)
            for device_id, a, b, t in zip(ids, starts, ends, received.tolist(), strict=True)
        ]
        return decoder.decode_table(chunks)
    if op == "open_lines":
        return decoder.open_lines(args[0])
    if op == "flush":
        return decoder.flush(args[0])
    raise ValueError(f"unknown request {op!r}")


def _read_only(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(mapping)
