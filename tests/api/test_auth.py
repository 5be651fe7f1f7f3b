"""Logins, tokens, cookies, the login throttle, and device tokens on the ingest endpoint."""

from __future__ import annotations

import contextlib
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.auth import COOKIE_NAME, create_access_token
from partymap.settings import DEFAULT_SECRET, Settings
from store import users
from tests.api.conftest import SECRET, api_settings, client_for, make_app
from tests.api.live import serving
from tests.api.world import PASSWORD, World, build_world

World3 = tuple[FastAPI, World, Engine]
NMEA = b"$GNGGA,080000.00,3030.0000,N,11418.0000,E,1,12,0.9,21.5,M,,M,,*4B\r\n" * 3


def test_login_gives_a_token_and_a_strict_cookie(world_app: World3) -> None:
    app, _world, _ = world_app
    with client_for(app) as client:
        response = client.post("/api/v1/auth/token", data={"username": "ba", "password": PASSWORD})
        body = response.json()
        cookie = response.headers["set-cookie"]
        me = client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
    assert response.status_code == 200 and body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 60
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    assert me.json()["role"] == "branch_admin" and me.json()["username"] == "ba"


def test_the_cookie_authenticates_reads_only(world_app: World3) -> None:
    app, world, _ = world_app
    cookies = {COOKIE_NAME: world.tokens["whole_tree"]}
    with client_for(app) as client:
        client.cookies.update(cookies)
        read = client.get("/api/v1/orgs")
        write = client.post("/api/v1/orgs", json={"name": "伪造", "kind": "branch"})
    assert read.status_code == 200
    assert write.status_code == 401  # a cross-site form post carries no usable credential


def test_bad_and_expired_tokens(world_app: World3) -> None:
    app, world, _ = world_app
    old, _seconds = create_access_token(
        app.state.settings,
        user_id=world.user_ids["whole_tree"],
        password_hash=world.password_hash,
        now=datetime.now(UTC) - timedelta(hours=2),
    )
    other = Settings(environment="test", secret_key="another-secret-Qz7vN2kLp9Xw4Rt8Jc5")  # type: ignore[arg-type]
    forged, _ = create_access_token(
        other, user_id=world.user_ids["whole_tree"], password_hash=world.password_hash
    )
    with client_for(app) as client:
        for token in (old, forged, "not-a-jwt", world.tokens["device"]):
            response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"


def test_a_deactivated_user_is_refused_at_once(engine: Engine, tmp_path: Path) -> None:
    app = make_app(engine, tmp_path)
    world = build_world(engine, app.state.settings)
    with Session(engine) as db:
        users.update_user(db, user_id=world.user_ids["branch_admin"], active=False)
        db.commit()
    with client_for(app) as client:
        me = client.get("/api/v1/auth/me", headers=world.headers("branch_admin"))
        login = client.post("/api/v1/auth/token", data={"username": "ba", "password": PASSWORD})
    assert me.status_code == 401 and login.status_code == 401


def _login(client: Any, username: str, password: str, address: str | None = None) -> Any:
    headers = {"X-Forwarded-For": address} if address else {}
    return client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}, headers=headers
    )


