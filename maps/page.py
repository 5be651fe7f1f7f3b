"""The dashboard page: a folium map (Leaflet) with the tile layers, beside the sidebar of the
organisation tree, branch and member panels, meetings and the live feed.

folium builds the map, its base layers and their switcher; ``static/dashboard.js`` fills it with
data — from the map API when served at ``/map``, or from data embedded in the page for a static
export. Leaflet comes from ``static/vendor`` (folium's CDN links are replaced), so the page
needs no network beyond the tiles, and with the "none" layer not even those: an outline of
the land (Natural Earth) is drawn instead. AMap tiles are GCJ-02: while that layer is shown,
the script shifts every marker, polygon and track from WGS 84 to GCJ-02.

>>> html = dashboard_html(PageOptions(language="en", tiles="none"))
>>> "cdn." in html, "partymapDashboard(" in html
(False, True)
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import folium
from branca.element import Element, Figure, MacroElement
from jinja2 import Template

from maps.labels import labels

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {
    "leaflet.js": "vendor/leaflet/leaflet.js",
    "leaflet.css": "vendor/leaflet/leaflet.css",
    "kit.js": "kit.js",
    "dashboard.js": "dashboard.js",
    "meetings.js": "meetings.js",
    "stats.js": "stats.js",
    "bigscreen.js": "bigscreen.js",
    "dashboard.css": "dashboard.css",
    "land": "vendor/world-atlas/land-110m.geojson",
    "echarts": "vendor/echarts/echarts.min.js",
}
# The dashboard's own scripts, in the order they load: the helpers, the map (which starts the
# others), then the parts that register themselves with it.
SCRIPTS = ("kit.js", "dashboard.js", "meetings.js", "stats.js", "bigscreen.js")
# folium forbids zooming the page (user-scalable=no); partymap lets people pinch and enlarge it.
VIEWPORT = re.compile(r'<meta name="viewport"[^>]*>')
PAGE_VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'
# Where the whole organisation is visible when nothing tells the map where to look.
DEFAULT_CENTRE = (30.0, 105.0)
DEFAULT_ZOOM = 4


@dataclass(frozen=True, slots=True)
class TileSource:
    key: str
    url: str
    attribution: str
    datum: str = "wgs84"  # "gcj02": markers are shifted while these tiles are shown
    subdomains: str = "abc"
    overlay_url: str | None = None  # a second layer of labels drawn over the base (Tianditu)
    max_zoom: int = 18


def tile_sources(language: str, tianditu_key: str | None) -> list[TileSource]:
    """The base layers on offer: OpenStreetMap, AMap, Tianditu when a key is configured."""
    zh = language == "zh-CN"
    sources = [
        TileSource(
            "osm",
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>',
            max_zoom=19,
        ),
        TileSource(
            "amap",
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang="
            + ("zh_cn" if zh else "en")
            + "&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
            "&copy; 高德地图 AutoNavi",
            datum="gcj02",
            subdomains="1234",
        ),
    ]
    if tianditu_key:
        wmts = (
            "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
            "&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
            "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk=" + tianditu_key
        )
        sources.append(
            TileSource(
                "tianditu",
                wmts.format(s="{s}", layer="vec"),
                "&copy; 天地图 Tianditu",
                subdomains="01234567",
                overlay_url=wmts.format(s="{s}", layer="cva" if zh else "eva"),
            )
        )
    return sources


@dataclass(frozen=True, slots=True)
class PageOptions:
    """What the page is built for.

    ``data``: everything the dashboard would ask the API for, embedded (a static export); None
    for the served page, which calls ``api``. ``inline``: embed Leaflet and the dashboard's own
    script and styles instead of linking them from ``assets``.
    """

    language: str = "zh-CN"
    tiles: str = "osm"
    tianditu_key: str | None = None
    api: str = "/api/v1"
    assets: str = "/map/static"
    data: dict[str, Any] | None = None
    inline: bool = False
    centre: tuple[float, float] = DEFAULT_CENTRE
    zoom: int = DEFAULT_ZOOM
    extra: dict[str, Any] = field(default_factory=dict)


def dashboard_html(options: PageOptions) -> str:
    """The whole page as one HTML document."""
    words = labels(options.language)
    m = folium.Map(
        location=list(options.centre),
        zoom_start=options.zoom,
        tiles=None,
        prefer_canvas=True,  # members are drawn on one canvas, not as DOM elements
        control_scale=True,
        world_copy_jump=True,
        min_zoom=2,
    )
    if options.inline:
        m.default_js, m.default_css = [], []
    else:
        m.default_js = [("leaflet", asset_url(options.assets, "leaflet.js"))]
        m.default_css = [("leaflet_css", asset_url(options.assets, "leaflet.css"))]
    chosen = options.tiles
    layers: dict[str, Any] = {}
    for source in tile_sources(options.language, options.tianditu_key):
        layers[source.key] = folium.TileLayer(
            source.url,
            attr=source.attribution,
            name=words[f"tiles_{source.key}"],
            subdomains=source.subdomains,
            max_zoom=source.max_zoom,
            show=source.key == chosen,
            tiles_key=source.key,
            datum=source.datum,
            overlay_url=source.overlay_url,
        ).add_to(m)
    layers["none"] = folium.FeatureGroup(
        name=words["tiles_none"], overlay=False, show=chosen not in layers, tiles_key="none"
    ).add_to(m)
    control = folium.LayerControl(position="topright", collapsed=False).add_to(m)

    root = m.get_root()
    assert isinstance(root, Figure)  # a folium Map's root is the page's Figure
    root.header.add_child(Element(f"<title>{words['title']}</title>"))
    if options.inline:
        root.header.add_child(Element(_inline_styles()))
        root.header.add_child(Element(f"<script>{_read('leaflet.js')}</script>"))
        for script in SCRIPTS:
            root.header.add_child(Element(f"<script>{_read(script)}</script>"))
    else:
        link = asset_url(options.assets, "dashboard.css")
        root.header.add_child(Element(f'<link rel="stylesheet" href="{link}"/>'))
        for script in SCRIPTS:
            root.header.add_child(
                Element(f'<script src="{asset_url(options.assets, script)}"></script>')
            )
    config = {
        "language": options.language,
        "labels": words,
        "api": options.api,
        "assets": options.assets,
        # The export embeds the land outline; the served page fetches it when first needed.
        "land": json.loads(_read("land")) if options.inline else asset_url(options.assets, "land"),
        # Loaded when the statistics are first opened: most visits never need charts.
        "echarts": None if options.inline else asset_url(options.assets, "echarts"),
        "data": options.data,
        **options.extra,
    }
    root.html.add_child(Element(_sidebar(words) + _json_script("partymap-config", config)))
    m.add_child(_Start(layers, control))
    html = VIEWPORT.sub(PAGE_VIEWPORT, root.render(), count=1)
    return html.replace("<html>", f'<html lang="{options.language}">', 1)


class _Start(MacroElement):
    """Hands the folium map, its base layers and their switcher to the dashboard script."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        partymapDashboard({{ this._parent.get_name() }}, {
            {%- for key, layer in this.layers.items() %}
            {{ key|tojson }}: {{ layer.get_name() }},
            {%- endfor %}
        }, {{ this.control.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, layers: dict[str, Any], control: Any) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # branca carries no annotations
        self._name = "PartymapStart"
        self.layers = layers
        self.control = control


def asset_url(base: str, name: str) -> str:
    """``base``/file with a content hash, so browsers may cache it for as long as it lasts."""
    return f"{base}/{ASSETS[name]}?v={_digest(ASSETS[name])}"


def static_file(relative: str) -> Path | None:
    """The file under ``static/`` that a URL path names, or None (no escaping the folder)."""
    path = (STATIC / relative).resolve()
    if not path.is_file() or STATIC not in path.parents:
        return None
    return path


@cache
def _digest(relative: str) -> str:
    return hashlib.sha256((STATIC / relative).read_bytes()).hexdigest()[:12]


def _read(name: str) -> str:
    return (STATIC / ASSETS[name]).read_text(encoding="utf-8")


def _inline_styles() -> str:
    leaflet = _read("leaflet.css")

    # The layer switcher's icon, as a data URL: a static export is one self-contained file.
    def image(match: re.Match[str]) -> str:
        data = (STATIC / "vendor" / "leaflet" / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(data).decode()})"

    leaflet = re.sub(r"url\((images/[\w.-]+\.png)\)", image, leaflet)
    return f"<style>{leaflet}</style><style>{_read('dashboard.css')}</style>"


