"""Access tokens, the login throttle, the caller's address, and the principal behind a token.

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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Network, IPv6Network, ip_address

import jwt
from sqlalchemy.orm import Session
from starlette.requests import Request

from api.principal import Principal
from partymap.settings import Settings
from store.login_counters import count_attempt, forget, purge_expired, uncount_attempt
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
    """Limits on logins, counted in the database before any password is checked.

    Per (username, address): ``max_failures`` attempts a window; a success clears them, so a
    stranger guessing someone's password from elsewhere cannot lock that user out. Per
    address: ``max_attempts`` attempts a window, successes taken back (an office behind one
    address logging in all morning is not throttled). An attempt counts while its password is
    being checked, so parallel guesses are refused past the limit; the counters live in the
    database, shared by every API process. Keys are keyed hashes: no usernames or addresses
    are stored.
    """

    def __init__(
        self, *, max_failures: int, max_attempts: int, window_s: float, secret: bytes
    ) -> None:
        self._max_failures = max_failures
        self._max_attempts = max_attempts
        self._window_s = window_s
        self._secret = secret

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginThrottle:
        return cls(
            max_failures=settings.login_max_failures,
            max_attempts=settings.login_max_attempts_per_address,
            window_s=settings.login_window_seconds,
            secret=_signing_key(settings),
        )

    def begin(
        self, session: Session, username: str, address: str, *, now_s: float | None = None
    ) -> float:
        """Count an attempt and commit it: 0 to go ahead, else seconds to wait (then nothing
        is counted)."""
        now_s = time.time() if now_s is None else now_s
        purge_expired(session, window_s=self._window_s, now_s=now_s)
        for key, limit in (
            (self._pair(username, address), self._max_failures),
            (self._address(address), self._max_attempts),
        ):
            wait = count_attempt(
                session, key=key, limit=limit, window_s=self._window_s, now_s=now_s
            )
            if wait:
                session.rollback()
                return wait
        session.commit()
        return 0.0

    def succeeded(self, session: Session, username: str, address: str) -> None:
        """The attempt was right: clear the pair's count, take it back from the address's."""
        forget(session, key=self._pair(username, address))
        uncount_attempt(session, key=self._address(address))

    def _pair(self, username: str, address: str) -> str:
        return self._key(b"user", username.casefold(), address)

    def _address(self, address: str) -> str:
        return self._key(b"address", address)

    def _key(self, kind: bytes, *parts: str) -> str:
        message = kind + b"\0" + "\0".join(parts).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def client_address(request: Request, trusted: Sequence[IPv4Network | IPv6Network]) -> str:
    """The caller's address: the peer's, or — when the peer is a trusted proxy — the first
    address of ``X-Forwarded-For`` read from the right that is not a trusted proxy.

    >>> from ipaddress import ip_network
    >>> from starlette.requests import Request
    >>> def asked(peer, forwarded):
    ...     headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    ...     return Request({"type": "http", "client": (peer, 1), "headers": headers})
    >>> proxies = [ip_network("10.0.0.0/8")]
    >>> client_address(asked("10.0.0.2", "203.0.113.9, 10.0.0.7"), proxies)
    '203.0.113.9'
    >>> client_address(asked("198.51.100.4", "203.0.113.9"), proxies)  # not from a proxy
    '198.51.100.4'
    >>> client_address(asked("10.0.0.2", "203.0.113.9"), [])  # no proxy trusted
    '10.0.0.2'
    """
    peer = request.client.host if request.client else "unknown"
    if not _within(peer, trusted):
        return peer
    hops = [
        hop.strip()
        for value in request.headers.getlist("x-forwarded-for")
        for hop in value.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _within(address: str, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
