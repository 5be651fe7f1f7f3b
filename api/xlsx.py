"""An XLSX writer for workbooks of many sheets: each sheet is rendered once, straight into the
zip, as SpreadsheetML with inline strings.

openpyxl spends a temporary file and a scan of every title per sheet, which makes a period
workbook of thousands of meetings take minutes; this writes one in seconds. It knows only
what the attendance files need: text and numbers, a bold row or two, a frozen header.
openpyxl and spreadsheet programs read the result.

>>> book = Book()
>>> book.add("统计", [["应到", 12], ["出席率 %", 91.7]], bold=(1,))
'统计'
>>> book.add("统计", [["x"]])  # names are unique, whatever the case
'统计 (2)'
>>> import io, zipfile
>>> names = zipfile.ZipFile(io.BytesIO(book.close())).namelist()
>>> "xl/worksheets/sheet2.xml" in names
True
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
# Characters XML 1.0 cannot carry at all.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_BAD_TITLE = str.maketrans({c: "-" for c in "[]:*?/\\"})


def column(n: int) -> str:
    """The letters of the 1-based column ``n``.

    >>> column(1), column(26), column(27), column(703)
    ('A', 'Z', 'AA', 'AAA')
    """
    letters = ""
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


class Book:
    """A workbook written as it grows: :meth:`add` sheets, then :meth:`close` for the bytes."""

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        self._zip = zipfile.ZipFile(self._buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        self._titles: list[str] = []
        self._taken: set[str] = set()

    def add(
        self,
        title: str,
        rows: Iterable[Sequence[Any]],
        *,
        bold: Iterable[int] = (),
        freeze_below: int | None = None,
    ) -> str:
        """A sheet of ``rows`` (text, numbers, None for an empty cell); ``bold``: 1-based row
        numbers; ``freeze_below``: rows above this one stay in view. Returns its title, made
        unique and acceptable (31 characters, none of ``[]:*?/\\``)."""
        name = self._unique(title)
        strong = set(bold)
        out = [
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
            f'<worksheet xmlns="{_MAIN}"><sheetViews><sheetView workbookViewId="0">',
        ]
        if freeze_below:
            out.append(
                f'<pane ySplit="{freeze_below - 1}" topLeftCell="A{freeze_below}" '
                'activePane="bottomLeft" state="frozen"/>'
            )
        out.append("</sheetView></sheetViews><sheetData>")
        for r, row in enumerate(rows, start=1):
            style = ' s="1"' if r in strong else ""
            cells = [
                _cell(_COLUMNS[c] if c < len(_COLUMNS) else column(c + 1), r, value, style)
                for c, value in enumerate(row)
                if value is not None and value != ""
            ]
            out.append(f'<row r="{r}">{"".join(cells)}</row>')
        out.append("</sheetData></worksheet>")
        self._titles.append(name)
        self._zip.writestr(f"xl/worksheets/sheet{len(self._titles)}.xml", "".join(out))
        return name

    def close(self) -> bytes:
        sheets = "".join(
            f'<sheet name={quoteattr(t)} sheetId="{n}" r:id="rId{n}"/>'
            for n, t in enumerate(self._titles, start=1)
        )
        rels = "".join(
            f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" Target="worksheets/sheet{n}.xml"/>'
            for n in range(1, len(self._titles) + 1)
        )
        styles_id = len(self._titles) + 1
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for n in range(1, len(self._titles) + 1)
        )
        files = {
            "[Content_Types].xml": (
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
                'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxml'
                'formats-officedocument.spreadsheetml.sheet.main+xml"/>'
                '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxml'
                f'formats-officedocument.spreadsheetml.styles+xml"/>{overrides}</Types>'
            ),
            "_rels/.rels": (
                f'<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
                f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
            ),
            "xl/workbook.xml": (
                f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>{sheets}</sheets></workbook>'
            ),
            "xl/_rels/workbook.xml.rels": (
                f'<Relationships xmlns="{_PKG}">{rels}<Relationship Id="rId{styles_id}" '
                f'Type="{_REL}/styles" Target="styles.xml"/></Relationships>'
            ),
            "xl/styles.xml": (
                f'<styleSheet xmlns="{_MAIN}"><fonts count="2"><font><sz val="11"/></font>'
                '<font><b/><sz val="11"/></font></fonts><fills count="1"><fill><patternFill '
                'patternType="none"/></fill></fills><borders count="1"><border/></borders>'
                '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
                '</cellStyleXfs><cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" '
                'borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" '
                'xfId="0" applyFont="1"/></cellXfs><cellStyles count="1"><cellStyle '
                'name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
            ),
        }
        for name, body in files.items():
            self._zip.writestr(
                name, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + body
            )
        self._zip.close()
        return self._buffer.getvalue()

    def _unique(self, title: str) -> str:
        base = (_ILLEGAL.sub("", title).translate(_BAD_TITLE).strip("' ") or "sheet")[:31]
        name, n = base, 1
        while name.lower() in self._taken:
            n += 1
            suffix = f" ({n})"
            name = base[: 31 - len(suffix)] + suffix
        self._taken.add(name.lower())
        return name


_COLUMNS = [column(n) for n in range(1, 53)]
_KEEP = ' xml:space="preserve"'
_NEEDS_ESCAPE = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _cell(col: str, row: int, value: Any, style: str) -> str:
    if isinstance(value, str):
        text = value
        if _NEEDS_ESCAPE.search(text):
            text = escape(_ILLEGAL.sub("", text))
        if text[:1] in ("=", "+", "-", "@"):
            text = "'" + text  # text that reads like a formula must stay text
        return f'<c r="{col}{row}" t="inlineStr"{style}><is><t{_KEEP}>{text}</t></is></c>'
    if isinstance(value, bool):
        return f'<c r="{col}{row}" t="b"{style}><v>{int(value)}</v></c>'
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return f'<c r="{col}{row}"{style}><v>{value!r}</v></c>'
    return _cell(col, row, str(value), style)
