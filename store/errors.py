"""The store's exceptions: configuration problems and refused changes, never bad device input.

::

    StoreError
     ├── DatabaseUnavailableError        the database cannot be opened as configured
     │    ├── SpatiaLiteMissingError     mod_spatialite (or an extension-capable driver) is absent
     │    └── UnsupportedDatabaseError   a URL that is neither SQLite nor PostgreSQL
     ├── SchemaOutOfDateError            a server database not yet at the newest migration
     ├── NotFoundError (LookupError)     a row the caller named does not exist
     ├── InvalidValueError (ValueError)  a value the store cannot keep (bad geometry, time zone…)
     └── ConflictError (ValueError)      a change that would break the data's rules
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class DatabaseUnavailableError(StoreError):
    """The configured database cannot be opened; the message says what to install or set."""


class SpatiaLiteMissingError(DatabaseUnavailableError):
    """SQLite is configured but SpatiaLite cannot be loaded."""


class UnsupportedDatabaseError(DatabaseUnavailableError):
    """partymap speaks SQLite + SpatiaLite and PostgreSQL + PostGIS only."""


class SchemaOutOfDateError(StoreError):
    """The database schema is behind this version of partymap: run ``partymap db upgrade``."""


class NotFoundError(StoreError, LookupError):
    """A row named by id (or by a unique key) does not exist."""

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key!r} does not exist")
        self.what = what
        self.key = key


class InvalidValueError(StoreError, ValueError):
    """A value that cannot be stored as given: bad geometry, unknown time zone, short password."""


class ConflictError(StoreError, ValueError):
    """The change is refused: a duplicate key, a cycle in the tree, rows still depending on it."""


class DuplicateKeyError(ConflictError):
    """A unique key (an organisation's or member's code, a device uid, a username) is taken.

    ``public`` says so naming only the key as the caller gave it, never whose it is: an API
    caller must not learn that the key belongs to something outside their scope.

    >>> str(DuplicateKeyError("device", "uid", "imei-7"))
    "a device with uid 'imei-7' already exists"
    >>> DuplicateKeyError("device", "uid", "imei-7").public
    "uid 'imei-7' cannot be used: the change conflicts with existing data"
    """

    def __init__(self, what: str, key: str, value: object) -> None:
        super().__init__(f"a {what} with {key} {value!r} already exists")
        self.public = conflict_with_existing(key, value)


def conflict_with_existing(key: str, value: object) -> str:
    """The words for a key that cannot be used, the same whatever holds it."""
    return f"{key} {value!r} cannot be used: the change conflicts with existing data"
