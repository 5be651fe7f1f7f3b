"""A device's decoded fixes by time range: accepted and rejected with their reasons,
positionless ones included, counted by reason; only fixes made while a member in scope (or
nobody) carried it; audited for each member they reveal."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from store.models import AuditEntry
from store.positions import PositionBatch, write_positions
from tests.api.conftest import client_for
from tests.api.world import T0, World
from tests.store.helpers import position

WINDOW = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat()}


def test_a_devices_fixes_with_reasons_positionless_ones_and_counts(
    world_app: tuple[FastAPI, World, Engine],
) -> None:
    app, world, engine = world_app
    peer, outside = world.targets["peer"], world.targets["outside"]
    with Session(engine) as db:
        # The world gave the peer's device 10 accepted fixes and one hdop_too_high; add an
        # epoch without a position, one carried by nobody, one by a member out of scope.
        batch = PositionBatch.from_positions(
            [
                position(peer.member_id, peer.device_id, 650, "no_fix", lat=None, lon=None),
                position(None, peer.device_id, 800, lat=30.5, lon=114.3),
                position(outside.member_id, peer.device_id, 900, lat=30.5, lon=114.3),
            ]
        )
        write_positions(db, batch=batch)
        db.commit()
    url = f"/api/v1/devices/{peer.device_id}/fixes"
    headers = world.headers("branch_admin")
    with client_for(app) as client:
        whole = client.get(url, params=WINDOW, headers=headers).json()
        pages, after = [], None
        while True:
            params = {**WINDOW, "limit": 5, **({"after_id": after} if after else {})}
            page = client.get(url, params=params, headers=headers).json()
            pages += page["fixes"]
            if (after := page["next_after_id"]) is None:
                break
        backwards = client.get(
            url, params={"start": WINDOW["end"], "end": WINDOW["start"]}, headers=headers
        )
        stranger = client.get(
            f"/api/v1/devices/{outside.device_id}/fixes", params=WINDOW, headers=headers
        )
    fixes = whole["fixes"]
    assert len(fixes) == 13 and pages == fixes
    assert [f["id"] for f in fixes] == sorted(f["id"] for f in fixes)
    assert outside.member_id not in {f["member_id"] for f in fixes}
    (positionless,) = [f for f in fixes if f["rejections"] == ["no_fix"]]
    assert positionless["lat"] is None and positionless["mode"] == 1
    assert [f["member_id"] for f in fixes if f["member_id"] is None] == [None]
    assert whole["counts"] == {"accepted": 11, "rejected": {"hdop_too_high": 1, "no_fix": 1}}
    assert backwards.status_code == 422 and stranger.status_code == 404
    with Session(engine) as db:
        audited = set(
            db.scalars(
                select(AuditEntry.subject_member_id).where(AuditEntry.action == "read_fixes")
            )
        )
    assert audited == {peer.member_id}
