"""Every endpoint × every role × a target inside and outside the caller's subtree.

The table below has one entry per operation of the app; :func:`test_every_operation_is_in_the_
matrix` compares it with the app's route table, so a new endpoint fails until it is added.
For each case the test checks the status (allowed, or denied with 401 / 403 / 404), that the
body names nothing the role may not see (marker names, member and organisation ids), and that
every member whose location data was returned has an audit entry written by that request.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.reports import meeting_sheet
from geo.meetings.recurrence import Frequency, Rule
from geo.model import AttendanceOutcome, MeetingKind
from store import (
    attendance,
    devices,
    displays,
    leave,
    meetings,
    members,
    orgs,
    plans,
    sites,
    users,
)
from store.db import make_engine
from store.migrations import upgrade
from store.models import AuditEntry, Member, Organisation, OrgKind
from tests.api.conftest import client_for, make_app
from tests.api.live import StreamReader, event, serving
from tests.api.matrix import (
    AFTER_TRANSFER,
    STREAM_ROLES,
    Op,
    Request,
    expected,
    extension_cases,
)
from tests.api.world import PERSONAL, ROLES, T0, TARGETS, World, build_world, square


def _t(world: World, target: str) -> Any:
    return world.targets[target]


def _leaf(db: Session, world: World, parent: int) -> int:
    org = orgs.create_organisation(
        db, name="小组", kind=OrgKind.PARTY_GROUP, parent_id=parent, code=world.unique("leaf")
    )
    db.commit()
    return org.id


def _spare_member(db: Session, world: World, org_id: int) -> int:
    member = members.create_member(db, org_id=org_id, name="新党员", code=world.unique("spare"))
    db.commit()
    return member.id


def _spare_device(db: Session, world: World, member_id: int) -> int:
    device = devices.create_device(db, uid=world.unique("spare-dev"), member_id=member_id)
    db.commit()
    return device.id


def _spare_site(db: Session, world: World, org_id: int) -> int:
    site = sites.create_site(
        db, org_id=org_id, name=world.unique("site"), geometry=square(114.5, 30.5)
    )
    db.commit()
    return site.id


def _spare_meeting(db: Session, world: World, target: str) -> int:
    """A meeting of the target's branch a month ahead."""
    t = world.targets[target]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    meeting = meetings.create_meeting(
        db,
        org_id=t.org_id,
        site_id=t.site_id,
        kind=MeetingKind.PARTY_LECTURE,
        start=start,
        end=start + timedelta(hours=1),
    )
    db.commit()
    return meeting.id


def _spare_plan(db: Session, world: World, target: str) -> int:
    """A monthly plan of the target's branch (its meetings not yet scheduled)."""
    t = world.targets[target]
    plan = plans.create_plan(
        db,
        org_id=t.org_id,
        site_id=t.site_id,
        kind=MeetingKind.BRANCH_COMMITTEE_MEETING,
        rule=Rule(Frequency.MONTHLY, weekday=1, nth=1),
        start_time=clock(15, 0),
        duration=timedelta(minutes=90),
        starts_on=T0.date(),
    )
    db.commit()
    return plan.id


def _ended_meeting(db: Session, world: World, target: str, *, corrected: bool = False) -> int:
    """A meeting of the target's branch that ended yesterday (not yet recorded); with
    ``corrected``, the target member's status corrected to excused."""
    t = world.targets[target]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    meeting = meetings.create_meeting(
        db,
        org_id=t.org_id,
        site_id=t.site_id,
        kind=MeetingKind.BRANCH_COMMITTEE_MEETING,
        start=start,
        end=start + timedelta(hours=1),
    )
    if corrected:
        attendance.correct_attendance(
            db,
            meeting_id=meeting.id,
            member_id=t.member_id,
            status=AttendanceOutcome.EXCUSED,
            reason="事先口头请假",
            actor="com",
        )
    db.commit()
    return meeting.id


def _with_leave(db: Session, world: World, target: str, *, approved: bool) -> str:
    """The URL of the target member's leave from a coming meeting of their branch."""
    meeting_id = _spare_meeting(db, world, target)
    member_id = world.targets[target].member_id
    leave.record_leave(
        db,
        meeting_id=meeting_id,
        member_id=member_id,
        reason="出差",
        actor="mem",
        approved=approved,
    )
    db.commit()
    return f"/api/v1/meetings/{meeting_id}/leave/{member_id}"


