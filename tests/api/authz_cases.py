"""Members' phone check-ins in the authorisation matrix (tests/api/test_authorization.py):
a member checks in only for themselves at their own meetings; the meeting's code and the
phones are their secretaries'."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from api import qrcode
from geo.model import EvidencePolicy, MeetingKind
from store import checkins, meetings, phones, sites
from store.qr import current_key
from tests.api.matrix import Op
from tests.api.world import World

PHONE = "phone:matrix-member-phone"


def _live_meeting(db: Session, world: World, target: str) -> int:
    """A meeting going on now at the target's site, which takes phones too."""
    t = world.targets[target]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    meeting = meetings.create_meeting(
        db,
        org_id=t.org_id,
        site_id=t.site_id,
        kind=MeetingKind.PARTY_LECTURE,
        start=start,
        end=start + timedelta(hours=1),
    )
    checkins.set_site_policy(db, site_id=t.site_id, policy=EvidencePolicy.ANY)
    db.commit()
    return meeting.id


def _phone_checkin(w: World, t: str, db: Session) -> dict[str, object]:
    meeting = _live_meeting(db, w, t)
    centre = sites.get_site(db, site_id=w.targets[t].site_id).geometry.centroid
    fix = {
        "time": datetime.now(UTC).isoformat(),
        "lat": centre.y,
        "lon": centre.x,
        "accuracy_m": 6.0,
    }
    return {
        "url": f"/api/v1/meetings/{meeting}/checkins/phone",
        "json": {"phone_id": PHONE, "fixes": [fix]},
    }


def _qr_checkin(w: World, t: str, db: Session) -> dict[str, object]:
    meeting = _live_meeting(db, w, t)
    step = qrcode.step_of(time.time())
    code = qrcode.code_for(current_key(db), meeting, step)
    db.commit()
    return {
        "url": f"/api/v1/meetings/{meeting}/checkins/qr",
        "json": {"phone_id": PHONE, "step": step, "code": code},
    }


def _pending_phone(w: World, t: str, db: Session) -> dict[str, object]:
    member = w.targets[t].member_id
    phones.use_phone(db, member_id=member, uid=f"phone:{w.unique('first')}")
    waiting = phones.use_phone(db, member_id=member, uid=f"phone:{w.unique('second')}")
    db.commit()
    return {"url": f"/api/v1/phones/{waiting.device_id}/approve"}


def _qr(suffix: str) -> Op:
    return Op(
        "admin",
        lambda w, t, db: {"url": f"/api/v1/meetings/{_live_meeting(db, w, t)}/qr{suffix}"},
    )


CASES: dict[tuple[str, str], Op] = {
    ("GET", "/m/"): Op("public", lambda w, t, db: {}),
    ("GET", "/m/manifest.webmanifest"): Op("public", lambda w, t, db: {}),
    ("GET", "/m/{name}"): Op("public", lambda w, t, db: {"url": "/m/app.js"}),
    ("POST", "/api/v1/me/phone"): Op("member_self", lambda w, t, db: {"json": {"phone_id": PHONE}}),
    ("POST", "/api/v1/meetings/{meeting_id}/checkins/phone"): Op("member_org", _phone_checkin),
    ("POST", "/api/v1/meetings/{meeting_id}/checkins/qr"): Op("member_org", _qr_checkin),
    ("GET", "/api/v1/meeting-checkins"): Op(
        "personal",
        lambda w, t, db: {"params": {"member_id": w.targets[t].member_id}},
        audit="read_checkins",
    ),
    ("GET", "/api/v1/phones"): Op(
        "admin", lambda w, t, db: {"params": {"member_id": w.targets[t].member_id}}
    ),
    ("POST", "/api/v1/phones/{device_id}/approve"): Op("admin", _pending_phone),
    ("GET", "/api/v1/meetings/{meeting_id}/qr"): _qr(""),
    ("GET", "/api/v1/meetings/{meeting_id}/qr.svg"): _qr(".svg"),
    ("GET", "/api/v1/meetings/{meeting_id}/qr.png"): _qr(".png"),
}
