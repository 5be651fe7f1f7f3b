"""The vocabulary of the authorisation matrix: an operation's case, and who may call it.

Routes of other packages bring their own cases: a module ``tests/<package>/authz_cases.py``
with ``CASES: dict[tuple[str, str], Op]`` (method, path template) is merged into the matrix
by :mod:`tests.api.test_authorization`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from tests.api.world import ORG_READ, PERSONAL, World

Request = dict[str, Any]
Builder = Callable[[World, str, Session], Request]


@dataclass(frozen=True)
class Op:
    """How to call one operation for a target, and who may.

    ``build(world, target, session)`` returns ``client.request`` keyword arguments (``url``
    defaults to the path template; it may create rows to act on, and commit them).
    ``category``: public, login, authenticated, stream, device, display (a big screen's
    display token only: no login opens it), org_read (the target's organisation's own
    data), personal (the target member's data), admin (admins within their subtree),
    committee (committee admins within their subtree), committee_any, member_self (a member
    acting for themselves: admins are refused), member_org (a member acting for themselves
    at a meeting of their own organisation: the target's).
    """

    category: str
    build: Builder
    # Statuses an admin gets for a target outside their scope (an import reports it as a
    # problem of the file, 422, with the same words as for a code that does not exist).
    denied: frozenset[int] = frozenset({403, 404})
    audit: str | None = None  # action every returned member's entry must carry


ADMIN_SCOPE = {role: PERSONAL[role] for role in ("branch_admin", "committee_admin", "whole_tree")}


# The live stream after a change (tests/api/test_authorization.py, on a real server): whose
# events each role receives once "peer" (B1) is transferred to B3, and that every role's own
# stream ends when the user is deactivated, gets a new password or a new organisation.
STREAM_ROLES = ("member", "branch_admin", "committee_admin", "whole_tree")
AFTER_TRANSFER = {
    "member": {"self"},
    "branch_admin": {"self"},
    "committee_admin": {"self", "sibling"},
    "whole_tree": {"self", "peer", "sibling", "outside"},
}


def expected(op: Op, role: str, target: str) -> set[int]:
    """The statuses this role may get for this target."""
    ok = {200, 201, 202, 204}
    category = op.category
    if category == "public":
        return ok
    if category == "login":
        return {401}
    if category == "device":
        return {202} if role == "device" and target == "self" else {401}
    if category == "display":
        return {401}  # tests/api/test_display.py opens them with display tokens
    if role in ("anonymous", "device"):
        return {401}
    if category in ("authenticated", "stream"):
        return ok
    if category == "org_read":
        return ok if target in ORG_READ[role] else {404}
    if category == "personal":
        return ok if target in PERSONAL[role] else {404}
    if category == "member_self":
        return ok if role == "member" else {403}
    if category == "member_org":
        if role != "member":
            return {403}
        return ok if target in ORG_READ[role] else {404}
    if role == "member":
        return {403}
    if category == "admin":
        return ok if target in ADMIN_SCOPE[role] else set(op.denied)
    if role == "branch_admin":
        return {403}
    if category == "committee_any":
        return ok
    return ok if target in ADMIN_SCOPE[role] else {403, 404}  # committee


def extension_cases() -> dict[tuple[str, str], Op]:
    """Cases other packages' tests contribute for their routes."""
    cases: dict[tuple[str, str], Op] = {}
    for path in sorted(Path(__file__).resolve().parents[1].glob("*/authz_cases.py")):
        module = importlib.import_module(f"tests.{path.parent.name}.authz_cases")
        cases.update(module.CASES)
    return cases