def test_a_stranger_cannot_lock_a_user_out(engine: Engine, tmp_path: Path) -> None:
    """regression: five wrong passwords from anywhere locked the named user out for five
    minutes (the admin could be locked out on purpose)."""
    app = make_app(engine, tmp_path, login_max_failures=3, trusted_proxies=["127.0.0.0/8"])
    build_world(engine, app.state.settings)
    with serving(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        stranger = [_login(client, "ba", "nope-nope", "203.0.113.7") for _ in range(4)]
        owner = _login(client, "ba", PASSWORD, "198.51.100.20")
        stranger_right = _login(client, "ba", PASSWORD, "203.0.113.7")
    assert [r.status_code for r in stranger] == [401, 401, 401, 429]
    assert int(stranger[-1].headers["retry-after"]) > 0
    detail = stranger[-1].json()["detail"]
    assert detail.startswith("too many login attempts: try again in ")
    assert owner.status_code == 200  # from elsewhere, the user logs in
    assert stranger_right.status_code == 429  # the guessing address stays blocked


def test_the_address_limit_counts_failures_not_successes(engine: Engine, tmp_path: Path) -> None:
    app = make_app(engine, tmp_path, login_max_failures=100, login_max_attempts_per_address=3)
    build_world(engine, app.state.settings)
    with client_for(app) as client:
        office = [_login(client, "ba", PASSWORD) for _ in range(6)]
        wrong = [_login(client, f"u{n}", "nope-nope") for n in range(4)]
    assert {r.status_code for r in office} == {200}
    assert [r.status_code for r in wrong] == [401, 401, 401, 429]


def test_x_forwarded_for_only_from_trusted_proxies(engine: Engine, tmp_path: Path) -> None:
    """regression: X-Forwarded-For was believed from 127.0.0.1 whatever the settings said, so
    a client there could pose as any number of addresses."""
    untrusted = make_app(engine, tmp_path, login_max_failures=2)
    build_world(engine, untrusted.state.settings)
    # A real server: the peer is 127.0.0.1, which uvicorn trusted by default.
    with serving(untrusted) as base, httpx.Client(base_url=base, timeout=60) as client:
        posing = [_login(client, "ba", "nope-nope", f"192.0.2.{n}") for n in range(3)]
    assert [r.status_code for r in posing] == [401, 401, 429]


def test_parallel_guesses_stop_at_the_limit_across_workers(engine: Engine, tmp_path: Path) -> None:
    """regression: 25 wrong passwords sent at once were all checked (the failure was counted
    only after argon2 finished) and each worker process counted its own share."""
    limit = 5
    workers = [make_app(engine, tmp_path / f"w{n}", login_max_failures=limit) for n in range(2)]
    build_world(engine, workers[0].state.settings)
    with contextlib.ExitStack() as stack:
        bases = [stack.enter_context(serving(app)) for app in workers]

        def guess(n: int) -> int:
            with httpx.Client(base_url=bases[n % 2], timeout=60) as client:
                return _login(client, "ba", f"guess-{n}").status_code

        with ThreadPoolExecutor(max_workers=25) as pool:
            codes = list(pool.map(guess, range(25)))
    assert codes.count(401) == limit, codes
    assert codes.count(429) == 25 - limit


def test_a_default_secret_is_refused_outside_development(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="PARTYMAP_SECRET_KEY"):
        Settings(environment="production", data_dir=tmp_path)
    assert api_settings(tmp_path).secret_key.get_secret_value() == SECRET


WEAK_SECRETS = {
    "empty": "",
    "one character": "x",
    "the default with a space": DEFAULT_SECRET + " ",
    "the default padded to 32": DEFAULT_SECRET + "-0123456789",
    "one letter repeated": "a" * 64,
    "a phrase typed twice": "partymap-secret-2026partymap-secret-2026",
    "two letters": "ab" * 20,
}


@pytest.mark.parametrize("environment", ["production", "test"])
@pytest.mark.parametrize("name", sorted(WEAK_SECRETS))
def test_short_or_guessable_secrets_are_refused_outside_development(
    name: str, environment: str, tmp_path: Path
) -> None:
    """regression: an empty, 1-character or default-plus-space secret was accepted, and a token
    signed offline with it logged in as anyone."""
    with pytest.raises(ValidationError, match="PARTYMAP_SECRET_KEY") as refused:
        Settings(environment=environment, secret_key=WEAK_SECRETS[name], data_dir=tmp_path)  # type: ignore[arg-type]
    assert "secrets.token_urlsafe(32)" in str(refused.value)  # how to make a good one
    # Development keeps working with anything, the default included.
    Settings(environment="development", secret_key=WEAK_SECRETS[name], data_dir=tmp_path)  # type: ignore[arg-type]


def test_random_secrets_are_accepted(tmp_path: Path) -> None:
    for secret in [secrets.token_urlsafe(32), secrets.token_hex(32)] * 50:
        Settings(environment="production", secret_key=secret, data_dir=tmp_path)  # type: ignore[arg-type]


def test_devices_post_nmea_with_their_token(engine: Engine, tmp_path: Path) -> None:
    app = make_app(engine, tmp_path, ingest_max_bytes=1000)
    world = build_world(engine, app.state.settings)
    own = world.targets["self"].device_uid
    url = f"/api/v1/devices/{own}/nmea"
    text = {"Content-Type": "text/plain"}
    with client_for(app) as client:
        ok = client.post(url, content=NMEA, headers={**world.headers("device"), **text})
        as_admin = client.post(url, content=NMEA, headers={**world.headers("whole_tree"), **text})
        other_uid = client.post(
            f"/api/v1/devices/{world.targets['peer'].device_uid}/nmea",
            content=NMEA,
            headers={**world.headers("device"), **text},
        )
        too_big = client.post(url, content=NMEA * 20, headers={**world.headers("device"), **text})
        json_body = client.post(url, json={"a": 1}, headers=world.headers("device"))
        rotated = client.post(
            f"/api/v1/devices/{world.targets['self'].device_id}/token",
            headers=world.headers("branch_admin"),
        ).json()
        stale = client.post(url, content=NMEA, headers={**world.headers("device"), **text})
        fresh = client.post(
            url, content=NMEA, headers={"Authorization": f"Bearer {rotated['token']}", **text}
        )
        app.state.ingest = None
        no_pipeline = client.post(
            url, content=NMEA, headers={"Authorization": f"Bearer {rotated['token']}", **text}
        )
    assert ok.status_code == 202 and ok.json() == {
        "device_uid": own,
        "bytes": len(NMEA),
        "lines": 3,
    }
    assert [as_admin.status_code, other_uid.status_code] == [401, 401]
    assert [too_big.status_code, json_body.status_code] == [413, 415]
    assert [stale.status_code, fresh.status_code, no_pipeline.status_code] == [401, 202, 503]
    assert "ingestion pipeline" in no_pipeline.json()["detail"]
