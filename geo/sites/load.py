"""Loading sites from GeoJSON, GeoPackage or Shapefile (geopandas), with every problem named.

One feature per site. Columns (a Shapefile keeps the first 10 characters of each name):

=================  ========  ===========================================================
column             needed    meaning
=================  ========  ===========================================================
id                 yes       integer, unique in the file: names the feature in messages and
                             in the file id → site id map an import prints; a stored site is
                             matched by organisation and name, not by this id
org_id / org_code  one       the organisation: its numeric id, or its code (as the CSV
                             imports take); :attr:`SiteFile.org_codes` keeps the codes
name               yes       display name, unique within the organisation
tz                 yes       IANA time zone of the site (``Asia/Shanghai``, ``Africa/Nairobi``)
kind               no        office (default), meeting_room, project_worksite, camp
radius_m           points    a Point is a circle of this radius in metres
coord_sys          no        ``gcj02`` for coordinates digitised on AMap/Tencent maps;
                             ``wgs84`` / ``cgcs2000`` or empty: as the file's CRS says
dwell_s … accuracy_cap_m, min_sats, max_hdop   no   per-site presence and quality parameters
=================  ========  ===========================================================

Coordinates: the file's CRS must be on the WGS 84 or CGCS2000 datum (EPSG:4326, EPSG:4490, UTM,
Gauss–Krüger…); projected ones are unprojected on their own datum, and CGCS2000 is taken as
WGS 84. A Shapefile without ``.prj`` has no CRS and is refused unless ``crs`` is given. Other
datums (Beijing 1954, Xian 1980) are refused: convert them with a surveyed transformation first.
GCJ-02 is converted to WGS 84 only where it is declared — a ``coord_sys`` value or
``coord_sys="gcj02"`` for the whole file — never because a site "looks like China". (AMap and
Tencent tiles outside mainland China carry no offset: do not declare GCJ-02 for sites there.)

Invalid polygons are refused with GEOS's reason, or repaired with ``make_valid`` when
``repair=True`` (the repair is reported in :attr:`SiteFile.notes`).

>>> import json, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "sites.geojson"
>>> _ = path.write_text(json.dumps({"type": "FeatureCollection", "features": [
...     {"type": "Feature", "geometry": {"type": "Point", "coordinates": [114.3, 30.5]},
...      "properties": {"id": 1, "org_id": 2, "name": "会议室", "tz": "Asia/Shanghai",
...                     "kind": "meeting_room", "radius_m": 15}}]}))
>>> [(s.id, s.kind.value, s.radius_m) for s in load_sites(path).sites]
[(1, 'meeting_room', 15.0)]
"""

from __future__ import annotations

import math
import warnings
import zoneinfo
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio.raw
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from geo.coords import gcj02_to_wgs84_arrays
from geo.errors import SiteError, SiteFileError
from geo.model import QualityThresholds, Site, SiteKind, SiteParams
from geo.sites.shapes import compile_site

REQUIRED = ("id", "org_id", "name", "tz")  # org_code may stand for org_id
# A code too long for the organisations' column is refused here, not by the database.
MAX_CODE = 64
GCJ02, WGS84 = "gcj02", "wgs84"
COORD_SYSTEMS = {GCJ02: GCJ02, WGS84: WGS84, "cgcs2000": WGS84}
ACCEPTED_DATUMS = ("World Geodetic System 1984", "China 2000")


@dataclass(frozen=True, slots=True)
class SiteFile:
    """The sites of a file. A feature that names its organisation by ``org_code`` has its code
    in ``org_codes`` (by file id) and ``org_id`` 0 until the importer resolves the code."""

    sites: tuple[Site, ...]
    notes: tuple[str, ...] = ()  # repairs made, and how the coordinates were read
    org_codes: tuple[tuple[int, str], ...] = ()  # (file id, organisation code)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _column(row: dict[str, Any], name: str) -> Any:
    value = row.get(name, row.get(name[:10]))
    return None if _missing(value) else value


def _int(value: Any) -> int:
    number = float(value)
    if not number.is_integer():
        raise ValueError(value)
    return int(number)


def _datum_problem(crs: CRS | None) -> str | None:
    if crs is None:
        return "no CRS declared (a Shapefile needs its .prj); pass crs= if you know it"
    datum = crs.datum.name if crs.datum else "unknown"
    if not datum.startswith(ACCEPTED_DATUMS):
        return f"datum {datum!r} is neither WGS 84 nor CGCS2000: convert the file first"
    return None


