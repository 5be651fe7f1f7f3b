"""The live feed's events for one batch, published once the batch is committed.

Each event names the member's organisation and its materialised path, which the API's live
stream filters on (a caller sees only their subtree). Positions are coalesced to each member's
newest accepted fix of the batch: the map draws where people are, not every fix on the way.
Times are ISO 8601 UTC.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from geo.model import CheckIn, VisitEnded
from geo.presence.state import PresenceEvent, utc
from geo.quality.batch import Mask
from gnss.fixtable import SYSTEMS
from gnss.model import Constellation
from partymap.ingest.directory import Directory
from partymap.ingest.intake import Fixes
from partymap.ingest.presence_state import PresenceChanges

_BEIDOU = SYSTEMS.index(Constellation.BEIDOU)


def live_events(
    directory: Directory,
    fixes: Fixes,
    reasons: Mask,
    events: list[PresenceEvent],
    presence: PresenceChanges,
    *,
    positions: bool = True,
) -> list[dict[str, Any]]:
    """Positions (unless ``positions`` is false), presence changes, check-ins and visit ends of
    the batch."""

    def who(member_id: int) -> dict[str, Any]:
        org_id, org_path = directory.orgs.get(member_id, (None, None))
        return {"member_id": member_id, "org_id": org_id, "org_path": org_path}

    out: list[dict[str, Any]] = []
    table = fixes.table
    for i in newest_per_member(fixes, reasons).tolist() if positions else ():
        accuracy = float(table.accuracy_m[i])
        out.append(
            {
                "type": "position",
                **who(int(fixes.members[i])),
                "time": utc(int(table.time_us[i]) / 1e6).isoformat(),
                "lat": float(table.lat[i]),
                "lon": float(table.lon[i]),
                "accuracy_m": None if math.isnan(accuracy) else accuracy,
                "beidou": int(table.used[i, _BEIDOU]),
            }
        )
    for row in presence.moved:
        out.append(
            {"type": "presence", **who(row.member_id), "site_id": row.site_id,
             "state": row.state, "since": row.since.isoformat()}
        )  # fmt: skip
    ends = {(e.member_id, e.site_id): e.end for e in events if isinstance(e, VisitEnded)}
    for member_id, site_id in presence.cleared:
        end: datetime | None = ends.get((member_id, site_id))
        out.append(
            {"type": "presence", **who(member_id), "site_id": site_id, "state": "outside",
             "since": None if end is None else end.isoformat()}
        )  # fmt: skip
    for event in events:
        if isinstance(event, CheckIn):
            out.append(
                {"type": "checkin", **who(event.member_id), "site_id": event.site_id,
                 "time": event.time.isoformat(), "beidou_verified": event.beidou_verified}
            )  # fmt: skip
        else:
            out.append(
                {"type": "visit_ended", **who(event.member_id), "site_id": event.site_id,
                 "start": event.start.isoformat(), "end": event.end.isoformat(),
                 "checked_in": event.checked_in}
            )  # fmt: skip
    return out


def newest_per_member(fixes: Fixes, reasons: Mask) -> npt.NDArray[np.int64]:
    """Rows of each member's newest accepted fix with a position."""
    members = fixes.members
    ok = np.flatnonzero((reasons == 0) & fixes.table.has_position & (members >= 0))
    if not len(ok):
        return ok
    order = ok[np.lexsort((fixes.table.time_us[ok], members[ok]))]
    of_member = members[order]
    last = np.append(of_member[1:] != of_member[:-1], True)
    newest: npt.NDArray[np.int64] = order[last]
    return newest