def _recorded(db: Session, world: World, target: str) -> int:
    """The target's branch, with its meeting's attendance recorded."""
    t = world.targets[target]
    if meetings.get_meeting_info(db, meeting_id=t.meeting_id).recorded_at is None:
        attendance.record_meeting(db, meeting_id=t.meeting_id)
        db.commit()
    return t.org_id


def _display(db: Session, world: World, target: str) -> int:
    made, _token = displays.create_display(
        db, name="大屏", org_id=world.targets[target].org_id, created_by="com"
    )
    db.commit()
    return made.id


PLAN = {"kind": "BRANCH_COMMITTEE_MEETING", "frequency": "monthly", "weekday": 1, "nth": 1,
        "time": "15:00"}  # fmt: skip


def _move(w: World, t: str, db: Session) -> Request:
    moving, under = _leaf(db, w, _t(w, t).org_id), _leaf(db, w, _t(w, t).org_id)
    return {"url": f"/api/v1/orgs/{moving}/move", "json": {"parent_id": under}}


BRANCH_CODES = {"self": "B1", "peer": "B1", "sibling": "B2", "outside": "B3"}
FEATURE = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [114.3, 30.5]}}
WINDOW = {"start": T0.isoformat(), "end": (T0.replace(hour=9)).isoformat()}