def _json_script(element_id: str, value: Any) -> str:
    # "<" escaped: no name or label can close the script element early.
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _sidebar(words: dict[str, str]) -> str:
    return f"""
<header id="pm-header">
  <h1>{words["title"]}</h1>
  <div id="pm-legend" aria-label="{words["legend"]}"></div>
  <div id="pm-tools"></div>
  <div id="pm-user"></div>
</header>
<aside id="pm-side" aria-label="{words["panel"]}">
  <button id="pm-sheet-handle" type="button" aria-controls="pm-side-body" aria-expanded="false"
    aria-label="{words["open_panel"]}"><span class="pm-grip"></span></button>
  <nav id="pm-tabs" role="tablist">
    <button role="tab" data-tab="orgs" class="active" aria-selected="true"
      aria-controls="pm-tab-orgs">{words["organisations"]}</button>
    <button role="tab" data-tab="meetings" aria-selected="false" tabindex="-1"
      aria-controls="pm-tab-meetings">{words["meetings"]}</button>
    <button role="tab" data-tab="stats" aria-selected="false" tabindex="-1"
      aria-controls="pm-tab-stats" hidden>{words["statistics"]}</button>
    <button role="tab" data-tab="alerts" aria-selected="false" tabindex="-1"
      aria-controls="pm-tab-alerts" hidden>{words["alerts"]}
      <span class="pm-count-badge"></span></button>
  </nav>
  <div id="pm-side-body">
    <section id="pm-tab-orgs" role="tabpanel">
      <div id="pm-search-box">
        <input id="pm-search" type="search" placeholder="{words["search"]}"
          aria-label="{words["search"]}" autocomplete="off">
        <div id="pm-search-results" hidden></div>
      </div>
      <div id="pm-tree" role="tree" aria-label="{words["organisations"]}"></div>
      <div id="pm-org" hidden></div>
      <div id="pm-site" hidden></div>
      <div id="pm-member" hidden></div>
    </section>
    <section id="pm-tab-meetings" role="tabpanel" hidden>
      <div id="pm-meetings"></div>
      <div id="pm-meeting" hidden></div>
      <div id="pm-form" hidden></div>
    </section>
    <section id="pm-tab-stats" role="tabpanel" hidden><div id="pm-stats"></div></section>
    <section id="pm-tab-alerts" role="tabpanel" hidden><div id="pm-alerts"></div></section>
  </div>
</aside>
<section id="pm-live" data-open="1" aria-label="{words["live"]}">
  <button id="pm-live-toggle" type="button" aria-controls="pm-feed" aria-expanded="true">
    {words["live"]} <span id="pm-live-count" class="pm-count-badge"></span></button>
  <ol id="pm-feed" aria-live="polite"></ol>
</section>
<div id="pm-notice" role="alert" hidden></div>
<div id="pm-busy" role="status" hidden><span class="pm-spinner"></span>{words["loading"]}</div>
<form id="pm-login" hidden>
  <h2>{words["title"]}</h2>
  <label>{words["username"]}<input name="username" autocomplete="username" required></label>
  <label>{words["password"]}<input name="password" type="password"
    autocomplete="current-password" required></label>
  <button type="submit">{words["login"]}</button>
  <p id="pm-login-error" role="alert" hidden>{words["login_failed"]}</p>
</form>
"""
