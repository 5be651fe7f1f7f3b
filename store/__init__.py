"""Spatial store: SQLAlchemy 2 + GeoAlchemy2 models and repositories over SpatiaLite or PostGIS.

Engines and schema: :mod:`store.db` (``make_engine``, ``open_engine``), :mod:`store.migrations`
(``partymap db upgrade``), :mod:`store.models`. Repositories take a session and keyword
arguments and never commit — the caller does:

- :mod:`store.orgs` the organisation tree, :mod:`store.members`, :mod:`store.devices`,
  :mod:`store.users`, :mod:`store.sites`;
- :mod:`store.positions` (batch writes), :mod:`store.latest` (where everyone is now),
  :mod:`store.tracks`, :mod:`store.offsets` (replay offsets);
- :mod:`store.visits` (visits and check-ins), :mod:`store.meetings` (meetings, attendance),
  :mod:`store.audit`.

Errors are in :mod:`store.errors`.
"""