OPS: dict[tuple[str, str], Op] = {
    ("POST", "/api/v1/auth/token"): Op(
        "login", lambda w, t, db: {"data": {"username": "ba", "password": "wrong password"}}
    ),
    ("POST", "/api/v1/auth/logout"): Op("public", lambda w, t, db: {}),
    ("GET", "/api/v1/auth/me"): Op("authenticated", lambda w, t, db: {}),
    ("GET", "/healthz"): Op("public", lambda w, t, db: {}),
    ("GET", "/metrics"): Op("public", lambda w, t, db: {}),
    ("GET", "/api/v1/stream"): Op("stream", lambda w, t, db: {}),
    ("GET", "/api/v1/orgs"): Op(
        "org_read", lambda w, t, db: {"params": {"parent_id": _t(w, t).org_id}}
    ),
    ("POST", "/api/v1/orgs"): Op(
        "admin",
        lambda w, t, db: {
            "json": {
                "name": "新小组",
                "kind": "party_group",
                "parent_id": _t(w, t).org_id,
                "code": w.unique("org"),
            }
        },
    ),
    ("GET", "/api/v1/orgs/{org_id}"): Op(
        "org_read", lambda w, t, db: {"url": f"/api/v1/orgs/{_t(w, t).org_id}"}
    ),
    ("PATCH", "/api/v1/orgs/{org_id}"): Op(
        "admin",
        lambda w, t, db: {"url": f"/api/v1/orgs/{_t(w, t).org_id}", "json": {"kind": "branch"}},
    ),
    ("DELETE", "/api/v1/orgs/{org_id}"): Op(
        "admin", lambda w, t, db: {"url": f"/api/v1/orgs/{_leaf(db, w, _t(w, t).org_id)}"}
    ),
    ("GET", "/api/v1/orgs/{org_id}/subtree"): Op(
        "admin", lambda w, t, db: {"url": f"/api/v1/orgs/{_t(w, t).org_id}/subtree"}
    ),
    ("GET", "/api/v1/orgs/{org_id}/ancestors"): Op(
        "org_read", lambda w, t, db: {"url": f"/api/v1/orgs/{_t(w, t).org_id}/ancestors"}
    ),
    ("POST", "/api/v1/orgs/{org_id}/move"): Op("admin", _move),
    ("GET", "/api/v1/members"): Op(
        "org_read", lambda w, t, db: {"params": {"org_id": _t(w, t).org_id}}
    ),
    ("POST", "/api/v1/members"): Op(
        "admin",
        lambda w, t, db: {
            "json": {"org_id": _t(w, t).org_id, "name": "新党员", "code": w.unique("m")}
        },
    ),
    ("GET", "/api/v1/members/{member_id}"): Op(
        "personal", lambda w, t, db: {"url": f"/api/v1/members/{_t(w, t).member_id}"}
    ),
    ("PATCH", "/api/v1/members/{member_id}"): Op(
        "admin",
        lambda w, t, db: {
            "url": f"/api/v1/members/{_t(w, t).member_id}",
            "json": {"phone": "+86 139 0000 0000"},
        },
    ),
    ("POST", "/api/v1/members/{member_id}/transfer"): Op(
        "admin",
        lambda w, t, db: {
            "url": f"/api/v1/members/{_spare_member(db, w, _t(w, t).org_id)}/transfer",
            "json": {"org_id": _t(w, t).org_id},
        },
    ),
    ("GET", "/api/v1/devices"): Op(
        "personal", lambda w, t, db: {"params": {"member_id": _t(w, t).member_id}}
    ),
    ("POST", "/api/v1/devices"): Op(
        "admin",
        lambda w, t, db: {"json": {"uid": w.unique("dev"), "member_id": _t(w, t).member_id}},
    ),
    ("GET", "/api/v1/alarms"): Op(
        "personal", lambda w, t, db: {"params": {"member_id": _t(w, t).member_id}}
    ),
    ("GET", "/api/v1/devices/{device_id}"): Op(
        "personal", lambda w, t, db: {"url": f"/api/v1/devices/{_t(w, t).device_id}"}
    ),
    ("PATCH", "/api/v1/devices/{device_id}"): Op(
        "admin",
        lambda w, t, db: {
            "url": f"/api/v1/devices/{_spare_device(db, w, _t(w, t).member_id)}",
            "json": {"active": True},
        },
    ),
    ("POST", "/api/v1/devices/{device_id}/token"): Op(
        "admin",
        lambda w, t, db: {
            "url": f"/api/v1/devices/{_spare_device(db, w, _t(w, t).member_id)}/token"
        },
    ),
    ("POST", "/api/v1/devices/{uid}/nmea"): Op(
        "device",
        lambda w, t, db: {
            "url": f"/api/v1/devices/{_t(w, t).device_uid}/nmea",
            "content": b"$GNGGA,080000.00,,,,,0,00,99.99,,,,,,*7A\r\n",
            "headers": {"Content-Type": "text/plain"},
        },
    ),
    ("GET", "/api/v1/sites"): Op(
        "org_read", lambda w, t, db: {"params": {"org_id": _t(w, t).org_id}}
    ),
    ("POST", "/api/v1/sites"): Op(
        "admin",
        lambda w, t, db: {
            "json": {
                **FEATURE,
                "properties": {"org_id": _t(w, t).org_id, "name": "门岗", "radius_m": 20},
            }
        },
    ),
    ("GET", "/api/v1/sites/{site_id}"): Op(
        "org_read", lambda w, t, db: {"url": f"/api/v1/sites/{_t(w, t).site_id}"}
    ),
    ("PATCH", "/api/v1/sites/{site_id}"): Op(
        "admin",
        lambda w, t, db: {
            "url": f"/api/v1/sites/{_t(w, t).site_id}",
            "json": {"type": "Feature", "properties": {"kind": "meeting_room"}},
        },
    ),
    ("DELETE", "/api/v1/sites/{site_id}"): Op(
        "admin", lambda w, t, db: {"url": f"/api/v1/sites/{_spare_site(db, w, _t(w, t).org_id)}"}
    ),
    ("GET", "/api/v1/positions/latest"): Op(
        "org_read",
        lambda w, t, db: {"params": {"org_id": _t(w, t).org_id}},
        audit="read_positions",
    ),
    ("GET", "/api/v1/members/{member_id}/track"): Op(
        "personal",
        lambda w, t, db: {"url": f"/api/v1/members/{_t(w, t).member_id}/track", "params": WINDOW},
        audit="read_track",
    ),
    ("GET", "/api/v1/devices/{device_id}/fixes"): Op(
        "personal",
        lambda w, t, db: {"url": f"/api/v1/devices/{_t(w, t).device_id}/fixes", "params": WINDOW},
        audit="read_fixes",
    ),
    ("GET", "/api/v1/visits"): Op(
        "personal",
        lambda w, t, db: {"params": {"member_id": _t(w, t).member_id}},
        audit="read_visits",
    ),
    ("GET", "/api/v1/checkins"): Op(
        "personal",
        lambda w, t, db: {"params": {"member_id": _t(w, t).member_id}},
        audit="read_checkins",
    ),
    ("GET", "/api/v1/presence"): Op(
        "personal",
        lambda w, t, db: {"params": {"member_id": _t(w, t).member_id}},
        audit="read_presence",
    ),
    ("GET", "/api/v1/meetings"): Op(
        "org_read", lambda w, t, db: {"params": {"org_id": _t(w, t).org_id}}
    ),
    ("POST", "/api/v1/meetings"): Op(
        "admin",
        lambda w, t, db: {
            "json": {
                "org_id": _t(w, t).org_id,
                "site_id": _t(w, t).site_id,
                "kind": "THEMED_PARTY_DAY",
                "start": "2026-07-01T09:00:00+08:00",
                "end": "2026-07-01T11:00:00+08:00",
            }
        },
    ),
    ("GET", "/api/v1/meetings/{meeting_id}"): Op(
        "org_read", lambda w, t, db: {"url": f"/api/v1/meetings/{_t(w, t).meeting_id}"}
    ),
    ("PATCH", "/api/v1/meetings/{meeting_id}"): Op(
        "admin",
        lambda w, t, db: {
            "url": f"/api/v1/meetings/{_t(w, t).meeting_id}",
            "json": {"kind": "BRANCH_GENERAL_MEETING"},
        },
    ),
    ("DELETE", "/api/v1/meetings/{meeting_id}"): Op(
        "admin", lambda w, t, db: {"url": f"/api/v1/meetings/{_spare_meeting(db, w, t)}"}
    ),
    ("POST", "/api/v1/meetings/{meeting_id}/cancel"): Op(
        "admin",
        lambda w, t, db: {
            "url": f"/api/v1/meetings/{_spare_meeting(db, w, t)}/cancel",
            "json": {"reason": "改期"},
        },
    ),
    ("GET", "/api/v1/meetings/{meeting_id}/attendance"): Op(
        "org_read",
        lambda w, t, db: {"url": f"/api/v1/meetings/{_t(w, t).meeting_id}/attendance"},
        audit="read_attendance",
    ),
    ("GET", "/api/v1/meetings/{meeting_id}/attendance/counts"): Op(
        "org_read",
        lambda w, t, db: {"url": f"/api/v1/meetings/{_t(w, t).meeting_id}/attendance/counts"},
    ),
    ("POST", "/api/v1/meetings/{meeting_id}/attendance"): Op(
        "admin", lambda w, t, db: {"url": f"/api/v1/meetings/{_t(w, t).meeting_id}/attendance"}
    ),
    ("GET", "/api/v1/leave"): Op(
        "personal",
        lambda w, t, db: {"params": {"member_id": _t(w, t).member_id}},
        audit="read_leave",
    ),
    ("POST", "/api/v1/meetings/{meeting_id}/leave"): Op(
        "personal",
        lambda w, t, db: {
            "url": f"/api/v1/meetings/{_spare_meeting(db, w, t)}/leave",
            "json": {"member_id": _t(w, t).member_id, "reason": "赴项目部出差"},
        },
    ),
    ("POST", "/api/v1/meetings/{meeting_id}/leave/{member_id}/decision"): Op(
        "admin",
        lambda w, t, db: {
            "url": f"{_with_leave(db, w, t, approved=False)}/decision",
            "json": {"approve": True},
        },
    ),
    ("DELETE", "/api/v1/meetings/{meeting_id}/leave/{member_id}"): Op(
        "personal", lambda w, t, db: {"url": _with_leave(db, w, t, approved=True)}
    ),
    ("POST", "/api/v1/meetings/{meeting_id}/corrections"): Op(
        "admin",
        lambda w, t, db: {
            "url": f"/api/v1/meetings/{_ended_meeting(db, w, t)}/corrections",
            "json": {"member_id": _t(w, t).member_id, "status": "excused", "reason": "补请假"},
        },
    ),
    ("GET", "/api/v1/meetings/{meeting_id}/corrections"): Op(
        "org_read",
        lambda w, t, db: {
            "url": f"/api/v1/meetings/{_ended_meeting(db, w, t, corrected=True)}/corrections"
        },
        audit="read_attendance",
    ),
    ("GET", "/api/v1/meeting-plans"): Op(
        "admin", lambda w, t, db: {"params": {"org_id": _t(w, t).org_id}}
    ),
    ("POST", "/api/v1/meeting-plans"): Op(
        "admin", lambda w, t, db: {"json": {**PLAN, "org_id": _t(w, t).org_id}}
    ),
    ("GET", "/api/v1/meeting-plans/{plan_id}"): Op(
        "admin", lambda w, t, db: {"url": f"/api/v1/meeting-plans/{_spare_plan(db, w, t)}"}
    ),
    ("PATCH", "/api/v1/meeting-plans/{plan_id}"): Op(
        "admin",
        lambda w, t, db: {
            "url": f"/api/v1/meeting-plans/{_spare_plan(db, w, t)}",
            "json": {"time": "14:30"},
        },
    ),
    ("POST", "/api/v1/meeting-plans/{plan_id}/stop"): Op(
        "admin", lambda w, t, db: {"url": f"/api/v1/meeting-plans/{_spare_plan(db, w, t)}/stop"}
    ),
    ("GET", "/api/v1/stats/attendance"): Op(
        "admin", lambda w, t, db: {"params": {"org_id": _t(w, t).org_id}}
    ),
    ("GET", "/api/v1/stats/overview"): Op(
        "admin", lambda w, t, db: {"params": {"org_id": _t(w, t).org_id, "start": "2026-01-01"}}
    ),
    ("GET", "/api/v1/stats/organisations"): Op(
        "admin", lambda w, t, db: {"params": {"org_id": _t(w, t).org_id, "start": "2026-01-01"}}
    ),
    ("GET", "/api/v1/stats/ranking"): Op(
        "admin", lambda w, t, db: {"params": {"org_id": _t(w, t).org_id, "start": "2026-01-01"}}
    ),
    ("GET", "/api/v1/stats/members"): Op(
        "admin",
        lambda w, t, db: {"params": {"org_id": _recorded(db, w, t), "start": "2026-01-01"}},
        audit="read_attendance",
    ),
    ("GET", "/api/v1/members/{member_id}/attendance"): Op(
        "personal",
        lambda w, t, db: {"url": f"/api/v1/members/{_t(w, t).member_id}/attendance"},
        audit="read_attendance",
    ),
    ("GET", "/api/v1/alerts"): Op(
        "admin", lambda w, t, db: {"params": {"org_id": _t(w, t).org_id}}, audit="read_attendance"
    ),
    ("GET", "/api/v1/reports/period"): Op(
        "admin", lambda w, t, db: {"params": {"org_id": _recorded(db, w, t), "start": "2026-04-01"}}
    ),
    ("GET", "/api/v1/alerts/counts"): Op(
        "admin", lambda w, t, db: {"params": {"org_id": _t(w, t).org_id}}
    ),
    ("POST", "/api/v1/display-tokens"): Op(
        "admin", lambda w, t, db: {"json": {"name": "大屏", "org_id": _t(w, t).org_id}}
    ),
    ("GET", "/api/v1/display-tokens"): Op(
        "admin", lambda w, t, db: {"params": {"org_id": _t(w, t).org_id}}
    ),
    ("DELETE", "/api/v1/display-tokens/{display_id}"): Op(
        "admin", lambda w, t, db: {"url": f"/api/v1/display-tokens/{_display(db, w, t)}"}
    ),
    ("GET", "/api/v1/display/me"): Op("display", lambda w, t, db: {}),
    ("GET", "/api/v1/display/map/overview"): Op(
        "display", lambda w, t, db: {"params": {"bbox": "-180,-85,180,85", "zoom": 18}}
    ),
    ("GET", "/api/v1/display/map/tree"): Op("display", lambda w, t, db: {}),
    ("GET", "/api/v1/display/meetings/today"): Op("display", lambda w, t, db: {}),
    ("GET", "/api/v1/display/stats"): Op("display", lambda w, t, db: {}),
    ("GET", "/api/v1/display/stream"): Op("display", lambda w, t, db: {}),
    ("GET", "/api/v1/users"): Op("committee_any", lambda w, t, db: {}),
    ("POST", "/api/v1/users"): Op(
        "committee",
        lambda w, t, db: {
            "json": {
                "username": w.unique("user"),
                "password": "a long enough password",
                "role": "member",
                "member_id": _t(w, t).member_id,
            }
        },
    ),
    ("PATCH", "/api/v1/users/{user_id}"): Op(
        "committee",
        lambda w, t, db: {
            "url": f"/api/v1/users/{_t(w, t).admin_user_id}",
            "json": {"active": True},
        },
    ),
    ("GET", "/api/v1/audit"): Op(
        "admin", lambda w, t, db: {"params": {"subject_member_id": _t(w, t).member_id}}
    ),
    ("POST", "/api/v1/import/{kind}"): Op(
        "admin",
        lambda w, t, db: {
            "url": "/api/v1/import/members",
            "files": {
                "file": (
                    "members.csv",
                    f"code,name,org_code\n{w.unique('imp')},导入党员,{BRANCH_CODES[t]}\n".encode(),
                    "text/csv",
                )
            },
        },
        denied=frozenset({422}),
    ),
}


