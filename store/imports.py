"""Imports of organisations, members, devices (CSV) and sites (GeoJSON, GeoPackage, zipped
Shapefile): one implementation for ``POST /api/v1/import/{kind}`` and ``partymap import``.

A file is imported whole or not at all: every row is checked, every problem is reported with
its line, and nothing is stored unless all rows are good. Rows are matched by their key, so
importing the same file again updates instead of duplicating.

========  =====================================================  ==========================
kind      columns (CSV: UTF-8, header row; * = required)          matched by
========  =====================================================  ==========================
orgs      code*, name*, kind*, parent_code (empty: a root)        code
members   code*, name*, org_code*, phone, active                  code (a new org_code is a
                                                                  transfer, 组织关系转接)
devices   uid*, member_code (empty: unassigned), name, active     uid
sites     id*, org_id or org_code*, name*, tz*, kind,          organisation and name
          radius_m, coord_sys, presence and quality parameters
          (:mod:`geo.sites.load`); GeoJSON, GeoPackage, zipped
          Shapefile
========  =====================================================  ==========================

``kind`` is one of party_committee, general_branch, branch, party_group; ``active`` is
true/false (also 1/0, yes/no). Every row must lie in the importer's scope.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import multiprocessing
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session

from geo.errors import SiteFileError
from geo.model import Site
from geo.sites.load import SiteFile, load_sites
from store import devices, members, orgs, sites
from store.audit import record_audit
from store.errors import DuplicateKeyError, InvalidValueError, StoreError, conflict_with_existing
from store.models import Organisation, OrgKind

MAX_ROWS = 200_000
SITE_SUFFIXES = (".geojson", ".json", ".gpkg", ".zip")
SITE_FORMATS = "sites come as .geojson, .json, .gpkg or .zip (zipped Shapefile)"
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}
_MAX_TEXT = {"code": 64, "name": 200, "uid": 64, "phone": 32}


class Importer(Protocol):
    """Who imports, as far as an import needs to know: the scope checked row by row and the
    name written to the audit log (``api.principal.Importer`` is one)."""

    @property
    def username(self) -> str: ...
    @property
    def user_id(self) -> int: ...
    @property
    def whole_tree(self) -> bool: ...
    def can_admin_org(self, org_path: str) -> bool: ...


class ImportFileError(InvalidValueError):
    """The file cannot be imported; ``problems`` lists every reason, with lines."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        shown = "; ".join(problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"{source}: nothing imported: {shown}{more}")
        self.problems = list(problems)


@dataclass
class ImportResult:
    kind: str
    created: int = 0
    updated: int = 0
    notes: list[str] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)  # device uid → new token (shown once)
    site_ids: dict[int, int] = field(default_factory=dict)  # sites: file id → stored site id


Row = dict[str, str]


