"""Access tokens, the login throttle, and the principal behind a token.

Tokens are short-lived JWTs (HS256 with ``settings.secret_key``, ``access_token_minutes``)
naming the user id and a fingerprint of the user's password hash: role and scope are read from
the user row on every request, and a new password (a new hash) voids every token issued
before it.
A token arrives as ``Authorization: Bearer`` (always accepted) or as the HttpOnly
``partymap_token`` cookie the login also sets, accepted for GET and HEAD only: the map page and
its EventSource authenticate with it, while a forged cross-site POST carries no usable cookie
(SameSite=Strict, and state-changing methods ignore it anyway).

>>> from partymap.settings import Settings
>>> settings = Settings(secret_key="s" * 32, access_token_minutes=5)
>>> token, seconds = create_access_token(settings, user_id=42, password_hash="$argon2id$…")
>>> claims = decode_access_token(settings, token)
>>> claims.user_id, seconds, claims.credential == credential_of(settings, "$argon2id$…")
(42, 300, True)
>>> decode_access_token(settings, token + "x") is None
True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy.orm import Session

from api.principal import Principal
from partymap.settings import Settings
from store.members import get_member
from store.models import Role, User
from store.orgs import get_organisation

COOKIE_NAME = "partymap_token"
_ALGORITHM = "HS256"
_AUDIENCE = "partymap-api"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid token says: whose it is, and which password it was issued under."""

    user_id: int
    credential: str


def create_access_token(
    settings: Settings, *, user_id: int, password_hash: str, now: datetime | None = None
) -> tuple[str, int]:
    """A signed token for ``user_id`` (whose password hash is ``password_hash``) and its
    lifetime in seconds."""
    issued = now or datetime.now(UTC)
    lifetime = timedelta(minutes=settings.access_token_minutes)
    claims = {
        "sub": str(user_id),
        "aud": _AUDIENCE,
        "iat": int(issued.timestamp()),
        "exp": int((issued + lifetime).timestamp()),
        "pwd": credential_of(settings, password_hash),
    }
    token = jwt.encode(claims, _signing_key(settings), algorithm=_ALGORITHM)
    return token, int(lifetime.total_seconds())


def decode_access_token(settings: Settings, token: str) -> TokenClaims | None:
    """The claims of a valid, unexpired token; None for anything else."""
    try:
        claims = jwt.decode(
            token,
            _signing_key(settings),
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            options={"require": ["sub", "exp", "aud", "pwd"]},
        )
        return TokenClaims(user_id=int(claims["sub"]), credential=str(claims["pwd"]))
    except (jwt.PyJWTError, ValueError, TypeError):
        return None


def credential_of(settings: Settings, password_hash: str) -> str:
    """A keyed fingerprint of a password hash: equal while the password is unchanged. It
    says nothing of the hash to the token's holder (HMAC with the token key)."""
    digest = hmac.new(_signing_key(settings), password_hash.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def _signing_key(settings: Settings) -> bytes:
    # A key of its own for tokens, derived from the secret (which other parts may use too),
    # and always the 256 bits HS256 wants whatever the secret's length.
    return hashlib.sha256(
        b"partymap access token\0" + settings.secret_key.get_secret_value().encode()
    ).digest()


def principal_for(session: Session, settings: Settings, claims: TokenClaims) -> Principal | None:
    """The principal behind a token, with their scope as of now; None when the user is gone,
    deactivated, or has a new password since the token was issued."""
    user = session.get(User, claims.user_id)
    if user is None or not user.active:
        return None
    if not hmac.compare_digest(credential_of(settings, user.password_hash), claims.credential):
        return None
    return principal_of(session, user)


def principal_of(session: Session, user: User) -> Principal:
    org_id = user.org_id
    if user.role is Role.MEMBER and user.member_id is not None:
        # A member's scope is where they belong today: transfers move it.
        org_id = get_member(session, member_id=user.member_id).org_id
    org_path = get_organisation(session, org_id=org_id).path if org_id is not None else None
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        org_id=org_id,
        org_path=org_path,
        member_id=user.member_id,
    )


def system_principal() -> Principal:
    """The whole-tree scope the command line acts with (``partymap import``, reports)."""
    return Principal(
        user_id=0,
        username="system",
        role=Role.COMMITTEE_ADMIN,
        org_id=None,
        org_path=None,
        member_id=None,
    )


class LoginThrottle:
    """Sliding-window limits on logins: failures per username, attempts per client address.

    Kept in memory per process: enough for one ``partymap serve``; behind several workers each
    counts its own share, which still bounds guessing to a small multiple.

    >>> throttle = LoginThrottle(max_failures=2, max_attempts=10, window_s=60)
    >>> throttle.retry_after("li", "10.0.0.1", now=0.0)
    0.0
    >>> throttle.failed("li", now=1.0); throttle.failed("li", now=2.0)
    >>> throttle.retry_after("li", "10.0.0.2", now=3.0)
    58.0
    """

    def __init__(self, *, max_failures: int, max_attempts: int, window_s: float) -> None:
        self._max_failures = max_failures
        self._max_attempts = max_attempts
        self._window_s = window_s
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)
        self._attempts: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginThrottle:
        return cls(
            max_failures=settings.login_max_failures,
            max_attempts=settings.login_max_attempts_per_address,
            window_s=settings.login_window_seconds,
        )

    def retry_after(self, username: str, address: str, *, now: float | None = None) -> float:
        """Seconds to wait before this attempt may be tried (0: go ahead); counts the attempt."""
        now = time.monotonic() if now is None else now
        with self._lock:
            failures = self._trim(self._failures, username.casefold(), now)
            attempts = self._trim(self._attempts, address, now)
            waits = [
                window[0] + self._window_s - now
                for window, limit in (
                    (failures, self._max_failures),
                    (attempts, self._max_attempts),
                )
                if len(window) >= limit
            ]
            if waits:
                return max(*waits, 1.0)
            attempts.append(now)
            return 0.0

    def failed(self, username: str, *, now: float | None = None) -> None:
        with self._lock:
            self._failures[username.casefold()].append(time.monotonic() if now is None else now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username.casefold(), None)

    def _trim(self, table: defaultdict[str, deque[float]], key: str, now: float) -> deque[float]:
        window = table[key]
        while window and window[0] <= now - self._window_s:
            window.popleft()
        if not window:
            # Keep the table from growing with every name ever tried.
            del table[key]
            window = table[key]
        return window