def test_every_operation_is_in_the_matrix(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'routes.sqlite'}")
    upgrade(engine)
    app = make_app(engine, tmp_path)
    served = {
        (method, route.path)
        for route in iter_route_contexts(app.routes)
        for method in (route.methods or ())
        if method != "HEAD"
        and route.path not in ("/openapi.json", "/docs", "/redoc")
        and not route.path.startswith("/docs/")
    }
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    engine.dispose()
    pages = {
        (m, p) for m, p in served if not p.startswith("/api/") and p not in ("/healthz", "/metrics")
    }
    assert served - pages == documented, "every API operation is in the OpenAPI document"
    missing = served - set(ALL_OPS)
    assert not missing, (
        f"add these operations to the matrix (tests/<package>/authz_cases.py for routes of "
        f"another package): {sorted(missing)}"
    )
    assert not set(ALL_OPS) - served, "the matrix names operations the app does not serve"


ALL_OPS = {**OPS, **extension_cases()}


@pytest.mark.parametrize("operation", sorted(ALL_OPS), ids=lambda op: f"{op[0]} {op[1]}")
def test_matrix(operation: tuple[str, str], world_app: tuple[FastAPI, World, Engine]) -> None:
    app, world, engine = world_app
    op = ALL_OPS[operation]
    method, path = operation
    failures = []
    with client_for(app) as client, Session(engine) as db:
        for role in ROLES:
            if op.category == "stream" and role not in ("anonymous", "device"):
                continue  # an allowed stream never ends: tests/api/test_stream.py
            for target in _targets(op, role):
                db.rollback()  # a fresh snapshot: SQLite refuses writes on a stale one
                args = op.build(world, target, db)
                url = args.pop("url", path)
                headers = {**world.headers(role), **args.pop("headers", {})}
                before = _last_audit(db)
                response = client.request(method, url, headers=headers, **args)
                want = expected(op, role, target)
                where = f"{role} → {target}: {method} {url}"
                if response.status_code not in want:
                    failures.append(
                        f"{where}: {response.status_code} not in {sorted(want)}: "
                        f"{response.text[:200]}"
                    )
                    continue
                failures += [f"{where}: {p}" for p in _leaks(db, world, role, response)]
                if op.audit and response.status_code == 200:
                    failures += [
                        f"{where}: {p}"
                        for p in _missing_audit(
                            db, world, role, action=op.audit, before=before, response=response
                        )
                    ]
    assert not failures, "\n".join(failures)


