"""The demo organisation as seeded: tree, sites at home and abroad, devices, the meeting, logins."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from api.statistics import alerts, requirements
from geo.meetings.recurrence import zone
from geo.model import MeetingKind
from partymap.demo.history import seed_history
from partymap.demo.logs import HISTORY, LIVE, RECORDED
from partymap.demo.terminals import SUFFIX, recorded_reports
from partymap.seed import HELMETS, MEETING, MEMBERS, SITES, seed_demo
from partymap.settings import Settings
from store.devices import JT808, NMEA, list_devices, verify_device_token
from store.errors import ConflictError
from store.meetings import get_meeting
from store.members import member_ids
from store.orgs import subtree
from store.plans import list_plans
from store.sites import list_sites
from store.stats import statistics
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


def test_the_shield_worksite_wears_jt808_helmets(db: Session) -> None:
    """Three members carry JT/T 808 helmets: phone-number uids, codes issued at seeding, and a
    recording of their reports for each part of the demo; everyone else an NMEA receiver."""
    demo = seed_demo(db, live_start=NOW)
    db.commit()
    by_uid = {d.uid: d for d in list_devices(db)}
    helmets = [m for m in MEMBERS if m.helmet]
    assert sorted(m.name for m in helmets) == sorted(HELMETS) and 2 <= len(helmets) <= 4
    assert {m.org for m in helmets} <= {"shield", "shift1", "shift2"}
    for m in MEMBERS:
        device = by_uid[m.device]
        assert device.protocol == (JT808 if m.helmet else NMEA)
        assert device.member_id == demo.members[m.name]
    assert sorted(demo.codes) == sorted(m.device for m in helmets)
    for m in helmets:
        assert len(m.device) == 20 and m.device.isdigit()
        assert verify_device_token(db, uid=m.device, token=demo.codes[m.device]) is not None
        for part in (HISTORY, LIVE):
            recording = RECORDED / part / f"{m.device}{SUFFIX}"
            assert not recording.with_suffix(".nmea").exists()
            reports = recorded_reports(recording, timedelta(0))
            assert len(reports) >= 10
    # The helmets' history ends at the shield worksite: they check in before the live part.
    shield = next(s for s in SITES if s.key == "shield")
    first = recorded_reports(RECORDED / HISTORY / f"{helmets[0].device}{SUFFIX}", timedelta(0))
    lon, lat = shield.centre
    assert abs(first[-1].lon_microdeg / 1e6 - lon) < 0.003
    assert abs(first[-1].lat_microdeg / 1e6 - lat) < 0.003


def test_seeding_twice_is_refused(db: Session) -> None:
    """The demo makes a fresh database each run; an existing demo is never doubled."""
    seed_demo(db, live_start=NOW)
    with pytest.raises(ConflictError):
        seed_demo(db, live_start=NOW)


def test_the_demo_has_a_year_of_recorded_meetings(db: Session) -> None:
    """Statistics, charts and alerts are not empty when the demo opens: plans for every
    branch and party group, a year of their meetings recorded, and one alert of each kind."""
    demo = seed_demo(db, live_start=NOW)
    made = seed_history(db, demo, now=NOW)
    db.commit()
    assert made > 150
    settings = Settings()
    tz = settings.meetings_tz
    last_year = NOW.astimezone(zone(tz)).date() - timedelta(days=365)
    found = statistics(db, root_id=None, start=last_year, end=NOW.date(), tz=tz, now=NOW,
                       requirements=requirements(settings))  # fmt: skip
    total = found.total
    assert total.recorded > 150 and total.required > 100
    assert 0.5 < (total.compliance or 0) < 1 and 0.8 < (total.attendance.rate or 0) < 1
    assert total.attendance.excused and total.attendance.late and total.attendance.absent
    assert sum(m.held > 0 for m in found.months) >= 11
    assert len(list_plans(db, within_org_id=None, limit=100)) == 26  # 8 branches × 3, 2 groups
    raised = alerts(db, settings, root_id=None, kinds={"overdue", "absent_streak",
                    "low_attendance"}, start=None, end=None, now=NOW)  # fmt: skip
    assert {(a.kind, a.org_name) for a in raised} >= {
        ("overdue", "玉磨铁路项目部党支部"),
        ("absent_streak", "北京分公司党支部"),
        ("low_attendance", "肯尼亚内罗毕项目部党支部"),
    }
