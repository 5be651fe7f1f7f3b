"""Refreshes the third-party files the dashboard serves itself, so that it needs no CDN.

    python -m maps.vendoring          # needs npm and the npm registry, run by hand

- ``leaflet`` (BSD-2-Clause): ``leaflet.js``, ``leaflet.css``, its control images, LICENSE.
- ``world-atlas`` (ISC; Natural Earth data, public domain): the 1:110m land polygons, converted
  from TopoJSON to a small GeoJSON file drawn under the data when no tiles are configured. Land
  only, on purpose: no national boundaries are drawn by partymap.
- ``echarts`` (Apache-2.0, with its NOTICE; it bundles ``zrender``, BSD-3-Clause, and parts of
  d3, BSD-3-Clause): the "common" build (line, bar and pie charts, tooltip, legend, the SVG
  renderer), for the statistics charts. The dashboard loads it only when they are opened.

folium itself ships no JavaScript (its templates point at CDNs); :mod:`maps.page` swaps those
links for these files.

>>> topo = {"transform": {"scale": [1, 1], "translate": [0, 0]},
...         "arcs": [[[0, 0], [2, 0], [0, 2], [-2, -2]]],
...         "objects": {"land": {"type": "GeometryCollection",
...                              "geometries": [{"type": "Polygon", "arcs": [[0]]}]}}}
>>> topojson_to_geojson(topo, "land")["features"][0]["geometry"]["coordinates"]
[[[0, 0], [2, 0], [2, 2], [0, 0]]]
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

VENDOR = Path(__file__).resolve().parent / "static" / "vendor"
LEAFLET = "leaflet@1.9.4"
WORLD_ATLAS = "world-atlas@2.0.2"
ECHARTS = "echarts@6.0.0"
ZRENDER = "zrender@6.0.0"  # the version echarts 6.0.0 pins and bundles
# Two decimals (about 1 km) is finer than the 1:110m source and keeps the file small.
LAND_DECIMALS = 2


def topojson_to_geojson(topology: dict[str, Any], name: str) -> dict[str, Any]:
    """The object ``name`` of a quantised TopoJSON topology as a GeoJSON FeatureCollection."""
    scale_x, scale_y = topology["transform"]["scale"]
    shift_x, shift_y = topology["transform"]["translate"]
    arcs: list[list[tuple[float, float]]] = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:  # delta-encoded, quantised
            x, y = x + dx, y + dy
            points.append(
                (
                    round(x * scale_x + shift_x, LAND_DECIMALS),
                    round(y * scale_y + shift_y, LAND_DECIMALS),
                )
            )
        arcs.append(points)

    def ring(indexes: list[int]) -> list[list[float]]:
        coords: list[list[float]] = []
        for index in indexes:
            # ~i is arc i reversed; consecutive arcs share their joining point.
            points = arcs[index] if index >= 0 else arcs[~index][::-1]
            coords.extend([list(p) for p in (points if not coords else points[1:])])
        return coords

    features = []
    for geometry in topology["objects"][name]["geometries"]:
        if geometry["type"] == "Polygon":
            coordinates: Any = [ring(r) for r in geometry["arcs"]]
        else:
            coordinates = [[ring(r) for r in polygon] for polygon in geometry["arcs"]]
        features.append(
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": geometry["type"], "coordinates": coordinates},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def npm_pack(spec: str, into: Path) -> Path:
    """The ``package/`` folder of ``spec`` (``name@version``) from the npm registry."""
    subprocess.run(["npm", "pack", "--silent", spec], cwd=into, check=True, capture_output=True)
    name = spec.rpartition("@")[0]
    (archive,) = into.glob(f"{name}-*.tgz")
    target = into / name
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target / "package"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        leaflet = npm_pack(LEAFLET, Path(tmp))
        out = VENDOR / "leaflet"
        shutil.rmtree(out, ignore_errors=True)
        (out / "images").mkdir(parents=True)
        for name in ("leaflet.js", "leaflet.css"):
            shutil.copy(leaflet / "dist" / name, out / name)
        for image in (leaflet / "dist" / "images").glob("*.png"):
            shutil.copy(image, out / "images" / image.name)
        shutil.copy(leaflet / "LICENSE", out / "LICENSE")

        atlas = npm_pack(WORLD_ATLAS, Path(tmp))
        topology = json.loads((atlas / "land-110m.json").read_text())
        land = topojson_to_geojson(topology, "land")
        out = VENDOR / "world-atlas"
        out.mkdir(parents=True, exist_ok=True)
        (out / "land-110m.geojson").write_text(json.dumps(land, separators=(",", ":")))
        shutil.copy(atlas / "LICENSE", out / "LICENSE")

        echarts = npm_pack(ECHARTS, Path(tmp))
        zrender = npm_pack(ZRENDER, Path(tmp))
        out = VENDOR / "echarts"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        shutil.copy(echarts / "dist" / "echarts.common.min.js", out / "echarts.min.js")
        for name in ("LICENSE", "NOTICE"):
            shutil.copy(echarts / name, out / name)
        shutil.copy(echarts / "licenses" / "LICENSE-d3", out / "LICENSE-d3")
        shutil.copy(zrender / "LICENSE", out / "LICENSE-zrender")


if __name__ == "__main__":
    main()