def _targets(op: Op, role: str) -> tuple[str, ...]:
    """Anonymous callers and devices are refused before any target is looked at (but a
    device's own endpoint is tried with every device's uid); public endpoints have none."""
    if op.category in ("public", "login") or (
        role in ("anonymous", "device") and op.category != "device"
    ):
        return ("self",)
    return TARGETS


def _last_audit(db: Session) -> int:
    db.rollback()  # a new snapshot: see what the app committed
    return int(db.scalar(select(func.coalesce(func.max(AuditEntry.id), 0))) or 0)


def _leaks(db: Session, world: World, role: str, response: Any) -> list[str]:
    if role == "whole_tree":
        return []
    text = response.text
    # A device sees nothing but its own receipt, which names its own uid.
    seen_ok = PERSONAL.get(role, {"self"} if role == "device" else set())
    problems = [f"body names T-{t}" for t in TARGETS if t not in seen_ok and f"T-{t}" in text]
    if not response.content or response.headers.get("content-type", "").split(";")[0] not in (
        "application/json",
        "application/geo+json",
    ):
        return problems
    members_seen, orgs_seen = set(), set()
    _collect(response.json(), members_seen, orgs_seen)
    db.rollback()
    allowed_members, allowed_orgs = _visible(db, world, role)
    if extra := members_seen - allowed_members:
        problems.append(f"member ids outside the scope: {sorted(extra)}")
    if extra := orgs_seen - allowed_orgs:
        problems.append(f"organisation ids outside the scope: {sorted(extra)}")
    return problems


