"""Tracks and tables in the formats people download: GeoJSON, GPX 1.1, CSV and XLSX.

GPX is written directly (numbers and times only, the name escaped) rather than through an
object per point: a day-long track has tens of thousands of points.

>>> from datetime import datetime, UTC
>>> from store.tracks import TrackFix
>>> p = TrackFix(datetime(2026, 5, 1, 8, tzinfo=UTC), 30.5, 114.3, 21.5, 2.5, 0.4, 271.0,
...                0.9, 1, 10, 6, 3, ())
>>> print(gpx_track("王芳 <7>", [p]).splitlines()[6].replace("><", ">\\n<"))
<trkpt lat="30.5" lon="114.3">
<ele>21.5</ele>
<time>2026-05-01T08:00:00Z</time>
<hdop>0.9</hdop>
<sat>10</sat>
</trkpt>
>>> csv_table(["a", "b"], [[1, "x,y"]])
'\\ufeffa,b\\r\\n1,"x,y"\\r\\n'
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from openpyxl import Workbook

from store.tracks import TrackFix

GPX = "application/gpx+xml"
CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a ``Z``, as GPX wants and JSON readers accept."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def gpx_track(name: str, points: Iterable[TrackFix]) -> str:
    """A GPX 1.1 document with one track of one segment."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<gpx version="1.1" creator="partymap" xmlns="http://www.topografix.com/GPX/1/1">',
        "<trk>",
        f"<name>{escape(name)}</name>",
        f"<desc>{escape('partymap track')}</desc>",
        "<trkseg>",
    ]
    for p in points:
        parts = [f"<trkpt lat={quoteattr(repr(p.lat))} lon={quoteattr(repr(p.lon))}>"]
        if p.alt_m is not None:
            parts.append(f"<ele>{p.alt_m!r}</ele>")
        parts.append(f"<time>{iso(p.fix_time)}</time>")
        if p.hdop is not None:
            parts.append(f"<hdop>{p.hdop!r}</hdop>")
        if p.sats_used is not None:
            parts.append(f"<sat>{p.sats_used}</sat>")
        parts.append("</trkpt>")
        out.append("".join(parts))
    out += ["</trkseg>", "</trk>", "</gpx>", ""]
    return "\n".join(out)


def csv_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV with a byte-order mark, so spreadsheet programs read Chinese text as UTF-8."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def xlsx_table(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """One worksheet, header row frozen."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]  # Excel's limit
    sheet.append(list(header))
    for row in rows:
        sheet.append([_cell(v) for v in row])
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        # A name starting with "=" must not become a formula in someone's spreadsheet.
        return "'" + value
    return value
