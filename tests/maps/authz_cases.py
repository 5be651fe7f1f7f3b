"""The map's operations in the API's authorisation matrix (tests/api/test_authorization.py):
who may call each one, on which target, and which audit entry its answer must leave."""

from __future__ import annotations

from tests.api.matrix import Op
from tests.api.world import World

MAP = "/api/v1/map"


def _ids(world: World, what: str) -> str:
    return ",".join(str(getattr(t, what)) for t in world.targets.values())


CASES: dict[tuple[str, str], Op] = {
    ("GET", "/map"): Op("public", lambda w, t, db: {}),
    ("GET", "/map/static/{path:path}"): Op(
        "public", lambda w, t, db: {"url": "/map/static/dashboard.js"}
    ),
    # The whole world at street zoom: every member the caller may see is drawn one by one.
    ("GET", f"{MAP}/overview"): Op(
        "authenticated",
        lambda w, t, db: {"params": {"bbox": "-180,-85,180,85", "zoom": 18}},
        audit="read_positions",
    ),
    ("GET", f"{MAP}/tree"): Op(
        "org_read", lambda w, t, db: {"params": {"parent": w.targets[t].org_id}}
    ),
    ("GET", f"{MAP}/orgs/{{org_id}}"): Op(
        "org_read",
        lambda w, t, db: {"url": f"{MAP}/orgs/{w.targets[t].org_id}"},
        audit="read_positions",
    ),
    ("GET", f"{MAP}/members/{{member_id}}"): Op(
        "personal",
        lambda w, t, db: {"url": f"{MAP}/members/{w.targets[t].member_id}"},
        audit="read_track",
    ),
    ("GET", f"{MAP}/meetings"): Op("authenticated", lambda w, t, db: {}),
    ("GET", f"{MAP}/meetings/{{meeting_id}}"): Op(
        "org_read",
        lambda w, t, db: {"url": f"{MAP}/meetings/{w.targets[t].meeting_id}"},
        audit="read_attendance",
    ),
    # Every marker name contains "T-": a search for it finds whatever the caller may see.
    ("GET", f"{MAP}/search"): Op("authenticated", lambda w, t, db: {"params": {"q": "T-"}}),
    ("GET", f"{MAP}/names"): Op(
        "authenticated",
        lambda w, t, db: {"params": {"members": _ids(w, "member_id"), "sites": _ids(w, "site_id")}},
    ),
}
