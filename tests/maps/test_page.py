"""The dashboard page as folium builds it: base layers on offer, which one shows first, labels."""

from __future__ import annotations

import json
import re

from maps.page import PageOptions, dashboard_html

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
