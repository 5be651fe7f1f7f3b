"""The geo engine's exceptions. Bad *fixes* are values (rejection reasons), never exceptions;
these are for bad configuration: sites and site files that cannot be used.

::

    GeoError
     ├── SiteError        one site cannot be used (geometry, circle radius, parameters)
     ├── SiteFileError    a site file cannot be loaded; ``problems`` lists every reason found
     └── ScheduleError    a meeting time or recurrence rule that cannot be used

>>> err = SiteFileError("sites.geojson", ["feature 3 (id 12): invalid geometry: Self-intersection"])
>>> print(err)
sites.geojson: 1 problem
  feature 3 (id 12): invalid geometry: Self-intersection
"""

from __future__ import annotations

from collections.abc import Sequence


class GeoError(Exception):
    """Base of every exception the geo engine raises."""


class SiteError(GeoError, ValueError):
    """A site that cannot be used; the message names the site and the reason."""


class SiteFileError(GeoError, ValueError):
    """A site file that cannot be loaded, with every problem found in it (not only the first)."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = f"{len(self.problems)} problem" + ("s" if len(self.problems) != 1 else "")
        super().__init__("\n  ".join([f"{source}: {count}", *self.problems]))


class ScheduleError(GeoError, ValueError):
    """A local time that does not exist in its zone, an unknown zone, or an impossible rule."""
