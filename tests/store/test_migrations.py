"""Migrations: upgrade from empty and back on both databases, and agree with the models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, Integer, MetaData, inspect, text
from sqlalchemy.exc import IntegrityError

from store import migrations
from store.db import make_engine
from store.models import Base
from tests.store.conftest import BACKENDS, ScratchDatabases


@pytest.fixture(params=BACKENDS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database with spatial support and no tables of ours."""
    if request.param == "spatialite":
        url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    else:
        scratch: ScratchDatabases = request.getfixturevalue("scratch_postgis")
        url = scratch.create()
    engine = make_engine(url)
    yield engine
    engine.dispose()


def differences(engine: Engine, metadata: MetaData) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_object": migrations.include_object, "compare_type": True},
        )
        return list(compare_metadata(context, metadata))


def test_upgrade_from_empty_matches_the_models(empty_engine: Engine) -> None:
    assert migrations.current_revision(empty_engine) is None
    migrations.upgrade(empty_engine)
    assert migrations.current_revision(empty_engine) == migrations.head_revision()
    assert differences(empty_engine, Base.metadata) == []
    tables = set(inspect(empty_engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with empty_engine.connect() as connection:
        assert connection.scalar(text("SELECT value FROM counters WHERE name = 'site_set'")) == 0


def test_the_comparison_would_notice_a_drift(empty_engine: Engine) -> None:
    migrations.upgrade(empty_engine)
    drifted = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["members"].append_column(Column("shoe_size", Integer))
    assert [d[0] for d in differences(empty_engine, drifted)] == ["add_column"]


def test_downgrade_to_empty_and_upgrade_again(empty_engine: Engine) -> None:
    migrations.upgrade(empty_engine)
    migrations.downgrade(empty_engine, "base")
    assert migrations.current_revision(empty_engine) is None
    assert not set(Base.metadata.tables) & set(inspect(empty_engine).get_table_names())
    migrations.upgrade(empty_engine)
    assert differences(empty_engine, Base.metadata) == []


def test_upgrade_twice_is_harmless(empty_engine: Engine) -> None:
    migrations.upgrade(empty_engine)
    migrations.upgrade(empty_engine)
    assert migrations.current_revision(empty_engine) == migrations.head_revision()


def test_spatialite_positions_keep_the_geometry_check_but_not_the_timestamps(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.sqlite'}")
    try:
        migrations.upgrade(engine)
        with engine.connect() as connection:
            triggers = set(
                connection.scalars(
                    text(
                        "SELECT name FROM sqlite_master "
                        "WHERE type = 'trigger' AND tbl_name = 'positions'"
                    )
                )
            )
            assert "ggi_positions_geom" in triggers
            assert not {"tmi_positions_geom", "tmu_positions_geom"} & triggers
            insert = (
                "INSERT INTO positions "
                "(device_id, received_at, fix_time, mode, quality, source, geom) VALUES "
                "(1, '2026-05-01 08:00:00.000000', '2026-05-01 08:00:00.000000', 3, 1, 't', {})"
            )
            connection.execute(text(insert.format("MakePoint(114.3, 30.5, 4326)")))
            with pytest.raises(IntegrityError, match="violates Geometry constraint"):
                connection.execute(text(insert.format("MakePoint(114.3, 30.5, 3857)")))
    finally:
        engine.dispose()
