"""Telling the other nodes of a cluster, at once, that what they keep in memory has changed.

Nodes keep sites, devices, members' assignments and the organisation tree in memory: edges
and workers the device directory and the site index, every node serving the API the map's
roster. Each reads them again on its refresh interval. A route that changes one of them calls
:func:`announce` after its commit; ``partymap serve --role edge|worker|api`` gives the app
(``app.state.changes``) a :class:`ChangeNotices` that publishes the change on NATS, and every
node reads what it affects again at once (:mod:`partymap.cluster.changes`). An announcement
may be lost: the refresh intervals stay the safety net. One process (``--role all``) has none
and sends nothing; its own refreshes follow as before.

>>> from types import SimpleNamespace
>>> told = []
>>> class Notes:
...     def changed(self, kind, *, revoked=()):
...         told.append((kind.value, tuple(revoked)))
>>> request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(changes=Notes())))
>>> announce(request, Kind.DEVICES, revoked=["dtu-1"])
>>> told
[('devices', ('dtu-1',))]
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Protocol


class Kind(StrEnum):
    """What changed (each node knows which of its caches follow which kind)."""

    SITES = "sites"
    DEVICES = "devices"
    MEMBERS = "members"  # members, their organisation (transfers) and active flag
    ORGS = "orgs"  # the organisation tree


class ChangeNotices(Protocol):
    def changed(self, kind: Kind, *, revoked: Sequence[str] = ()) -> None:
        """``kind`` changed (committed). ``revoked``: uids of devices whose token was rotated or
        which were deactivated (their open sessions end on every edge). Never blocks: routes
        call it from their threads."""
        ...


def announce(request: Any, kind: Kind, *, revoked: Sequence[str] = ()) -> None:
    """Tell the other nodes, if this app has a :class:`ChangeNotices` (a cluster's node)."""
    notices: ChangeNotices | None = getattr(request.app.state, "changes", None)
    if notices is not None:
        notices.changed(kind, revoked=tuple(revoked))
