"""Devices: hashed tokens compared in constant time, rotation, the pipeline's directory."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy.orm import Session

from store import devices, members
from store.errors import ConflictError
from tests.store.helpers import T0, tree


def test_a_token_is_shown_once_and_stored_hashed(db: Session) -> None:
    t = tree(db)
    member = members.create_member(db, org_id=t.branch_a.id, name="张三")
    device = devices.create_device(db, uid="860000000000001", member_id=member.id, name="DTU")
    token = devices.issue_device_token(db, device_id=device.id, now=T0)
    db.commit()
    assert len(token) >= 43  # 256 random bits, url-safe
    assert device.token_hash == hashlib.sha256(token.encode()).digest()
    assert token.encode() not in device.token_hash
    assert device.token_issued_at == T0
    ref = devices.verify_device_token(db, uid="860000000000001", token=token)
    assert ref == devices.DeviceRef(
        id=device.id, uid="860000000000001", member_id=member.id, active=True
    )


def test_wrong_unknown_rotated_and_inactive_are_refused(db: Session) -> None:
    device = devices.create_device(db, uid="dtu-1")
    assert devices.verify_device_token(db, uid="dtu-1", token="anything") is None  # no token yet
    old = devices.issue_device_token(db, device_id=device.id)
    new = devices.issue_device_token(db, device_id=device.id)
    assert old != new
    assert devices.verify_device_token(db, uid="dtu-1", token=old) is None
    assert devices.verify_device_token(db, uid="dtu-1", token=new) is not None
    assert devices.verify_device_token(db, uid="dtu-1", token=new[:-1]) is None
    assert devices.verify_device_token(db, uid="dtu-2", token=new) is None
    devices.set_device_active(db, device_id=device.id, active=False)
    assert devices.verify_device_token(db, uid="dtu-1", token=new) is None


def test_directory_assignment_and_lists(db: Session) -> None:
    t = tree(db)
    a = members.create_member(db, org_id=t.branch_a.id, name="张三")
    c = members.create_member(db, org_id=t.branch_c.id, name="王五")
    d1 = devices.create_device(db, uid="d1", member_id=a.id)
    d2 = devices.create_device(db, uid="d2")
    with pytest.raises(ConflictError):
        devices.create_device(db, uid="d1")
    devices.assign_device(db, device_id=d2.id, member_id=c.id)
    directory = devices.device_directory(db)
    assert directory["d2"].member_id == c.id
    assert set(directory) == {"d1", "d2"}
    assert [d.id for d in devices.list_devices(db, within_org_id=t.committee.id)] == [d1.id]
    assert [d.id for d in devices.list_devices(db, member_id=c.id)] == [d2.id]
    devices.assign_device(db, device_id=d2.id, member_id=None)
    assert devices.find_device(db, uid="d2").member_id is None  # type: ignore[union-attr]
    assert [d.id for d in devices.list_devices(db, limit=1, offset=1)] == [d2.id]
