"""The dashboard page as folium builds it: base layers on offer, which one shows first, labels."""

from __future__ import annotations

import json
import re

from maps.page import STATIC, PageOptions, dashboard_html

# A base layer as folium writes it: ``L.tileLayer("url", {options})`` or ``L.featureGroup({…})``.
CREATED = re.compile(r"L\.(?:tileLayer|featureGroup)\(\s*(?:\"[^\"]*\",)?\s*(\{.*?\})\s*\)", re.S)


def layers(html: str) -> dict[str, dict[str, object]]:
    """Each base layer's options as the page creates them, by their key."""
    found = {}
    for options in CREATED.findall(html):
        parsed = json.loads(re.sub(r",\s*}", "}", options))  # folium leaves a trailing comma
        found[parsed.get("tilesKey")] = parsed
    return found


def test_layers_on_offer_and_the_one_shown_first() -> None:
    plain = dashboard_html(PageOptions(tiles="osm"))
    assert set(layers(plain)) == {"osm", "amap", "none"}  # no Tianditu without a key
    assert layers(plain)["amap"]["datum"] == "gcj02"
    assert layers(plain)["osm"]["datum"] == "wgs84"
    # Only the chosen base layer is added to the map at first.
    added = re.findall(r"(\w+)\.addTo\(map_\w+\);", plain)
    assert len(added) == 1 and "tile_layer" in added[0]

    keyed = dashboard_html(PageOptions(tiles="tianditu", tianditu_key="k3y", language="en"))
    tianditu = layers(keyed)["tianditu"]
    assert "tk=k3y" in str(tianditu["overlayUrl"]) and "LAYER=eva" in str(tianditu["overlayUrl"])
    assert "Tianditu" in keyed and "Offline background" in keyed

    offline = dashboard_html(PageOptions(tiles="none"))
    added = re.findall(r"(\w+)\.addTo\(map_\w+\);", offline)
    assert len(added) == 1 and "feature_group" in added[0]
    assert "离线底图" in offline and "党建电子地图" in offline


def test_names_cannot_break_out_of_the_embedded_data() -> None:
    html = dashboard_html(PageOptions(data={"orgs": {"1": {"name": "</script><b>x"}}}, inline=True))
    assert "</script><b>x" not in html and "\\u003c/script>\\u003cb>x" in html


def test_the_page_has_a_language_and_lets_people_zoom_it() -> None:
    """A screen reader needs the page's language; people with low vision need to pinch-zoom
    (folium's own page forbids it with user-scalable=no)."""
    for language in ("zh-CN", "en"):
        html = dashboard_html(PageOptions(language=language))
        assert f'<html lang="{language}">' in html
        (viewport,) = re.findall(r'<meta name="viewport"[^>]*>', html)
        assert "user-scalable" not in viewport and "maximum-scale" not in viewport


def test_scripts_load_in_order_and_echarts_is_served_from_the_package() -> None:
    html = dashboard_html(PageOptions())
    scripts = re.findall(r'<script src="/map/static/([\w.]+)\?v=', html)
    assert scripts == ["kit.js", "dashboard.js", "meetings.js", "stats.js", "bigscreen.js"]
    config = json.loads(re.search(r'id="partymap-config">(.*?)</script>', html, re.S).group(1))
    assert config["echarts"].startswith("/map/static/vendor/echarts/echarts.min.js?v=")
    vendor = STATIC / "vendor" / "echarts"
    assert "Apache License" in (vendor / "LICENSE").read_text()
    assert "Apache ECharts" in (vendor / "NOTICE").read_text()
    assert "Apache License" in (vendor / "echarts.min.js").read_text()[:2000]
    # A static export inlines its scripts and has no charts to load.
    inline = dashboard_html(PageOptions(inline=True, data={}))
    assert '<script src="' not in inline and '"echarts":null' in inline
