"""Store functions the API added or needed faster: a member's track by pages, a site found by
organisation and name (the key site files are re-imported by), the audit of many members in
one statement. Both backends."""

from __future__ import annotations

import json
from datetime import timedelta

from shapely.geometry import Point
from sqlalchemy.orm import Session

from store import audit, members, sites, tracks
from store.positions import PositionBatch, write_positions
from tests.store.helpers import T0, member_with_device, position, tree


def test_track_pages_cover_the_track_once(db: Session) -> None:
    branch = tree(db).branch_a
    member_id, device_id = member_with_device(db, branch.id, "wang")
    write_positions(
        db, batch=PositionBatch.from_positions(position(member_id, device_id, s) for s in range(25))
    )
    window = {"member_id": member_id, "start": T0, "end": T0 + timedelta(minutes=1)}
    whole = tracks.track(db, **window)
    pages = [tracks.track(db, **window, limit=10, offset=offset) for offset in (0, 10, 20, 30)]
    assert [len(p) for p in pages] == [10, 10, 5, 0]
    assert [p.fix_time for page in pages for p in page] == [p.fix_time for p in whole]


def test_find_site_by_organisation_and_name(db: Session) -> None:
    t = tree(db)
    made = sites.create_site(
        db, org_id=t.branch_a.id, name="会议室", geometry=Point(114.3, 30.5), radius_m=15
    )
    sites.create_site(
        db, org_id=t.branch_b.id, name="会议室", geometry=Point(114.4, 30.5), radius_m=15
    )
    found = sites.find_site(db, org_id=t.branch_a.id, name="会议室")
    assert found is not None and found.id == made.id
    assert sites.find_site(db, org_id=t.branch_a.id, name="门岗") is None
    sites.delete_site(db, site_id=made.id)
    assert sites.find_site(db, org_id=t.branch_a.id, name="会议室") is None  # retired


def test_audit_of_many_members_is_one_statement_with_every_field(db: Session) -> None:
    ids = list(range(1, 2001))
    assert audit.record_audit_many(
        db, actor="li", actor_user_id=3, action="read_positions", subject_member_ids=ids,
        detail={"org_id": 5, "bbox": None}, at=T0,
    ) == 2000  # fmt: skip
    assert audit.record_audit_many(db, actor="li", action="read_live", subject_member_ids=[7]) == 1
    db.commit()
    entries = audit.list_audit(db, action="read_positions", limit=None)
    assert sorted(e.subject_member_id for e in entries) == ids
    assert {
        (e.actor, e.actor_user_id, e.at, json.dumps(e.detail, sort_keys=True)) for e in entries
    } == {("li", 3, T0, json.dumps({"bbox": None, "org_id": 5}))}
    (live,) = audit.list_audit(db, action="read_live")
    assert live.actor_user_id is None and live.detail is None and live.at > T0


def test_member_names_by_id(db: Session) -> None:
    branch = tree(db).branch_a
    ids = [members.create_member(db, org_id=branch.id, name=f"党员{n}").id for n in range(3)]
    assert members.member_names(db, member_ids=[ids[2], ids[0], 999_999]) == {
        ids[0]: "党员0",
        ids[2]: "党员2",
    }
    assert members.member_names(db, member_ids=[]) == {}
