"""The seam between the HTTP ingest endpoint and the ingestion daemon.

``POST /api/v1/devices/{uid}/nmea`` checks the device token and hands the body to an
:class:`IngestSink`; the daemon of ``partymap serve`` passes one to :func:`api.app.create_app`.
Without a sink the endpoint answers 503: the API alone stores no positions; so does a sink
that raises :class:`IngestUnavailableError` (the daemon is stopping); a sink that cannot take a
body whole raises :class:`IngestTooLargeError` (413).

>>> import asyncio
>>> sink = MemorySink()
>>> asyncio.run(sink.send("imei-1", b"$GNGGA,...\\r\\n"))
>>> sink.received
[('imei-1', b'$GNGGA,...\\r\\n')]
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class IngestUnavailableError(RuntimeError):
    """The sink takes no more NMEA for now (its daemon is stopping): try again later."""


class IngestTooLargeError(ValueError):
    """The body cannot be taken whole (on a cluster's edge: it holds a line longer than one
    NATS message can carry); nothing of it was taken, and posting it again will not help."""


@runtime_checkable
class IngestSink(Protocol):
    """Where NMEA bytes posted by a device go.

    ``send`` returns once the fixes of the bytes are stored (the daemon's: committed, the
    body's last epoch included); under backpressure it awaits, so a device that posts faster
    than the pipeline stores is slowed down rather than dropped. It raises
    :class:`IngestUnavailableError` when it cannot take them or they were not stored, and
    :class:`IngestTooLargeError` when it can never take them as they are.
    """

    async def send(self, device_id: str, data: bytes) -> None: ...

    async def revoke(self, device_id: str) -> None:
        """The device's token was rotated or the device deactivated: end its open sessions on
        every transport now (it must register again with what it has left)."""
        ...

    def device_lines(self, device_id: str) -> dict[str, int] | None:
        """The device's NMEA sentences decoded since the pipeline started, by outcome
        (``accepted`` or the rejection's reason); None: no pipeline decodes NMEA here."""
        ...

    def status(self) -> dict[str, object]:
        """What ``/healthz`` reports of ingestion: ``state`` is ``running``, ``degraded`` (some
        devices' lines are set aside), ``stopping`` or ``failed`` (nothing is ingested)."""
        ...


class MemorySink:
    """An :class:`IngestSink` that keeps what it was sent (tests, and a dry run of the API)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.revoked: list[str] = []

    async def send(self, device_id: str, data: bytes) -> None:
        self.received.append((device_id, data))

    async def revoke(self, device_id: str) -> None:
        self.revoked.append(device_id)

    def device_lines(self, device_id: str) -> dict[str, int] | None:
        return None

    def status(self) -> dict[str, object]:
        return {"state": "running"}
