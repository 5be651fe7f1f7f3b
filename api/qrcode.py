"""Meetings' rotating check-in codes: what the secretary's screen shows, and their check.

A code is the first 80 bits of HMAC-SHA256(key, "<meeting id>:<step>") in base 32, where the
step is the number of whole :data:`STEP_S`-second periods since the Unix epoch; the key is the
deployment's (:mod:`store.qr`). The screen shows the URL of the member page with the meeting,
the step and the code; the page posts them back with the member's login. A code is accepted
during its own step and the next one (a code read at the end of its 30 s still works while
the phone opens the page), never for another meeting, never later: a forwarded screenshot is
useless a minute on. Codes are compared in constant time.

>>> key = bytes(32)
>>> code = code_for(key, 12, 59_000_000)
>>> len(code), verdict(key, 12, 59_000_000, code, now_s=59_000_000 * STEP_S + 45)
(16, 'ok')
>>> verdict(key, 12, 59_000_000, code, now_s=59_000_002 * STEP_S)
'expired'
>>> verdict(key, 13, 59_000_000, code, now_s=59_000_000 * STEP_S)
'wrong_code'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from typing import Literal

import segno

STEP_S = 30
CODE_BYTES = 10  # 80 bits: 16 characters of base 32
Verdict = Literal["ok", "expired", "not_yet", "wrong_code"]


def step_of(now_s: float) -> int:
    return int(now_s // STEP_S)


def code_for(key: bytes, meeting_id: int, step: int) -> str:
    mac = hmac.new(key, f"{meeting_id}:{step}".encode(), hashlib.sha256).digest()
    return base64.b32encode(mac[:CODE_BYTES]).decode().rstrip("=")


def verdict(key: bytes, meeting_id: int, step: int, code: str, *, now_s: float) -> Verdict:
    """Whether ``code`` shown at ``step`` for ``meeting_id`` is good at ``now_s``."""
    expected = code_for(key, meeting_id, step)
    if not hmac.compare_digest(expected.encode(), code.upper().encode()):
        return "wrong_code"
    current = step_of(now_s)
    if step > current:
        return "not_yet"
    if step < current - 1:
        return "expired"
    return "ok"


def checkin_url(base_url: str, meeting_id: int, step: int, code: str) -> str:
    """The member page's address that checks the member in (the QR code's content)."""
    return f"{base_url.rstrip('/')}/m/?meeting={meeting_id}&step={step}&code={code}"


def qr_svg(content: str) -> bytes:
    out = io.BytesIO()
    segno.make(content, error="m").save(out, kind="svg", scale=8, border=4, xmldecl=True)
    return out.getvalue()


def qr_png(content: str) -> bytes:
    out = io.BytesIO()
    segno.make(content, error="m").save(out, kind="png", scale=8, border=4)
    return out.getvalue()
