"""Members: lists by subtree, counts, transfers (组织关系转接), unique codes."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from store import latest, members, positions
from store.errors import ConflictError, NotFoundError
from tests.store.helpers import member_with_device, position, tree


def test_lists_and_counts_by_subtree(db: Session) -> None:
    t = tree(db)
    a = members.create_member(
        db, org_id=t.branch_a.id, name="张三", code="M001", phone="13800000000"
    )
    b = members.create_member(db, org_id=t.branch_b.id, name="李四")
    c = members.create_member(db, org_id=t.branch_c.id, name="王五")
    assert [m.id for m in members.list_members(db, within_org_id=t.committee.id)] == [a.id, b.id]
    assert [m.id for m in members.list_members(db, org_id=t.branch_c.id)] == [c.id]
    assert members.count_members(db, within_org_id=t.general.id) == 2
    assert [m.id for m in members.list_members(db, limit=1, offset=2)] == [c.id]
    assert members.find_member(db, code="M001") is a
    members.update_member(db, member_id=b.id, active=False, phone="13900000000")
    assert members.member_ids(db, org_id=t.branch_b.id) == []
    assert members.member_ids(db, org_id=t.committee.id, include_subtree=True) == [a.id]
    assert [m.id for m in members.list_members(db, active=False)] == [b.id]


def test_codes_are_unique(db: Session) -> None:
    t = tree(db)
    members.create_member(db, org_id=t.branch_a.id, name="张三", code="M001")
    other = members.create_member(db, org_id=t.branch_a.id, name="李四")
    with pytest.raises(ConflictError):
        members.create_member(db, org_id=t.branch_b.id, name="张三", code="M001")
    with pytest.raises(ConflictError):
        members.update_member(db, member_id=other.id, code="M001")


def test_transfer_moves_the_member_and_their_latest_position(db: Session) -> None:
    t = tree(db)
    member_id, device_id = member_with_device(db, t.branch_a.id, "zhang")
    batch = positions.PositionBatch.from_positions([position(member_id, device_id, 0)])
    positions.write_positions(db, batch=batch)
    members.transfer_member(db, member_id=member_id, org_id=t.branch_c.id)
    db.commit()
    assert members.get_member(db, member_id=member_id).org_id == t.branch_c.id
    assert latest.latest_positions(db, within_org_id=t.committee.id) == []
    (moved,) = latest.latest_positions(db, within_org_id=t.committee2.id)
    assert (moved.member_id, moved.org_id) == (member_id, t.branch_c.id)


def test_unknown_rows_are_named(db: Session) -> None:
    with pytest.raises(NotFoundError, match="member 424242"):
        members.get_member(db, member_id=424242)
    with pytest.raises(NotFoundError, match="organisation"):
        members.create_member(db, org_id=424242, name="nobody")
