"""The demo organisation as seeded: tree, sites at home and abroad, devices, the meeting, logins."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from geo.model import MeetingKind
from partymap.seed import MEETING, seed_demo
from store.devices import list_devices
from store.errors import ConflictError
from store.meetings import get_meeting
from store.members import member_ids
from store.orgs import subtree
from store.sites import list_sites
from store.users import authenticate_user
from tests.maps.conftest import NOW


def test_the_demo_organisation(db: Session) -> None:
    demo = seed_demo(db, live_start=NOW)
    db.commit()
    tree = subtree(db, org_id=demo.orgs["committee"])
    assert {o.kind.value for o in tree} == {
        "party_committee", "general_branch", "branch", "party_group"
    }  # fmt: skip
    assert len(tree) == 13
    zones = {s.tz for s in list_sites(db)}
    assert {"Asia/Shanghai", "Africa/Nairobi", "Asia/Jakarta"} == zones
    devices = list_devices(db)
    assert len(devices) == len(demo.members) == 38
    assert {d.member_id for d in devices} == set(demo.members.values())

    meeting = get_meeting(db, meeting_id=demo.meeting_id)
    assert meeting.kind is MeetingKind.BRANCH_GENERAL_MEETING
    assert meeting.start == NOW + timedelta(minutes=4) == NOW + MEETING.starts_after
    assert meeting.late_grace == timedelta(minutes=1)
    # The meeting's roll is its branch's own members: all ten of them.
    assert len(member_ids(db, org_id=meeting.org_id)) == 10

    for login in demo.logins:
        assert authenticate_user(db, username=login.username, password=login.password)
        assert not authenticate_user(db, username=login.username, password="wrong password")
    assert len({login.password for login in demo.logins}) == 2


def test_seeding_twice_is_refused(db: Session) -> None:
    """The demo makes a fresh database each run; an existing demo is never doubled."""
    seed_demo(db, live_start=NOW)
    with pytest.raises(ConflictError):
        seed_demo(db, live_start=NOW)
