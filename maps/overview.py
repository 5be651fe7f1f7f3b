"""What the map shows at a glance, from a :class:`~maps.snapshot.Roster`: the overview of a
viewport (clusters and points), the organisation tree with counts, and search by name.

Every function takes the caller's :class:`~maps.snapshot.Scope` and sees nothing outside it.
Payloads are compact JSON values (arrays rather than objects for the many small records) whose
layout is documented on each function; coordinates are WGS 84 lon/lat, rounded to 0.1 m.

Functions that hand out individual members' positions also return their ids, for the caller
to write to the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from maps.aggregate import Grid, cluster, in_bbox, padded
from maps.snapshot import ORG_KINDS, SITE_KINDS, STATE_NAMES, Roster, Scope
from store.errors import NotFoundError
from store.query import BBox

COORD_DIGITS = 6
# An organisation's bounds reveal no member's position: members count by the cell of this
# size (about 1 km) they stand in; sites, which are no one's personal data, exactly.
BOUNDS_CELL_DEG = 0.01
METRES_PER_DEGREE = 111_320.0  # along a meridian, and along the equator


@dataclass(frozen=True, slots=True)
class Payload:
    """A response body and the members whose positions it reveals (to be audited)."""

    body: dict[str, Any]
    member_ids: tuple[int, ...] = ()


def overview(roster: Roster, scope: Scope, *, bbox: BBox, zoom: int) -> Payload:
    """Members and sites in (and just around) ``bbox`` at ``zoom``.

    ``members.clusters``: ``[lon, lat, count, [count per state], [west, south, east, north]]``;
    ``members.points``: ``[id, lon, lat, accuracy_m | null, state, name, site_id | null]`` (the
    site of an arriving or present member: the map counts members at a small site there);
    ``sites.clusters``: as members', counted per site kind;
    ``sites.points``: ``[id, lon, lat, kind, name, org_id, span_m]`` (``span_m``: the longer
    side of the site's bounds, in metres);
    ``totals``: members per state over the whole scope (the legend).
    """
    orgs_mask = roster.orgs.in_scope(scope)
    view = padded(bbox, zoom)
    m = roster.members
    in_scope = m.in_scope(scope, orgs_mask)
    placed = np.flatnonzero(in_scope & ~np.isnan(m.lon) & in_bbox(m.lon, m.lat, view))
    grid = cluster(m.lon[placed], m.lat[placed], m.state[placed], zoom=zoom,
                   categories=len(STATE_NAMES))  # fmt: skip
    shown = placed[grid.points]
    member_points = [
        [
            int(m.id[i]),
            _round(m.lon[i]),
            _round(m.lat[i]),
            None if np.isnan(m.accuracy_m[i]) else round(float(m.accuracy_m[i]), 1),
            STATE_NAMES[m.state[i]],
            m.name[i],
            int(m.site_id[i]) if m.site_id[i] >= 0 else None,
        ]
        for i in shown
    ]
    s = roster.sites
    sites = np.flatnonzero(orgs_mask[s.org] & in_bbox(s.lon, s.lat, view))
    span = site_span_m(s.bounds)
    site_grid = cluster(s.lon[sites], s.lat[sites], s.kind[sites], zoom=zoom,
                        categories=len(SITE_KINDS))  # fmt: skip
    site_points = [
        [
            int(s.id[i]),
            _round(s.lon[i]),
            _round(s.lat[i]),
            SITE_KINDS[s.kind[i]].value,
            s.name[i],
            int(roster.orgs.id[s.org[i]]),
            round(float(span[i]), 1),
        ]
        for i in sites[site_grid.points]
    ]
    totals = np.bincount(m.state[in_scope], minlength=len(STATE_NAMES))
    body = {
        "zoom": zoom,
        "members": {"clusters": _clusters(grid), "points": member_points},
        "sites": {"clusters": _clusters(site_grid), "points": site_points},
        "totals": dict(zip(STATE_NAMES, (int(v) for v in totals), strict=True)),
        "taken_at": roster.taken_at.isoformat(),
    }
    return Payload(body, tuple(int(i) for i in m.id[shown]))


def tree(roster: Roster, scope: Scope, *, parent_id: int | None) -> dict[str, Any]:
    """The children of ``parent_id`` (None: the top of the caller's scope), each with its
    member count and members per state over its whole subtree, and its count of sites.

    ``nodes``: ``{id, bounds, name, kind, depth, children, members, states: {state: n},
    sites}``; ``bounds`` (``[west, south, east, north]`` of sites and members) at the top only.
    """
    o = roster.orgs
    orgs_mask = o.in_scope(scope)
    if parent_id is None:
        if scope.org_id is None:
            rows = np.flatnonzero(o.parent < 0)
        else:
            rows = np.array([org_row(roster, scope, scope.org_id)])
    else:
        rows = np.flatnonzero((o.parent == org_row(roster, scope, parent_id)) & orgs_mask)
    m = roster.members
    in_scope = m.in_scope(scope, orgs_mask)
    n_orgs, n_states = len(o.id), len(STATE_NAMES)
    by_state = np.bincount(
        m.org[in_scope] * n_states + m.state[in_scope], minlength=n_orgs * n_states
    ).reshape(n_orgs, n_states)
    by_state = o.roll_up(by_state)
    site_orgs = roster.sites.org
    sites = o.roll_up(np.bincount(site_orgs[orgs_mask[site_orgs]], minlength=n_orgs))
    children = np.bincount(o.parent[(o.parent >= 0) & orgs_mask], minlength=n_orgs)
    nodes = [
        {
            "id": int(o.id[r]),
            # Where to look first: only for the top level (a pass over all members each).
            "bounds": org_bounds(roster, scope, int(r)) if parent_id is None else None,
            "name": o.name[r],
            "kind": ORG_KINDS[o.kind[r]].value,
            "depth": int(o.depth[r]),
            "children": int(children[r]),
            "members": int(by_state[r].sum()),
            "states": dict(zip(STATE_NAMES, (int(v) for v in by_state[r]), strict=True)),
            "sites": int(sites[r]),
        }
        for r in rows
    ]
    return {"parent_id": parent_id, "nodes": nodes}


def search(roster: Roster, scope: Scope, *, query: str, limit: int = 20) -> dict[str, Any]:
    """Organisations and members whose name contains ``query`` (case-insensitive).

    ``orgs``: ``{id, name, kind}``; ``members``: ``{member_id, name, org_id, org}`` — no
    positions.
    """
    needle = query.strip().casefold()
    if not needle:
        return {"query": query, "orgs": [], "members": []}
    o = roster.orgs
    orgs_mask = o.in_scope(scope)
    found_orgs = [
        {"id": int(o.id[r]), "name": o.name[r], "kind": ORG_KINDS[o.kind[r]].value}
        for r in _matching(o.name, orgs_mask, needle, limit)
    ]
    m = roster.members
    found_members = [
        {
            "member_id": int(m.id[r]),
            "name": m.name[r],
            "org_id": int(o.id[m.org[r]]),
            "org": o.name[m.org[r]],
        }
        for r in _matching(m.name, m.in_scope(scope, orgs_mask), needle, limit)
    ]
    return {"query": query, "orgs": found_orgs, "members": found_members}


def names(
    roster: Roster, scope: Scope, *, member_ids: list[int], site_ids: list[int]
) -> dict[str, Any]:
    """Names of members and sites the caller may see (for events that carry only ids), and the
    sites' time zones (an event's time is shown in its site's)."""
    o, m, s = roster.orgs, roster.members, roster.sites
    orgs_mask = o.in_scope(scope)
    members: dict[int, str] = {}
    for member_id in member_ids:
        row = m.row(member_id)
        if row is not None and scope.sees_member(member_id, str(o.path[m.org[row]])):
            members[member_id] = m.name[row]
    sites: dict[int, str] = {}
    site_tz: dict[int, str] = {}
    rows = np.searchsorted(s.id, site_ids) if len(s.id) else np.empty(0, dtype=np.int64)
    for site_id, row in zip(site_ids, rows, strict=False):
        if row < len(s.id) and s.id[row] == site_id and orgs_mask[s.org[row]]:
            sites[site_id] = s.name[row]
            site_tz[site_id] = s.tz[row]
    return {"members": members, "sites": sites, "site_tz": site_tz}


def site_span_m(bounds: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The longer side of each ``[west, south, east, north]`` box, in metres (near enough for
    sites: an equirectangular approximation at the box's middle latitude).

    >>> site_span_m(np.array([[114.0, 30.0, 114.001, 30.0005]])).round(1).tolist()
    [96.4]
    """
    if len(bounds) == 0:
        return np.empty(0)
    middle = np.radians((bounds[:, 1] + bounds[:, 3]) / 2)
    wide = (bounds[:, 2] - bounds[:, 0]) * METRES_PER_DEGREE * np.cos(middle)
    tall = (bounds[:, 3] - bounds[:, 1]) * METRES_PER_DEGREE
    spans: npt.NDArray[np.float64] = np.maximum(wide, tall)
    return spans


def org_bounds(roster: Roster, scope: Scope, row: int) -> list[float] | None:
    """``[west, south, east, north]`` around the sites and placed members of the organisation
    at ``row`` and its subtree."""
    o = roster.orgs
    orgs_mask = o.in_scope(scope)
    subtree = o.subtree_mask(row) & orgs_mask
    s = roster.sites
    boxes = [s.bounds[subtree[s.org]]]
    m = roster.members
    placed = subtree[m.org] & m.in_scope(scope, orgs_mask) & ~np.isnan(m.lon)
    # Members widen the box by whole cells of BOUNDS_CELL_DEG, never to one's exact position.
    west, south = _floor(m.lon[placed]), _floor(m.lat[placed])
    boxes.append(np.column_stack([west, south, west + BOUNDS_CELL_DEG, south + BOUNDS_CELL_DEG]))
    every = np.concatenate(boxes)
    if len(every) == 0:
        return None
    return [
        _round(every[:, 0].min()),
        _round(every[:, 1].min()),
        _round(every[:, 2].max()),
        _round(every[:, 3].max()),
    ]


def org_row(roster: Roster, scope: Scope, org_id: int) -> int:
    """The row of an organisation the caller may see; NotFoundError for any other."""
    row = roster.orgs.index.get(org_id)
    if row is None or not scope.covers(str(roster.orgs.path[row])):
        raise NotFoundError("organisation", org_id)
    return row


def _matching(
    names: list[str], allowed: npt.NDArray[np.bool_], needle: str, limit: int
) -> list[int]:
    found = []
    for row in np.flatnonzero(allowed):
        if needle in names[row].casefold():
            found.append(int(row))
            if len(found) == limit:
                break
    return found


def _clusters(grid: Grid) -> list[list[Any]]:
    return [
        [
            _round(c.lon),
            _round(c.lat),
            c.count,
            list(c.by_category),
            [_round(c.west), _round(c.south), _round(c.east), _round(c.north)],
        ]
        for c in grid.clusters
    ]


def _floor(degrees: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The south-west corner of the ``BOUNDS_CELL_DEG`` cell holding each value."""
    return np.floor(degrees / BOUNDS_CELL_DEG) * BOUNDS_CELL_DEG


def _round(value: float) -> float:
    return round(float(value), COORD_DIGITS)
