"""The decoder process under its supervisor: a child killed with SIGKILL is reported at once and
for good, fails the daemon (``/healthz`` failed, posts refused) without quarantining any device
for it, and a daemon's stop ends its child."""

from __future__ import annotations

import os
import signal

import pytest
from sqlalchemy import Engine

from api.ingest import IngestUnavailableError
from gnss.epoch.process import DecoderProcessError
from gnss.model import RawChunk
from partymap.ingest.daemon import Daemon
from partymap.ingest.supervisor import DecoderSupervisor
from partymap.settings import Settings
from tests.ingest.helpers import build_world, nmea, stored, visit_track
from tests.ingest.test_daemon import HTTP_ONLY, send
from tests.sources.helpers import run, wait_until

ZDA = b"$GPZDA,120000,01,05,2026,,*49\r\n"


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_killed_decoder_is_reported_at_once_and_for_good() -> None:
    supervisor = DecoderSupervisor()
    try:
        assert supervisor.decode_table([RawChunk("a", ZDA, 0.0)]).devices.tolist() == [0]
        assert supervisor.death is None
        os.kill(supervisor.process.pid, signal.SIGKILL)
        with pytest.raises(DecoderProcessError, match="exit code -9") as raised:
            supervisor.decode_table([RawChunk("a", ZDA, 1.0)])
        assert supervisor.death is raised.value
        # Every later call fails with the same report; what needs no round trip still answers.
        for call in (lambda: supervisor.open_lines("a"), supervisor.flush):
            with pytest.raises(DecoderProcessError, match="exit code -9"):
                call()
        assert supervisor.device_ids == ["a"] and supervisor.code("a") == 0
    finally:
        supervisor.close()
        supervisor.close()  # once is enough; twice does no harm
    assert gone(supervisor.process.pid)


def test_a_daemon_whose_decoder_is_killed_fails_and_quarantines_no_one(
    settings: Settings, engine: Engine
) -> None:
    assert settings.ingest_decoder_process
    a, b = build_world(engine, 2).people
    track = visit_track()

    async def go() -> tuple[Daemon, dict[str, object], int]:
        daemon = Daemon(settings, engine, HTTP_ONLY)
        await daemon.start()
        try:
            await send(daemon, a.uid, nmea(track[:5]))
            assert daemon.decoder is not None
            pid = daemon.decoder.process.pid
            os.kill(pid, signal.SIGKILL)
            # No data needed: an idle pipeline asks the decoder every idle period.
            await wait_until(daemon.failed.is_set, what="the daemon failed")
            for person in (a, b):
                with pytest.raises(IngestUnavailableError):
                    await send(daemon, person.uid, nmea(track[5:10]))
            status = daemon.status()
        finally:
            await daemon.stop()
        return daemon, status, pid

    daemon, status, pid = run(go())
    assert isinstance(daemon.failure, DecoderProcessError)
    assert daemon.decoder is not None and daemon.failure is daemon.decoder.death
    assert status["state"] == "failed"
    assert not daemon.stats.quarantined_devices and daemon.stats.batches_failed == 0
    assert len(stored(engine, a.device_id)) == 5 and not stored(engine, b.device_id)
    assert gone(pid)


def test_a_daemons_stop_ends_its_decoder(settings: Settings, engine: Engine) -> None:
    (person,) = build_world(engine, 1).people

    async def go() -> tuple[Daemon, int]:
        async with Daemon(settings, engine, HTTP_ONLY) as daemon:
            await send(daemon, person.uid, nmea(visit_track()[:5]))
            assert daemon.decoder is not None
            pid = daemon.decoder.process.pid
            assert not gone(pid)
        return daemon, pid

    daemon, pid = run(go())
    assert daemon.failure is None and gone(pid)
    assert len(stored(engine, person.device_id)) == 5
