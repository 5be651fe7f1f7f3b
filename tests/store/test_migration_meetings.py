"""Migration 0005 on a database with meetings: they take their site's zone, and those with
stored attendance count as recorded then, with their summary; downgrading keeps them.

Regression: on SQLite, altering the meetings table dropped the old one, and its implicit delete
cascaded to every stored attendance row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from store import migrations
from store.db import make_engine
from tests.store.conftest import BACKENDS, ScratchDatabases


@pytest.fixture(params=BACKENDS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "spatialite":
        url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    else:
        scratch: ScratchDatabases = request.getfixturevalue("scratch_postgis")
        url = scratch.create()
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_existing_meetings_are_carried_over(empty_engine: Engine) -> None:
    migrations.upgrade(empty_engine, "0004")
    now = "2026-05-01 09:00:00"
    with empty_engine.begin() as c:
        c.execute(text(
            "INSERT INTO organisations (id, path, depth, kind, name, created_at) "
            f"VALUES (1, '/1/', 0, 'branch', '一支部', '{now}')"
        ))  # fmt: skip
        c.execute(text(
            "INSERT INTO members (id, org_id, name, active, created_at) VALUES "
            f"(1, 1, '甲', true, '{now}'), (2, 1, '乙', true, '{now}')"
        ))  # fmt: skip
        point = (
            "ST_GeomFromText('POINT(36.8 -1.3)', 4326)"
            if c.dialect.name == "postgresql"
            else "GeomFromText('POINT(36.8 -1.3)', 4326)"
        )
        c.execute(text(
            "INSERT INTO sites (id, org_id, name, kind, geom, radius_m, min_lon, min_lat, "
            "max_lon, max_lat, tz, params, quality, version, created_at, updated_at) VALUES "
            f"(1, 1, '营地', 'camp', {point}, 30, 36.8, -1.3, 36.8, -1.3, 'Africa/Nairobi', "
            f"'{{}}', '{{}}', 1, '{now}', '{now}')"
        ))  # fmt: skip
        for meeting in (1, 2):
            c.execute(text(
                "INSERT INTO meetings (id, org_id, site_id, kind, title, start_at, end_at, "
                "early_s, late_grace_s, left_early_margin_s, created_at) VALUES "
                f"({meeting}, 1, 1, 'PARTY_LECTURE', '党课', '{now}', '2026-05-01 10:00:00', "
                f"1800, 300, 600, '{now}')"
            ))  # fmt: skip
        c.execute(text(
            "INSERT INTO attendance (meeting_id, member_id, outcome, computed_at) VALUES "
            "(1, 1, 'present', '2026-05-01 10:20:00'), (1, 2, 'absent', '2026-05-01 10:20:00')"
        ))  # fmt: skip
    migrations.upgrade(empty_engine)
    with empty_engine.connect() as c:
        rows = c.execute(text(
            "SELECT id, tz, status, recorded_at IS NOT NULL, expected_n, present_n, absent_n, "
            "excused_n FROM meetings ORDER BY id"
        )).all()  # fmt: skip
        statuses = c.execute(text("SELECT status FROM attendance ORDER BY member_id")).all()
    assert [tuple(r) for r in rows] == [
        (1, "Africa/Nairobi", "scheduled", True, 2, 1, 1, 0),
        (2, "Africa/Nairobi", "scheduled", False, None, None, None, None),
    ]
    assert [s for (s,) in statuses] == ["present", "absent"]
    migrations.downgrade(empty_engine, "0004")
    with empty_engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM meetings")).scalar() == 2
        assert c.execute(text("SELECT count(*) FROM attendance")).scalar() == 2
