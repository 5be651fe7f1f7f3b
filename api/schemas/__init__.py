"""Request and response bodies, apart from the tables (:mod:`store.models`): one module per
resource, shared field types in :mod:`api.schemas.common`."""
