"""Members check in from their phones through the API: the phone's position (inside counted,
outside not, a mocked accuracy rejected by name), the meeting's rotating code (good, expired,
another meeting's, a member not on the roll, an unbound phone), the site's evidence policy,
phone approval, rate limits, audit, and codes that cannot be guessed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api import qrcode
from api.auth import create_access_token
from geo.model import EvidencePolicy, SiteKind
from store import checkins, sites, users
from store.models import AuditEntry, Position, Role
from store.qr import current_key, rotate_key
from tests.api.conftest import client_for, make_app
from tests.api.world import PASSWORD, World, build_world

CENTRE = (30.6, 114.0)  # the "self" branch's lecture room (lat, lon), 30 m across


def _app(engine: Engine, tmp_path: Path, **overrides: object) -> tuple[TestClient, World]:
    """The world, with a room of the "self" branch of its own (the world's rooms have visits
    going on)."""
    app = make_app(engine, tmp_path, **overrides)
    world = build_world(engine, app.state.settings)
    with Session(engine) as db:
        room = sites.create_site(
            db,
            org_id=world.targets["self"].org_id,
            name="党课教室",
            geometry=Point(CENTRE[1], CENTRE[0]),
            radius_m=15.0,
            kind=SiteKind.MEETING_ROOM,
        )
        db.commit()
    world.targets["self"].site_id = room.id
    return client_for(app), world


def _live_meeting(client: TestClient, world: World, *, minutes_ago: float = 2) -> int:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    made = client.post(
        "/api/v1/meetings",
        json={
            "org_id": world.targets["self"].org_id,
            "site_id": world.targets["self"].site_id,
            "kind": "PARTY_LECTURE",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
        },
        headers=world.headers("branch_admin"),
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _policy(engine: Engine, world: World, policy: EvidencePolicy) -> None:
    with Session(engine) as db:
        checkins.set_site_policy(db, site_id=world.targets["self"].site_id, policy=policy)
        db.commit()


def _phone() -> str:
    return f"phone:{uuid.uuid4()}"


def _fix(lat: float, lon: float, accuracy: float, *, ago_s: float = 1) -> dict[str, Any]:
    t = datetime.now(UTC) - timedelta(seconds=ago_s)
    return {"time": t.isoformat(), "lat": lat, "lon": lon, "accuracy_m": accuracy}


def _line(client: TestClient, world: World, meeting_id: int, member_id: int) -> dict[str, Any]:
    got = client.get(
        f"/api/v1/meetings/{meeting_id}/attendance", headers=world.headers("branch_admin")
    )
    assert got.status_code == 200, got.text
    return next(x for x in got.json()["items"] if x["member_id"] == member_id)


def _refusals(engine: Engine) -> list[str]:
    with Session(engine) as db:
        rows = db.scalars(select(AuditEntry).where(AuditEntry.action == "checkin_refused"))
        return [(r.detail or {})["reason"] for r in rows]


def test_a_phone_inside_the_site_is_counted_outside_not_and_a_mock_is_named(
    engine: Engine, tmp_path: Path
) -> None:
    client, world = _app(engine, tmp_path)
    me = world.targets["self"].member_id
    phone = _phone()
    with client:
        meeting = _live_meeting(client, world)
        url = f"/api/v1/meetings/{meeting}/checkins/phone"
        member = world.headers("member")
        # A meeting room takes receivers or the meeting's code only, by default.
        refused = client.post(
            url, json={"phone_id": phone, "fixes": [_fix(*CENTRE, 8.0)]}, headers=member
        )
        assert refused.status_code == 409
        assert "meeting's code" in refused.json()["detail"]
        _policy(engine, world, EvidencePolicy.ANY)
        far = client.post(
            url,
            json={"phone_id": phone, "fixes": [_fix(30.61, 114.0, 8.0, ago_s=600)]},
            headers=member,
        )
        assert far.status_code == 422
        assert "outside the meeting's site" in far.json()["detail"]
        mock = client.post(
            url, json={"phone_id": phone, "fixes": [_fix(*CENTRE, 0.0, ago_s=0.5)]}, headers=member
        )
        assert mock.status_code == 422
        assert "implausible_accuracy" in mock.json()["detail"]
        constant = [_fix(*CENTRE, 3.14, ago_s=0.4 - k * 0.1) for k in range(3)]
        steady = client.post(url, json={"phone_id": phone, "fixes": constant}, headers=member)
        assert steady.status_code == 422, steady.text
        assert "implausible_accuracy" in steady.json()["detail"]
        assert _line(client, world, meeting, me)["status"] == "pending"
        done = client.post(
            url, json={"phone_id": phone, "fixes": [_fix(*CENTRE, 8.0, ago_s=0.1)]}, headers=member
        )
        assert done.status_code == 201, done.text
        assert done.json()["evidence"] == "phone"
        again = client.post(
            url, json={"phone_id": phone, "fixes": [_fix(*CENTRE, 9.0, ago_s=0)]}, headers=member
        )
        assert again.status_code == 409
        line = _line(client, world, meeting, me)
        assert (line["status"], line["evidence"]) == ("present", "phone")
        mine = client.get("/api/v1/meeting-checkins", headers=member).json()["items"]
        assert [(c["meeting_id"], c["evidence"]) for c in mine] == [(meeting, "phone")]
    assert _refusals(engine) == ["policy", "outside", "rejected", "rejected", "already"]
    with Session(engine) as db:
        stored = db.scalars(select(Position.rejections).where(Position.source == "phone")).all()
    assert sorted(str(r) for r in stored) == sorted(
        ["None", "implausible_accuracy", *["implausible_accuracy"] * 3, "None", "None"]
    )


def test_an_offline_check_in_keeps_its_time_and_the_future_is_refused(
    engine: Engine, tmp_path: Path
) -> None:
    client, world = _app(engine, tmp_path)
    _policy(engine, world, EvidencePolicy.ANY)
    with client:
        meeting = _live_meeting(client, world, minutes_ago=20)
        url = f"/api/v1/meetings/{meeting}/checkins/phone"
        phone = _phone()
        ahead = client.post(
            url,
            json={"phone_id": phone, "fixes": [_fix(*CENTRE, 6.0, ago_s=-120)]},
            headers=world.headers("member"),
        )
        assert ahead.status_code == 422 and "future" in ahead.json()["detail"]
        # Queued 18 minutes ago (2 minutes after the start: on time), sent now.
        queued = client.post(
            url,
            json={"phone_id": phone, "fixes": [_fix(*CENTRE, 6.0, ago_s=18 * 60)]},
            headers=world.headers("member"),
        )
        assert queued.status_code == 201, queued.text
        line = _line(client, world, meeting, world.targets["self"].member_id)
        assert (line["status"], line["evidence"]) == ("present", "phone")


def _code_of(client: TestClient, world: World, meeting: int) -> tuple[int, str]:
    shown = client.get(f"/api/v1/meetings/{meeting}/qr", headers=world.headers("branch_admin"))
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["svg"].lstrip().startswith("<?xml")
    query = parse_qs(urlsplit(body["url"]).query)
    assert query["meeting"] == [str(meeting)]
    return int(query["step"][0]), query["code"][0]


def test_the_meetings_code_checks_in_once_and_refuses_what_it_should(
    engine: Engine, tmp_path: Path
) -> None:
    client, world = _app(engine, tmp_path)
    me = world.targets["self"].member_id
    with client:
        meeting = _live_meeting(client, world)
        other = _live_meeting(client, world)
        step, code = _code_of(client, world, meeting)
        url = f"/api/v1/meetings/{meeting}/checkins/qr"
        phone = _phone()
        member = world.headers("member")
        with Session(engine) as db:
            key = current_key(db)
        expired = client.post(
            url,
            json={
                "phone_id": phone,
                "step": step - 2,
                "code": qrcode.code_for(key, meeting, step - 2),
            },
            headers=member,
        )
        assert expired.status_code == 422 and "expired" in expired.json()["detail"]
        step_o, code_o = _code_of(client, world, other)
        wrong = client.post(
            url, json={"phone_id": phone, "step": step_o, "code": code_o}, headers=member
        )
        assert wrong.status_code == 422 and "not this meeting's" in wrong.json()["detail"]
        # A member of another branch (not on the roll) scanning the code.
        with Session(engine) as db:
            stranger = users.create_user(
                db,
                username="m3",
                password=PASSWORD,
                role=Role.MEMBER,
                org_id=world.targets["sibling"].org_id,
                member_id=world.targets["sibling"].member_id,
            )
            db.commit()
            token = create_access_token(
                client.app.state.settings,
                user_id=stranger.id,  # type: ignore[attr-defined]
                password_hash=stranger.password_hash,
            )[0]
        theirs = client.post(
            url,
            json={"phone_id": _phone(), "step": step, "code": code},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert theirs.status_code == 404
        good = client.post(
            url, json={"phone_id": phone, "step": step, "code": code}, headers=member
        )
        assert good.status_code == 201, good.text
        assert good.json()["evidence"] == "qr"
        twice = client.post(
            url, json={"phone_id": phone, "step": step, "code": code}, headers=member
        )
        assert twice.status_code == 409
        # A second phone waits for the secretary.
        new_phone = _phone()
        unbound = client.post(
            f"/api/v1/meetings/{other}/checkins/qr",
            json={"phone_id": new_phone, "step": step_o, "code": code_o},
            headers=member,
        )
        assert unbound.status_code == 403 and "approve" in unbound.json()["detail"]
        waiting = client.get(
            "/api/v1/phones", params={"pending": True}, headers=world.headers("branch_admin")
        ).json()["items"]
        assert [(p["member_id"], p["state"]) for p in waiting] == [(me, "pending")]
        approved = client.post(
            f"/api/v1/phones/{waiting[0]['device_id']}/approve",
            headers=world.headers("branch_admin"),
        )
        assert approved.json()["state"] == "bound"
        old = client.post("/api/v1/me/phone", json={"phone_id": phone}, headers=member)
        assert old.json()["state"] == "retired"
        line = _line(client, world, meeting, me)
        assert (line["status"], line["evidence"]) == ("present", "qr")
    assert _refusals(engine) == ["expired", "wrong_code", "not_on_roll", "already", "phone_pending"]


def test_rotating_the_key_voids_the_codes_shown(engine: Engine, tmp_path: Path) -> None:
    client, world = _app(engine, tmp_path)
    with client:
        meeting = _live_meeting(client, world)
        step, code = _code_of(client, world, meeting)
        with Session(engine) as db:
            rotate_key(db)
            db.commit()
        old = client.post(
            f"/api/v1/meetings/{meeting}/checkins/qr",
            json={"phone_id": _phone(), "step": step, "code": code},
            headers=world.headers("member"),
        )
        assert old.status_code == 422


def test_check_ins_are_rate_limited(engine: Engine, tmp_path: Path) -> None:
    client, world = _app(engine, tmp_path, checkin_max_per_minute=3)
    with client:
        meeting = _live_meeting(client, world)
        url = f"/api/v1/meetings/{meeting}/checkins/qr"
        answers = [
            client.post(
                url,
                json={"phone_id": _phone(), "step": 1, "code": "A" * 16},
                headers=world.headers("member"),
            ).status_code
            for _ in range(4)
        ]
        assert answers[-1] == 429
        assert 429 not in answers[:3]


@settings(max_examples=200, deadline=None)
@given(
    key=st.binary(min_size=32, max_size=32),
    meeting=st.integers(1, 10**9),
    step=st.integers(0, 2**40),
    guess=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=16, max_size=16),
)
def test_codes_cannot_be_guessed_or_moved(key: bytes, meeting: int, step: int, guess: str) -> None:
    code = qrcode.code_for(key, meeting, step)
    now = step * qrcode.STEP_S
    assert qrcode.verdict(key, meeting, step, code, now_s=now) == "ok"
    if guess != code:
        assert qrcode.verdict(key, meeting, step, guess, now_s=now) == "wrong_code"
    # Another meeting, another step, another key: another code.
    assert qrcode.code_for(key, meeting + 1, step) != code
    assert qrcode.code_for(key, meeting, step + 1) != code
    assert qrcode.code_for(bytes(b ^ 1 for b in key), meeting, step) != code
    assert qrcode.verdict(key, meeting, step, code, now_s=now + 2 * qrcode.STEP_S) == "expired"


def test_a_secretary_sets_a_sites_evidence_policy(engine: Engine, tmp_path: Path) -> None:
    client, world = _app(engine, tmp_path)
    site = world.targets["self"].site_id
    admin = world.headers("branch_admin")
    with client:
        url = f"/api/v1/sites/{site}"
        assert client.get(url, headers=admin).json()["properties"]["evidence_policy"] == (
            "beidou_or_qr"  # a meeting room's default
        )
        changed = client.patch(
            url, json={"type": "Feature", "properties": {"evidence_policy": "any"}}, headers=admin
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["properties"]["evidence_policy"] == "any"
        listed = client.get("/api/v1/sites", headers=admin).json()["features"]
        assert {f["id"]: f["properties"]["evidence_policy"] for f in listed}[site] == "any"
        member = client.patch(
            url,
            json={"type": "Feature", "properties": {"evidence_policy": "any"}},
            headers=world.headers("member"),
        )
        assert member.status_code == 403
        bad = client.patch(
            url,
            json={"type": "Feature", "properties": {"evidence_policy": "phones"}},
            headers=admin,
        )
        assert bad.status_code == 422
