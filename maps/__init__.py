"""The electronic map (一点到支部、一点到党员): what the dashboard shows, and the page itself.

- :mod:`maps.snapshot` the organisation as columns (structure, positions, states) and the
  caller's :class:`~maps.snapshot.Scope`; :mod:`maps.cache` one snapshot shared per app;
- :mod:`maps.aggregate` server-side clusters on a Web Mercator grid;
- :mod:`maps.overview` the view, the tree with counts, search; :mod:`maps.detail` a branch, a
  member (track, check-ins), meetings with live attendance;
- :mod:`maps.page` the folium/Leaflet dashboard (``static/dashboard.js``), :mod:`maps.labels`
  its words in Chinese and English, :mod:`maps.export` the static export;
- :mod:`maps.vendoring` how Leaflet and the land outline under ``static/vendor`` were fetched.

The routes are in :mod:`api.routes.map`.
"""