def _collect(value: Any, members_seen: set[int], orgs_seen: set[int]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("member_id", "subject_member_id") and isinstance(item, int):
                members_seen.add(item)
            elif key == "org_id" and isinstance(item, int):
                orgs_seen.add(item)
            else:
                _collect(item, members_seen, orgs_seen)
    elif isinstance(value, list):
        for item in value:
            _collect(item, members_seen, orgs_seen)


SCOPE_ROOTS = {"branch_admin": ("B1",), "committee_admin": ("C1",), "whole_tree": ("C1", "C2")}


def _visible(db: Session, world: World, role: str) -> tuple[set[int], set[int]]:
    """Members and organisations the role may see, from the tree as it is now."""
    if role not in SCOPE_ROOTS:  # member: themselves, their organisation
        own = world.targets["self"]
        return {own.member_id}, {own.org_id}
    paths = [
        db.scalar(select(Organisation.path).where(Organisation.id == world.org_ids[key]))
        for key in SCOPE_ROOTS[role]
    ]
    org_ids = {
        org_id
        for org_id, path in db.execute(select(Organisation.id, Organisation.path))
        if any(path.startswith(p) for p in paths if p)
    }
    member_ids = set(db.scalars(select(Member.id).where(Member.org_id.in_(org_ids))))
    return member_ids, org_ids


def _missing_audit(
    db: Session, world: World, role: str, *, action: str, before: int, response: Any
) -> list[str]:
    body = response.json() if "json" in response.headers.get("content-type", "") else {}
    returned: set[int] = set()
    _collect(body, returned, set())
    if not returned:
        return []
    db.rollback()
    audited = set(
        db.scalars(
            select(AuditEntry.subject_member_id).where(
                AuditEntry.id > before,
                AuditEntry.action == action,
                AuditEntry.actor_user_id == world.user_ids[role],
            )
        )
    )
    return [f"no {action} audit entry for member {m}" for m in sorted(returned - audited)]


def test_targeted_reads_return_their_member(world_app: tuple[FastAPI, World, Engine]) -> None:
    """The audit check above is not vacuous: allowed reads do return location data."""
    app, world, _engine = world_app
    member = world.targets["self"].member_id
    with client_for(app) as client:
        headers = world.headers("branch_admin")
        track = client.get(f"/api/v1/members/{member}/track", params=WINDOW, headers=headers)
        latest = client.get("/api/v1/positions/latest", headers=headers)
        visits = client.get("/api/v1/checkins", params={"member_id": member}, headers=headers)
    assert track.json()["member_id"] == member and len(track.json()["features"]) == 10
    assert {f["properties"]["member_id"] for f in latest.json()["features"]} == {
        world.targets["self"].member_id,
        world.targets["peer"].member_id,
    }
    assert [v["member_id"] for v in visits.json()["items"]] == [member]


@pytest.mark.parametrize("format", ["json", "csv", "xlsx"])
def test_every_attendance_read_is_audited_per_member(
    format: str, world_app: tuple[FastAPI, World, Engine]
) -> None:
    """regression: reads of a meeting's attendance (JSON, CSV, XLSX) wrote no audit entry for
    the members they returned."""
    app, world, engine = world_app
    meeting_id = world.targets["self"].meeting_id
    with Session(engine) as db:
        everyone = set(meeting_sheet(db, meeting_id=meeting_id, now=datetime.now(UTC)).member_ids())
    assert len(everyone) >= 2  # self, peer, and members other tests of the module added
    with client_for(app) as client, Session(engine) as db:
        for role, returned in (
            ("member", {world.targets["self"].member_id}),
            ("branch_admin", everyone),
            ("whole_tree", everyone),
        ):
            before = _last_audit(db)
            response = client.get(
                f"/api/v1/meetings/{meeting_id}/attendance",
                params={"format": format},
                headers=world.headers(role),
            )
            assert response.status_code == 200, response.text
            db.rollback()
            audited = list(
                db.scalars(
                    select(AuditEntry.subject_member_id).where(
                        AuditEntry.id > before,
                        AuditEntry.action == "read_attendance",
                        AuditEntry.actor_user_id == world.user_ids[role],
                    )
                )
            )
            assert sorted(audited) == sorted(returned), (role, format)


@pytest.mark.parametrize("role", STREAM_ROLES)
def test_the_stream_follows_a_transfer_at_once(role: str, engine: Engine, tmp_path: Path) -> None:
    """regression: after a member's transfer the former organisation's admins kept receiving
    their positions for several seconds (until the pipeline's directory refreshed)."""
    app = make_app(engine, tmp_path, sse_keepalive_seconds=0.2)
    world = build_world(engine, app.state.settings)
    peer = world.targets["peer"].member_id
    with serving(app) as base:
        reader = StreamReader(base, world.headers(role))
        try:
            with Session(engine) as db:
                members.transfer_member(db, member_id=peer, org_id=world.org_ids["B3"])
                db.commit()
            # The pipeline still says B1 for the moved member; the last event marks the end.
            app.state.live.publish_many(
                [event(world, t, branch="B1" if t == "peer" else None) for t in TARGETS[1:]]
                + [event(world, "self")]
            )
            mark = f'"member_id":{world.targets["self"].member_id},'
            lines, complete = reader.until(lambda line: mark in line)
        finally:
            reader.close()
    assert complete, lines
    received = {
        t for t in TARGETS if any(f'"member_id":{world.targets[t].member_id},' in x for x in lines)
    }
    assert received == AFTER_TRANSFER[role]


def _new_organisation(db: Session, world: World, role: str) -> None:
    if role == "member":
        members.transfer_member(
            db, member_id=world.targets["self"].member_id, org_id=world.org_ids["B2"]
        )
        return
    moved_to = {"branch_admin": "B2", "committee_admin": "C2", "whole_tree": "C1"}[role]
    users.update_user(db, user_id=world.user_ids[role], org_id=world.org_ids[moved_to])


CHANGES = {
    "deactivated": lambda db, w, role: users.update_user(
        db, user_id=w.user_ids[role], active=False
    ),
    "new password": lambda db, w, role: users.set_password(
        db, user_id=w.user_ids[role], password="a brand new password"
    ),
    "new organisation": _new_organisation,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("role", STREAM_ROLES)
def test_the_stream_ends_with_the_users_rights(
    role: str, change: str, engine: Engine, tmp_path: Path
) -> None:
    """regression: a deactivated user's open stream kept receiving events; a password, role or
    organisation change left it open too, and a token from before a new password still
    worked."""
    app = make_app(engine, tmp_path, sse_keepalive_seconds=0.2, sse_recheck_seconds=0.3)
    world = build_world(engine, app.state.settings)
    with serving(app) as base:
        reader = StreamReader(base, world.headers(role))
        try:
            with Session(engine) as db:
                CHANGES[change](db, world, role)
                db.commit()
            changed_at = time.monotonic()
            lines, ended = reader.until(lambda line: line == "event: end", timeout=10)
            took_s = time.monotonic() - changed_at
            closed = reader.ended(5)
            # Whatever is published now reaches no one: the stream is gone.
            app.state.live.publish(event(world, "self"))
        finally:
            reader.close()
        with httpx.Client(base_url=base, timeout=10) as client:
            me = client.get("/api/v1/auth/me", headers=world.headers(role))
    assert ended and closed and took_s < 3, (lines, took_s)
    assert not [x for x in lines if x.startswith("data: ") and '"type":"end"' not in x]
    assert me.status_code == (200 if change == "new organisation" else 401)