def _to_lonlat(frame: gpd.GeoDataFrame, crs: CRS) -> gpd.GeoDataFrame:
    """Unproject (same datum) to longitude/latitude; CGCS2000 is then taken as WGS 84."""
    if crs.is_projected:
        frame = frame.to_crs(crs.geodetic_crs)
    return frame.set_crs("EPSG:4326", allow_override=True)


def _gcj02_to_wgs84(geometry: BaseGeometry) -> BaseGeometry:
    def convert(xy: np.ndarray) -> np.ndarray:
        lon, lat = gcj02_to_wgs84_arrays(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geometry, convert)


def _repaired(geometry: BaseGeometry) -> BaseGeometry:
    """``make_valid``, keeping only the polygonal parts."""
    parts = [
        p
        for p in shapely.get_parts(shapely.make_valid(geometry))
        for p in (p.geoms if isinstance(p, MultiPolygon) else [p])
        if isinstance(p, Polygon) and not p.is_empty
    ]
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _params(row: dict[str, Any]) -> tuple[SiteParams, QualityThresholds]:
    def pick(cls: type, defaults: Any) -> Any:
        values = {}
        for f in fields(cls):
            value = _column(row, f.name)
            if value is not None:
                number = float(value)
                if not number >= 0:
                    raise ValueError(f"{f.name} must be ≥ 0 (got {value})")
                values[f.name] = int(number) if f.name == "min_sats" else number
        return cls(**{**{f.name: getattr(defaults, f.name) for f in fields(cls)}, **values})

    return pick(SiteParams, SiteParams()), pick(QualityThresholds, QualityThresholds())


def _organisation(row: dict[str, Any]) -> tuple[int, str | None]:
    """The feature's organisation: (id, None), or (0, code) when it is named by code."""
    org_id, code = _column(row, "org_id"), _column(row, "org_code")
    if org_id is not None and code is not None:
        raise SiteError("give org_id or org_code, not both")
    if code is not None:
        text = str(code).strip()
        if not text or len(text) > MAX_CODE or not text.isprintable():
            raise SiteError(f"org_code {str(code)[:80]!r} is not an organisation code")
        return 0, text
    number = _int(org_id)
    if number < 1:
        raise SiteError(f"org_id {org_id!r} is not an organisation id")
    return number, None


def _site(
    row: dict[str, Any],
    geometry: BaseGeometry | None,
    coord_sys: str,
    repair: bool,
    notes: list[str],
    *,
    codes: list[tuple[int, str]],
) -> Site:
    missing = [
        name
        for name in REQUIRED
        if _column(row, name) is None and (name != "org_id" or _column(row, "org_code") is None)
    ]
    if missing:
        raise SiteError(f"missing {', '.join(missing)}")
    site_id = _int(_column(row, "id"))
    org_id, org_code = _organisation(row)
    tz = str(_column(row, "tz"))
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SiteError(f"unknown time zone {tz!r}") from None
    kind = SiteKind(_column(row, "kind") or SiteKind.OFFICE.value)
    declared = str(_column(row, "coord_sys") or coord_sys).lower()
    if declared not in COORD_SYSTEMS:
        raise SiteError(f"coord_sys {declared!r} is not one of {sorted(COORD_SYSTEMS)}")
    if geometry is None or geometry.is_empty:
        raise SiteError("no geometry")
    geometry = shapely.force_2d(geometry)
    if isinstance(geometry, Polygon | MultiPolygon) and not geometry.is_valid:
        reason = shapely.is_valid_reason(geometry)
        if not repair:
            raise SiteError(f"invalid geometry: {reason} (load with repair to fix it)")
        geometry = _repaired(geometry)
        notes.append(f"site {site_id}: repaired invalid geometry ({reason})")
    if COORD_SYSTEMS[declared] == GCJ02:
        geometry = _gcj02_to_wgs84(geometry)
    radius = _column(row, "radius_m")
    params, quality = _params(row)
    site = Site(
        id=site_id,
        org_id=org_id,
        name=str(_column(row, "name")),
        geometry=geometry,
        radius_m=float(radius) if isinstance(geometry, Point) and radius is not None else None,
        kind=kind,
        tz=tz,
        params=params,
        quality=quality,
    )
    compile_site(site)  # geometry type, circle radius, coordinate range, size
    if org_code is not None:
        codes.append((site_id, org_code))
    return site


