"""The static export: the dashboard as one self-contained HTML file, data included.

Everything the served dashboard would ask the map API for is computed once and embedded: the
overview at every zoom level, each organisation's tree level and panel, each member's panel
(with a thinned track), the meetings with their attendance, and a name index for search.
Leaflet, the dashboard's script and styles and the land outline are inlined, so the file opens
from disk with no server and no network. Every member whose positions it holds is written to
the audit log as exported by ``actor``.

Large organisations make large files: an export holds at most ``MAX_MEMBERS`` members (export
a subtree for more).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from maps import detail, overview
from maps.aggregate import POINTS_ZOOM
from maps.page import PageOptions, dashboard_html
from maps.snapshot import ORG_KINDS, Scope, load_roster
from store.audit import record_audit_many
from store.errors import InvalidValueError
from store.query import BBox

MAX_MEMBERS = 5000
TRACK_POINTS = 300
WORLD = BBox(west=-180.0, south=-85.0, east=180.0, north=85.0)
ZOOMS = range(2, POINTS_ZOOM + 1)


def export_data(
    session: Session,
    *,
    scope: Scope,
    now: datetime,
    stale_after: timedelta,
    hours: float = 24,
    max_members: int = MAX_MEMBERS,
) -> tuple[dict[str, Any], set[int]]:
    """The embedded data of an export, and the members whose positions it reveals."""
    roster = load_roster(session, now=now, stale_after=stale_after)
    o, m = roster.orgs, roster.members
    orgs_mask = o.in_scope(scope)
    members = np.flatnonzero(m.in_scope(scope, orgs_mask))
    if len(members) > max_members:
        raise InvalidValueError(
            f"{len(members)} members are more than one export holds ({max_members}): "
            "export one organisation's subtree at a time (--org)"
        )
    revealed: set[int] = set()

    def keep(payload: overview.Payload) -> dict[str, Any]:
        revealed.update(payload.member_ids)
        return payload.body

    org_ids = [int(i) for i in o.id[orgs_mask]]
    member_ids = [int(i) for i in m.id[members]]
    listed = detail.meetings(session, roster, scope, now=now)
    data: dict[str, Any] = {
        "generated": now.isoformat(),
        "overview": {z: keep(overview.overview(roster, scope, bbox=WORLD, zoom=z)) for z in ZOOMS},
        "tree": {
            "root": overview.tree(roster, scope, parent_id=None),
            **{i: overview.tree(roster, scope, parent_id=i) for i in org_ids},
        },
        "orgs": {i: keep(detail.org_detail(session, roster, scope, org_id=i)) for i in org_ids},
        "members": {
            i: keep(
                detail.member_detail(
                    session,
                    roster,
                    scope,
                    member_id=i,
                    now=now,
                    hours=hours,
                    track_points=TRACK_POINTS,
                )
            )
            for i in member_ids
        },
        "meetings": listed,
        "meeting": {
            mt["id"]: keep(
                detail.meeting_panel(session, roster, scope, meeting_id=mt["id"], now=now)
            )
            for mt in listed["meetings"]
        },
        "search": {
            "orgs": [
                {"id": int(o.id[r]), "name": o.name[r], "kind": ORG_KINDS[o.kind[r]].value}
                for r in np.flatnonzero(orgs_mask)
            ],
            "members": [
                {"member_id": int(m.id[r]), "name": m.name[r], "org": o.name[m.org[r]]}
                for r in members
            ],
        },
    }
    return data, revealed


def export_html(
    session: Session,
    *,
    scope: Scope,
    actor: str,
    now: datetime,
    stale_after: timedelta,
    language: str = "zh-CN",
    tiles: str = "osm",
    tianditu_key: str | None = None,
) -> str:
    """The export as HTML; the audit entries are added to ``session`` (the caller commits)."""
    data, revealed = export_data(session, scope=scope, now=now, stale_after=stale_after)
    record_audit_many(
        session,
        actor=actor,
        action="export_map",
        subject_member_ids=sorted(revealed),
        detail={"scope": scope.org_path or "whole tree"},
        at=now,
    )
    return dashboard_html(
        PageOptions(
            language=language, tiles=tiles, tianditu_key=tianditu_key, data=data, inline=True
        )
    )
