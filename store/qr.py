"""The deployment's keys for meetings' rotating codes (see :mod:`api.qrcode`).

The newest key signs and verifies; migration 0007 makes the first one (a database without any
makes one at first use). Rotating (``partymap qr
rotate-key``) adds a new key, which voids every code shown until then: the secretary's screen
shows a valid one again within its next refresh.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import QrKeyRow
from store.types import utcnow


def current_key(session: Session) -> bytes:
    """The key in force, made now if there is none yet (the caller commits)."""
    secret = session.scalar(select(QrKeyRow.secret).order_by(QrKeyRow.id.desc()).limit(1))
    if secret is not None:
        return bytes(secret)
    return rotate_key(session)


def rotate_key(session: Session) -> bytes:
    """Put a new random 256-bit key in force; returns it (the caller commits)."""
    secret = secrets.token_bytes(32)
    session.add(QrKeyRow(secret=secret, created_at=utcnow()))
    session.flush()
    return secret
