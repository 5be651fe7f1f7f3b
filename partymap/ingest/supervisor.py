"""The decoder process from start to stop: started for the pipeline, asked through one object
that notices its death, and ended with the daemon.

:class:`~gnss.epoch.process.DecoderProcess` is the child itself (gnss: a pipe, a protocol, an
exit code). :class:`DecoderSupervisor` is what the daemon does with it: it starts one, the
decoding stage asks it what it would ask a :class:`~gnss.epoch.batch.BatchDecoder`, a lost
child is recorded as :attr:`DecoderSupervisor.death` and every later call fails with it at once
(no round trip to a pipe known to be broken), and :meth:`DecoderSupervisor.close` ends the
child once, whoever asks.

A dead decoder is not restarted. It held every device's open epoch and numbered the devices the
decoding stage has already attributed, and the resume points of replayed logs are settled from
its open epochs: a fresh child would number devices anew and let a replayed log resume past
lines never stored. So its death stops the pipeline like any fault that is not in one device's
data (:class:`~partymap.ingest.runner.PipelineRunner` does not take the batch apart for it):
the daemon fails, ``/healthz`` says ``failed``, and ``partymap serve`` exits 1 for its service
manager to start it again, replayed logs resuming from their committed offsets. An idle pipeline
still asks the decoder once every idle period, so a death is noticed then at the latest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from gnss.epoch.batch import FixBatch
from gnss.epoch.process import DecoderProcess, DecoderProcessError
from gnss.model import Fix, RawChunk

T = TypeVar("T")


class DecoderSupervisor:
    """One decoder process, started now, asked as a ``BatchDecoder`` is; calls come from the
    pipeline thread, :meth:`close` from any one other."""

    def __init__(self) -> None:
        self.process = DecoderProcess()
        self.death: DecoderProcessError | None = None  # why the child is gone, once it is
        self._closed = False

    @property
    def device_ids(self) -> list[str]:
        """Every device seen, by code (known in this process: no round trip)."""
        return self.process.device_ids

    def code(self, device_id: str) -> int | None:
        return self.process.code(device_id)

    def decode_table(self, chunks: Sequence[RawChunk]) -> FixBatch:
        return self._ask(self.process.decode_table, chunks)

    def open_lines(self, device_id: str) -> list[bytes]:
        return self._ask(self.process.open_lines, device_id)

    def flush(self, device_id: str | None = None) -> dict[str, list[Fix]]:
        return self._ask(self.process.flush, device_id)

    def close(self) -> None:
        """End the child (its open epochs go with it: flush first what must be kept)."""
        if not self._closed:
            self._closed = True
            self.process.close()

    def _ask(self, ask: Callable[..., T], *args: object) -> T:
        if self.death is not None:
            raise DecoderProcessError(*self.death.args) from self.death
        try:
            return ask(*args)
        except DecoderProcessError as death:
            self.death = death
            raise