def read_csv(data: bytes, source: str, required: Sequence[str]) -> list[tuple[int, Row]]:
    """(line number, row) pairs of a UTF-8 CSV with a header; cells stripped."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(source, [f"not UTF-8 text (byte {exc.start})"]) from exc
    if "\x00" in text:
        raise ImportFileError(source, ["a CSV file holds no NUL characters: is it binary?"])
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip().lower() for h in reader.fieldnames or ()]
        reader.fieldnames = header
        if missing := [c for c in required if c not in header]:
            raise ImportFileError(source, [f"missing column(s) {', '.join(missing)}"])
        rows: list[tuple[int, Row]] = []
        for row in reader:
            if len(rows) >= MAX_ROWS:
                raise ImportFileError(source, [f"more than {MAX_ROWS} rows: split the file"])
            cells = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
            if any(cells.values()):
                rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise ImportFileError(source, [f"malformed CSV: {exc}"]) from exc
    if not rows:
        raise ImportFileError(source, ["no rows"])
    return rows


def import_orgs(session: Session, user: Importer, data: bytes, source: str) -> ImportResult:
    result = ImportResult("orgs")
    problems: list[str] = []
    pending: list[tuple[int, Row, OrgKind]] = []
    for line, row in read_csv(data, source, ("code", "name", "kind")):
        try:
            _check_text(row, "code", "name")
            kind = OrgKind(row["kind"].lower())
        except ValueError as exc:
            problems.append(f"line {line}: {_reason(exc, row)}")
            continue
        pending.append((line, row, kind))
    _refuse_duplicates(problems, [(line, row["code"]) for line, row, _ in pending], "code")
    # Parents first: a pass places every row whose parent exists, until none can be placed.
    while pending and not problems:
        waiting = []
        for line, row, kind in pending:
            parent_code = row.get("parent_code", "")
            parent = orgs.find_organisation(session, code=parent_code) if parent_code else None
            if parent_code and parent is None:
                waiting.append((line, row, kind))
                continue
            _guard(
                problems,
                line,
                partial(
                    _upsert_org,
                    session=session,
                    user=user,
                    row=row,
                    kind=kind,
                    parent=parent,
                    result=result,
                ),
            )
        if len(waiting) == len(pending):
            problems += [
                f"line {line}: {_not_in_scope('parent_code', row['parent_code'])} "
                "(neither stored nor in this file, or the file has a cycle)"
                for line, row, _ in waiting
            ]
        pending = waiting
    _finish(source, problems)
    return result


def _upsert_org(
    *,
    session: Session,
    user: Importer,
    row: Row,
    kind: OrgKind,
    parent: Organisation | None,
    result: ImportResult,
) -> None:
    if parent is None:
        _need(user.whole_tree, "only a whole-tree admin imports root organisations")
    else:
        _need(user.can_admin_org(parent.path), _not_in_scope("parent_code", parent.code))
    existing = orgs.find_organisation(session, code=row["code"])
    if existing is None:
        orgs.create_organisation(
            session,
            name=row["name"],
            kind=kind,
            parent_id=parent.id if parent else None,
            code=row["code"],
        )
        result.created += 1
        return
    _need(user.can_admin_org(existing.path), conflict_with_existing("code", row["code"]))
    orgs.update_organisation(session, org_id=existing.id, name=row["name"], kind=kind)
    new_parent = parent.id if parent else None
    if existing.parent_id != new_parent:
        orgs.move_organisation(session, org_id=existing.id, new_parent_id=new_parent)
    result.updated += 1


def import_members(session: Session, user: Importer, data: bytes, source: str) -> ImportResult:
    result = ImportResult("members")
    problems: list[str] = []
    rows = read_csv(data, source, ("code", "name", "org_code"))
    _refuse_duplicates(problems, [(line, row["code"]) for line, row in rows], "code")
    for line, row in rows:
        _guard(problems, line, partial(_upsert_member, session, user, row, result))
    _finish(source, problems)
    return result


def _upsert_member(session: Session, user: Importer, row: Row, result: ImportResult) -> None:
    _check_text(row, "code", "name", "phone")
    active = _flag(row.get("active", ""))
    org = orgs.find_organisation(session, code=row["org_code"])
    _need(
        org is not None and user.can_admin_org(org.path),
        _not_in_scope("org_code", row["org_code"]),
    )
    assert org is not None
    member = members.find_member(session, code=row["code"])
    if member is None:
        member = members.create_member(
            session,
            org_id=org.id,
            name=row["name"],
            code=row["code"],
            phone=row.get("phone") or None,
        )
        result.created += 1
    else:
        path = orgs.get_organisation(session, org_id=member.org_id).path
        _need(user.can_admin_org(path), conflict_with_existing("code", row["code"]))
        if member.org_id != org.id:
            record_audit(
                session,
                actor=user.username,
                actor_user_id=user.user_id or None,
                action="transfer_member",
                subject_member_id=member.id,
                detail={"from_org_id": member.org_id, "to_org_id": org.id, "import": True},
            )
            members.transfer_member(session, member_id=member.id, org_id=org.id)
        members.update_member(
            session, member_id=member.id, name=row["name"], phone=row.get("phone") or None
        )
        result.updated += 1
    if active is not None:
        members.update_member(session, member_id=member.id, active=active)


def import_devices(
    session: Session, user: Importer, data: bytes, source: str, *, issue_tokens: bool = False
) -> ImportResult:
    """``issue_tokens``: give every device of the file a new token (returned once)."""
    result = ImportResult("devices")
    problems: list[str] = []
    rows = read_csv(data, source, ("uid",))
    _refuse_duplicates(problems, [(line, row["uid"]) for line, row in rows], "uid")
    for line, row in rows:
        _guard(problems, line, partial(_upsert_device, session, user, row, result, issue_tokens))
    _finish(source, problems)
    return result


def _upsert_device(
    session: Session, user: Importer, row: Row, result: ImportResult, issue_tokens: bool
) -> None:
    _check_text(row, "uid", "name")
    active = _flag(row.get("active", ""))
    member_id = None
    if code := row.get("member_code"):
        member = members.find_member(session, code=code)
        path = orgs.get_organisation(session, org_id=member.org_id).path if member else ""
        _need(member is not None and user.can_admin_org(path), _not_in_scope("member_code", code))
        assert member is not None
        member_id = member.id
    else:
        _need(user.whole_tree, "only a whole-tree admin imports unassigned devices")
    protocol, utc_offset_min, accuracy_m = _terminal_columns(row)
    device = devices.find_device(session, uid=row["uid"])
    if device is None:
        device = devices.create_device(
            session,
            uid=row["uid"],
            member_id=member_id,
            name=row.get("name") or None,
            protocol=protocol or devices.NMEA,
            utc_offset_min=utc_offset_min,
            accuracy_m=accuracy_m,
        )
        result.created += 1
    else:
        if device.member_id is not None:
            current = members.get_member(session, member_id=device.member_id)
            path = orgs.get_organisation(session, org_id=current.org_id).path
            _need(user.can_admin_org(path), conflict_with_existing("uid", row["uid"]))
        else:
            _need(user.whole_tree, conflict_with_existing("uid", row["uid"]))
        devices.assign_device(session, device_id=device.id, member_id=member_id)
        if row.get("name"):
            device.name = row["name"]
        if any(column in row for column in ("protocol", "utc_offset_min", "accuracy_m")):
            devices.configure_device(
                session,
                device_id=device.id,
                protocol=protocol,
                utc_offset_min=utc_offset_min,
                accuracy_m=accuracy_m,
            )
        result.updated += 1
    if active is not None:
        devices.set_device_active(session, device_id=device.id, active=active)
    if issue_tokens:
        result.tokens[device.uid] = devices.issue_device_token(session, device_id=device.id)


def _terminal_columns(row: Row) -> tuple[str | None, int | None, float | None]:
    """The optional ``protocol`` (``nmea``, ``jt808``), ``utc_offset_min`` and ``accuracy_m``
    columns of a device row (empty: the default)."""
    protocol = row.get("protocol", "").strip().lower() or None
    _need(protocol in (None, *devices.PROTOCOLS), "protocol must be nmea or jt808")
    offset = row.get("utc_offset_min", "").strip()
    accuracy = row.get("accuracy_m", "").strip()
    try:
        return protocol, int(offset) if offset else None, float(accuracy) if accuracy else None
    except ValueError:
        raise _RefusedError("utc_offset_min must be a whole number, accuracy_m a number") from None


def import_sites(
    session: Session,
    user: Importer,
    path: Path,
    *,
    coord_sys: str = "wgs84",
    repair: bool = False,
    source: str | None = None,
    layer: str | None = None,
    crs: str | None = None,
) -> ImportResult:
    """Sites of a GeoJSON, GeoPackage or Shapefile (a ``.zip`` holding ``.shp`` and friends).

    ``layer`` picks a GeoPackage layer; ``crs`` supplies the CRS of a file that declares none.
    """
    source = source or path.name
    if path.suffix.lower() not in (*SITE_SUFFIXES, ".shp"):
        raise ImportFileError(source, [SITE_FORMATS + ", or a .shp beside its .dbf and .shx"])
    loaded = read_site_file(
        path, coord_sys=coord_sys, repair=repair, layer=layer, crs=crs, source=source
    )
    result = ImportResult("sites", notes=list(loaded.notes))
    problems: list[str] = []
    codes = dict(loaded.org_codes)
    for site in loaded.sites:

        def store_site(site: Site = site) -> None:
            code = codes.get(site.id)
            if code is not None:
                org = orgs.find_organisation(session, code=code)
                column, named = "org_code", code
            else:
                exists = _org_exists(session, site.org_id)
                org = orgs.get_organisation(session, org_id=site.org_id) if exists else None
                column, named = "org_id", str(site.org_id)
            _need(org is not None and user.can_admin_org(org.path), _not_in_scope(column, named))
            assert org is not None
            site = dataclasses.replace(site, org_id=org.id)
            fields = {
                "name": site.name,
                "geometry": site.geometry,
                "radius_m": site.radius_m,
                "kind": site.kind,
                "tz": site.tz,
                "params": site.params,
                "quality": site.quality,
            }
            existing = sites.find_site(session, org_id=site.org_id, name=site.name)
            if existing is None:
                stored = sites.create_site(session, org_id=site.org_id, **fields)
                result.created += 1
            else:
                stored = sites.update_site(session, site_id=existing.id, **fields)
                result.updated += 1
            result.site_ids[site.id] = stored.id

        _guard(problems, site.id, store_site, what="site with file id")
    _finish(source, problems)
    return result


def read_site_file(
    path: Path,
    *,
    coord_sys: str,
    repair: bool,
    layer: str | None = None,
    crs: str | None = None,
    source: str | None = None,
) -> SiteFile:
    """:func:`geo.sites.load.load_sites` in a separate process.

    GDAL brings its own SQLite; reading a GeoPackage in a process that has SpatiaLite loaded
    through another SQLite library crashes the process (GDAL 3 with pysqlite3). A spawned
    worker keeps the two apart, and a file that crashes GDAL costs an import, not the server.
    Problems name the file as ``source`` (an upload's own name), never the path it was
    kept at while it was read.
    """
    name = source or path.name
    outcome = _READER.run(_load_sites, str(path), coord_sys, repair, layer, crs, source=name)
    if isinstance(outcome, SiteFile):
        return outcome
    _where, problems = outcome
    raise SiteFileError(
        name, [p.replace(str(path), name).replace(path.name, name) for p in problems]
    )


class _Worker:
    """One spawned worker process, started on first use and kept for the next imports."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def run(self, function: Callable[..., Any], *args: Any, source: str) -> Any:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
            pool = self._pool
        try:
            return pool.submit(function, *args).result()
        except BrokenProcessPool as exc:
            with self._lock:
                self._pool = None  # a new worker next time
            raise ImportFileError(source, ["the file crashed the reader (GDAL)"]) from exc


_READER = _Worker()


def _load_sites(
    path: str, coord_sys: str, repair: bool, layer: str | None, crs: str | None
) -> SiteFile | tuple[str, list[str]]:
    # Runs in the worker; problems come back as values (SiteFileError does not pickle).
    try:
        return load_sites(path, coord_sys=coord_sys, repair=repair, layer=layer, crs=crs)
    except SiteFileError as exc:
        return exc.source, list(exc.problems)
    except Exception as exc:
        return path, [f"cannot read: {type(exc).__name__}: {exc}"]


def import_upload(
    session: Session,
    user: Importer,
    kind: str,
    data: bytes,
    filename: str,
    *,
    coord_sys: str = "wgs84",
    repair: bool = False,
    issue_tokens: bool = False,
) -> ImportResult:
    """Import the bytes of an uploaded file of ``kind`` (orgs, members, devices, sites)."""
    if kind == "sites":
        suffix = Path(filename).suffix.lower() or ".geojson"
        if suffix not in SITE_SUFFIXES:
            raise ImportFileError(filename, [SITE_FORMATS])
        with tempfile.TemporaryDirectory(prefix="partymap-import-") as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(data)
            return import_sites(
                session, user, path, coord_sys=coord_sys, repair=repair, source=filename
            )
    if kind == "devices":
        return import_devices(session, user, data, filename, issue_tokens=issue_tokens)
    importers: dict[str, Callable[[Session, Importer, bytes, str], ImportResult]] = {
        "orgs": import_orgs,
        "members": import_members,
    }
    if kind not in importers:
        raise ImportFileError(filename, [f"unknown kind {kind!r}"])
    return importers[kind](session, user, data, filename)


class _RefusedError(Exception):
    """A row the importer may not or cannot store."""


def _need(condition: bool, reason: str) -> None:
    if not condition:
        raise _RefusedError(reason)


def _guard(
    problems: list[str], where: object, step: Callable[[], None], what: str = "line"
) -> None:
    """Run one row's change; a refusal becomes a problem of that row (later rows still run,
    so the report lists them all; the caller rolls everything back)."""
    try:
        step()
    except DuplicateKeyError as exc:
        problems.append(f"{what} {where}: {exc.public}")
    except (_RefusedError, StoreError, ValueError) as exc:
        problems.append(f"{what} {where}: {exc}")


def _not_in_scope(column: str, value: object) -> str:
    # The same words whether the row does not exist or lies outside the importer's scope.
    return f"{column} {value!r} is not an organisation or member in your scope"


def _org_exists(session: Session, org_id: int) -> bool:
    return session.get(Organisation, org_id) is not None


def _finish(source: str, problems: list[str]) -> None:
    if problems:
        raise ImportFileError(source, problems)


def _refuse_duplicates(problems: list[str], keys: list[tuple[int, str]], column: str) -> None:
    seen: dict[str, int] = {}
    for line, key in keys:
        if key in seen:
            problems.append(f"line {line}: {column} {key!r} repeats line {seen[key]}")
        seen.setdefault(key, line)


def _check_text(row: Row, *columns: str) -> None:
    for column in columns:
        value = row.get(column, "")
        if column in ("code", "name", "uid") and column in row and not value:
            raise ValueError(f"{column} is empty")
        if len(value) > _MAX_TEXT[column]:
            raise ValueError(f"{column} longer than {_MAX_TEXT[column]} characters")
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError(f"{column} holds control characters")


def _flag(text: str) -> bool | None:
    value = text.strip().lower()
    if not value:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _RefusedError(f"active {text!r} is not true or false")


def _reason(exc: ValueError, row: Row) -> str:
    if "OrgKind" in str(exc):
        return f"kind {row.get('kind')!r}: use one of {', '.join(k.value for k in OrgKind)}"
    return str(exc)