def load_sites(
    path: str | Path,
    *,
    layer: str | None = None,
    coord_sys: str = WGS84,
    crs: str | None = None,
    repair: bool = False,
) -> SiteFile:
    """Read and check every site of a file; :class:`SiteFileError` lists every problem found.

    ``coord_sys="gcj02"`` declares the whole file GCJ-02 (a feature's own ``coord_sys`` wins);
    ``crs`` supplies a CRS for a file that has none; ``repair`` mends invalid polygons.
    """
    source = str(path)
    frame, gdal_warnings = _read(Path(path), layer)
    try:
        file_crs = CRS.from_user_input(crs) if crs else frame.crs
    except CRSError as exc:
        raise SiteFileError(source, [f"unknown CRS {crs!r}: {exc}"]) from exc
    if problem := _datum_problem(file_crs):
        raise SiteFileError(source, [problem])
    assert file_crs is not None
    if coord_sys.lower() == GCJ02 and file_crs.is_projected:
        raise SiteFileError(source, ["GCJ-02 is declared but the file's CRS is projected"])
    frame = _to_lonlat(frame.set_crs(file_crs, allow_override=True), file_crs)
    if frame.empty:
        raise SiteFileError(source, ["no sites in the file"])
    notes = [f"read as {file_crs.name}, stored as WGS 84"]
    notes += [f"reader: {w.message}" for w in gdal_warnings]
    sites, problems, seen = [], [], set()
    codes: list[tuple[int, str]] = []
    rows = frame.drop(columns=frame.geometry.name).to_dict("records")
    for n, (row, geometry) in enumerate(zip(rows, frame.geometry, strict=True), start=1):
        try:
            site = _site(row, geometry, coord_sys, repair, notes, codes=codes)
        except (SiteError, ValueError, TypeError, shapely.errors.GEOSException) as exc:
            where = _feature(n, row)
            problems.append(f"{where}: {exc}")
            continue
        if site.id in seen:
            problems.append(f"{_feature(n, row)}: duplicate id {site.id}")
        seen.add(site.id)
        sites.append(site)
    if problems:
        raise SiteFileError(source, problems)
    if converted := sum(
        COORD_SYSTEMS[str(_column(row, "coord_sys") or coord_sys).lower()] == GCJ02 for row in rows
    ):
        notes.append(f"{converted} site(s) declared GCJ-02, converted to WGS 84")
    return SiteFile(tuple(sites), tuple(notes), tuple(codes))


def _feature(n: int, row: dict[str, Any]) -> str:
    """How a message names the feature: its place in the file, and its id if it has one."""
    site_id = row.get("id")
    return f"feature {n}" + (f" (id {str(site_id)[:40]})" if not _missing(site_id) else "")


def _read(path: Path, layer: str | None) -> tuple[gpd.GeoDataFrame, list[warnings.WarningMessage]]:
    """The file as a GeoDataFrame, and GDAL's warnings (duplicate feature ids, odd fields…),
    which become notes rather than noise.

    GDAL and its bindings fail on damaged files in many ways (``IndexError`` on a zero-filled
    Shapefile, GEOS refusing an unclosed ring while the whole file is decoded): every failure
    is a :class:`SiteFileError` naming the file by its name only (never where it was kept)
    and, for a geometry GEOS refuses, the feature.
    """
    try:
        with warnings.catch_warnings(record=True) as gdal_warnings:
            warnings.simplefilter("always")
            frame = gpd.read_file(path, layer=layer, engine="pyogrio")
    except shapely.errors.GEOSException:
        raise SiteFileError(str(path), _refused_geometries(path, layer)) from None
    except Exception as exc:
        reason = str(exc).replace(str(path), path.name).strip() or type(exc).__name__
        raise SiteFileError(str(path), [f"cannot read: {reason}"]) from None
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame:
        raise SiteFileError(
            str(path), ["no geometry: a site file is GeoJSON, GeoPackage or a zipped Shapefile"]
        )
    return frame, list(gdal_warnings)


def _refused_geometries(path: Path, layer: str | None) -> list[str]:
    """Each feature whose geometry GEOS refuses to build, with GEOS's reason."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GDAL's own words on the same rings
        meta, _fids, wkbs, columns = pyogrio.raw.read(path, layer=layer)
    names = [str(name) for name in meta["fields"]]
    problems = []
    for n, wkb in enumerate(wkbs, start=1):
        try:
            shapely.from_wkb(wkb)
        except shapely.errors.GEOSException as exc:
            row = {name: column[n - 1] for name, column in zip(names, columns, strict=True)}
            problems.append(f"{_feature(n, row)}: invalid geometry: {exc}")
    return problems or ["a geometry GEOS cannot build"]
