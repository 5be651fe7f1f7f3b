"""The drill: PostgreSQL stopped for 30 s while devices stream over TCP. The write buffer fills,
the daemon stops reading its sockets (backpressure), retries, and once the database is back
every fix sent is stored — none lost, none twice."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from api.app import create_app
from devkit.devicesim import Credential, DeviceFleet
from devkit.services import _as_postgres, _pg_bindir, throwaway_postgis
from partymap.ingest.daemon import Daemon
from partymap.ingest.sources import SourcePlan
from partymap.ingest.writer import is_transient
from partymap.settings import Settings
from store.db import make_engine, make_sessionmaker
from store.migrations import upgrade
from store.positions import newest_position_id
from tests.ingest.helpers import build_world, count_positions, nmea, stored, visit_track
from tests.ingest.test_daemon import HTTP_ONLY
from tests.sources.helpers import run, wait_until

OUTAGE_S = 30.0


class Cluster:
    """Stops and starts the throwaway cluster behind an engine, with the same settings."""

    def __init__(self, engine: Engine) -> None:
        with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
            show = {
                name: connection.execute(text(f"SHOW {name}")).scalar_one()
                for name in (
                    "data_directory",
                    "port",
                    "listen_addresses",
                    "unix_socket_directories",
                )
            }
            # The cluster was started with these as options: keep them for the restart.
            for name in ("port", "listen_addresses", "unix_socket_directories"):
                connection.execute(text(f"ALTER SYSTEM SET {name} = '{show[name]}'"))
        self.data = Path(show["data_directory"])
        self.pg_ctl = str(_pg_bindir() / "pg_ctl")

    def _run(self, *args: str) -> None:
        subprocess.run(_as_postgres([self.pg_ctl, "-D", str(self.data), *args]), check=True,
                       capture_output=True)  # fmt: skip

    def stop(self) -> None:
        self._run("-m", "fast", "-w", "stop")

    def start(self) -> None:
        self._run("-w", "-t", "60", "-l", str(self.data.parent / "restart.log"), "start")


@contextmanager
def migrated_postgis() -> Iterator[Engine]:
    with throwaway_postgis() as url:
        engine = make_engine(url)
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.mark.slow
@pytest.mark.postgis
def test_a_database_outage_of_30_seconds_loses_no_fix(tmp_path: Path) -> None:
    with migrated_postgis() as engine:
        people = build_world(engine, 20).people
        credentials = [Credential(p.uid, p.token) for p in people]
        cluster = Cluster(engine)
        settings = Settings(
            data_dir=tmp_path,
            ingest_batch_seconds=0.05,
            ingest_buffer_fixes=300,  # filled ten seconds into the outage
            ingest_retry_max_seconds=1.0,
            ingest_directory_refresh_seconds=2.0,
        )
        plan = SourcePlan(tcp_port=0, tcp_host="127.0.0.1", http=False)

        async def scenario() -> tuple[int, Daemon, list[bool]]:
            paused: list[bool] = []
            async with Daemon(settings, engine, plan) as daemon:
                assert daemon.sources.tcp is not None
                async with DeviceFleet("127.0.0.1", daemon.sources.tcp.port, credentials) as fleet:
                    await wait_until(lambda: daemon.sources.tcp.registered_devices == len(people))  # type: ignore[union-attr]
                    sending = asyncio.create_task(fleet.send(seconds=OUTAGE_S + 12, rate_hz=1))
                    await asyncio.sleep(4)
                    await asyncio.to_thread(cluster.stop)
                    stopped = time.monotonic()
                    while time.monotonic() - stopped < OUTAGE_S:
                        paused.append(daemon.stats.sources_paused)
                        await asyncio.sleep(0.5)
                    await asyncio.to_thread(cluster.start)
                    await sending
                    sent = fleet.report.epochs
            return sent, daemon, paused

        sent, daemon, paused = run(scenario(), timeout=OUTAGE_S + 90)
        assert daemon.stats.write_retries > 0
        assert any(paused), "the full buffer never held the sources back"
        assert daemon.stats.batches_dropped == 0
        assert count_positions(engine) == sent
        with engine.connect() as connection:
            doubles = connection.execute(
                text(
                    "SELECT count(*) FROM (SELECT device_id, fix_time FROM positions "
                    "GROUP BY device_id, fix_time HAVING count(*) > 1) d"
                )
            ).scalar_one()
        assert doubles == 0


def test_a_write_colliding_with_another_is_tried_again_not_dropped(tmp_path: Path) -> None:
    """On SQLite positions are written through the driver itself, so "database is locked"
    arrives as the driver's own error, not SQLAlchemy's: it must still count as passing."""
    engine = make_engine(f"sqlite:///{tmp_path / 'locked.sqlite'}")
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    try:
        with sessions() as writer, sessions() as api:
            newest_position_id(writer)  # the writer's transaction reads first,
            api.execute(text("CREATE TABLE elsewhere (x)"))  # another connection commits,
            api.commit()
            raw = writer.connection().connection.driver_connection
            with pytest.raises(engine.dialect.dbapi.OperationalError) as locked:
                raw.execute("DELETE FROM positions")  # and the writer's write is refused
        assert "locked" in str(locked.value)
        assert is_transient(locked.value, engine.dialect.dbapi)
        assert not is_transient(locked.value)  # SQLAlchemy's classes alone miss it
    finally:
        engine.dispose()


def test_a_pool_with_every_connection_busy_is_waited_out(tmp_path: Path) -> None:
    """The API can hold every pooled connection for a while: the writer tries again later
    rather than dropping the batch as refused."""
    engine = create_engine(
        f"sqlite:///{tmp_path / 'busy.sqlite'}", pool_size=1, max_overflow=0, pool_timeout=0.05
    )
    try:
        with engine.connect(), pytest.raises(PoolTimeoutError) as busy:
            engine.connect()
        assert is_transient(busy.value)
    finally:
        engine.dispose()


@pytest.mark.postgis
def test_http_ingest_answers_503_with_retry_after_while_the_database_is_down(
    tmp_path: Path,
) -> None:
    """PostgreSQL stopped: the device token cannot be checked, so a post is answered 503 with
    ``Retry-After`` (the device posts again), never 500; once it is back, 202 and stored."""
    with migrated_postgis() as engine:
        (person,) = build_world(engine, 1).people
        cluster = Cluster(engine)
        settings = Settings(data_dir=tmp_path, ingest_batch_seconds=0.01)
        track = visit_track()

        async def post(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
            return await client.post(
                f"/api/v1/devices/{person.uid}/nmea",
                content=body,
                headers={"Authorization": f"Bearer {person.token}"},
            )

        async def scenario() -> tuple[list[httpx.Response], list[httpx.Response]]:
            async with Daemon(settings, engine, HTTP_ONLY) as daemon:
                app = create_app(settings, engine=engine, ingest=daemon.http)
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                    assert (await post(client, nmea(track[:10]))).status_code == 202
                    await asyncio.to_thread(cluster.stop)
                    try:
                        down = [await post(client, nmea(track[10:20])) for _ in range(5)]
                    finally:
                        await asyncio.to_thread(cluster.start)
                    up: list[httpx.Response] = []
                    deadline = time.monotonic() + 30  # the pool's dead connections go first
                    while not up or up[-1].status_code != 202:
                        assert time.monotonic() < deadline, [r.status_code for r in up]
                        up.append(await post(client, nmea(track[10:20])))
            return down, up

        down, up = run(scenario(), timeout=120)
        assert [r.status_code for r in down] == [503] * len(down)
        assert all(int(r.headers["Retry-After"]) > 0 for r in down)
        assert {r.status_code for r in up} <= {202, 503}
        assert len(stored(engine, person.device_id)) == 20
