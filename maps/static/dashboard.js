/* partymap dashboard: fills the folium/Leaflet map with the organisation and keeps it live.
 *
 * Data comes from the map API (/api/v1/map/...) with the login cookie, or from the data a
 * static export embeds; both answer the same shapes (see maps/overview.py and maps/detail.py).
 * Coordinates arrive in WGS 84. While a GCJ-02 base layer (AMap) is shown, everything drawn is
 * shifted with the published GCJ-02 formula, the same one as geo/coords.py.
 *
 * The panels live in #pm-side: a column beside the map on a desktop, a bottom sheet on a phone
 * (closed at first so the map has the screen; a tab, the handle or a click on the map opens it).
 * Other scripts of the page (meetings.js, …) register in window.partymapModules and get the
 * core object built here.
 */
"use strict";

function partymapDashboard(map, baseLayers, layerControl) {
  const cfg = JSON.parse(document.getElementById("partymap-config").textContent);
  const kit = partymapKit(cfg);
  const { T, $, el, put, fmtTime } = kit;
  const STATES = ["none", "stale", "outside", "arriving", "present"];
  const SITE_KINDS = ["office", "meeting_room", "project_worksite", "camp"];
  const COLOURS = {
    present: "#2e7d32", arriving: "#f9a825", outside: "#1565c0", stale: "#9e9e9e",
    none: "#cfd8dc",
  };
  const SITE_COLOURS = {
    office: "#c62828", meeting_room: "#ad1457", project_worksite: "#ef6c00", camp: "#6d4c41",
  };
  const SHAPES_ZOOM = 13;
  // Members inside a site drawn smaller than this are counted at the site instead of stacked.
  const SITE_GROUP_PX = 200;
  const phone = window.matchMedia("(max-width: 760px)");

  /* ---- GCJ-02: WGS 84 → the datum of AMap tiles (geo/coords.py, vectorised there). ---- */
  const GCJ_A = 6378245.0;
  const GCJ_EE = 0.00669342162296594323;
  function gcjOffset(lon, lat) {
    const x = lon - 105.0, y = lat - 35.0, PI = Math.PI;
    const ripple = (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    let dLat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y
      + 0.2 * Math.sqrt(Math.abs(x)) + ripple;
    dLat += (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0;
    dLat += (160.0 * Math.sin(y / 12.0 * PI) + 320.0 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
    let dLon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y
      + 0.1 * Math.sqrt(Math.abs(x)) + ripple;
    dLon += (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0;
    dLon += (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
    const radLat = lat / 180.0 * PI;
    const magic = 1.0 - GCJ_EE * Math.sin(radLat) ** 2;
    const sqrtMagic = Math.sqrt(magic);
    dLat = (dLat * 180.0) / ((GCJ_A * (1.0 - GCJ_EE)) / (magic * sqrtMagic) * PI);
    dLon = (dLon * 180.0) / (GCJ_A / sqrtMagic * Math.cos(radLat) * PI);
    return [dLon, dLat];
  }
  function wgs84ToGcj02(lon, lat) {
    const [dLon, dLat] = gcjOffset(lon, lat);
    return [lon + dLon, lat + dLat];
  }

  const state = {
    datum: "wgs84", overview: null, org: null, member: null, site: null,
    names: new Map(), siteNames: new Map(), siteTz: new Map(), memberStates: new Map(), seq: 0,
  };
  /** A WGS 84 lon/lat as a Leaflet LatLng in the datum of the tiles shown. */
  function ll(lon, lat) {
    if (state.datum === "gcj02") [lon, lat] = wgs84ToGcj02(lon, lat);
    return L.latLng(lat, lon);
  }
  /** The inverse for a view's corners (one fixed-point step: well under a metre). */
  function unshift(latlng) {
    if (state.datum !== "gcj02") return [latlng.lng, latlng.lat];
    const [dLon, dLat] = gcjOffset(latlng.lng, latlng.lat);
    return [latlng.lng - dLon, latlng.lat - dLat];
  }
  function boundsOf(box) {
    return L.latLngBounds(ll(box[0], box[1]), ll(box[2], box[3]));
  }

  /* ---- Data: the map API, or what a static export embeds. ---- */
  const staticData = cfg.data;
  // The big screen (大屏, ?screen): a display token instead of a login, kept in this
  // browser; only the display's own endpoints, no live stream (it polls).
  const screen = !staticData && new URLSearchParams(location.search).has("screen");
  const DISPLAY_KEY = "partymap_display";
  if (screen) {
    kit.token = () => localStorage.getItem(DISPLAY_KEY);
    kit.setToken = (token) => {
      if (token) localStorage.setItem(DISPLAY_KEY, token);
      else localStorage.removeItem(DISPLAY_KEY);
    };
  }
  const api = kit.api;
  const mapApi = screen ? "/display/map" : "/map";
  const source = staticData ? {
    overview: async (bbox, zoom) => {
      const zooms = Object.keys(staticData.overview).map(Number);
      const best = zooms.reduce((a, z) => (z <= zoom && z > a ? z : a), Math.min(...zooms));
      return staticData.overview[best];
    },
    tree: async (parent) => staticData.tree[parent === null ? "root" : parent],
    org: async (id) => staticData.orgs[id],
    member: async (id) => staticData.members[id],
    search: async (q) => {
      const needle = q.trim().toLowerCase();
      const hit = (x) => needle && x.name.toLowerCase().includes(needle);
      return {
        orgs: staticData.search.orgs.filter(hit).slice(0, 20),
        members: staticData.search.members.filter(hit).slice(0, 20),
      };
    },
    names: async () => ({ members: {}, sites: {}, site_tz: {} }),
  } : {
    overview: (bbox, zoom) => api(`${mapApi}/overview?bbox=${bbox.join(",")}&zoom=${zoom}`, { quiet: true }),
    tree: (parent) => api(`${mapApi}/tree` + (parent === null ? "" : `?parent=${parent}`)),
    org: (id) => api(`/map/orgs/${id}`),
    member: (id, day) => api(`/map/members/${id}` + (day ? `?day=${day}` : "")),
    search: (q) => api(`/map/search?q=${encodeURIComponent(q)}`),
    names: (members, sites) =>
      api(`/map/names?members=${members.join(",")}&sites=${sites.join(",")}`, { quiet: true }),
  };

  function dot(stateName) {
    return el("span", { class: `pm-dot pm-${stateName}`, title: T[stateName] });
  }
  function remember(id, name) {
    if (name) state.names.set(id, name);
  }

  /* ---- Layers. ---- */
  // Leaflet ignores a zoom asked for while a zoom animation runs (a branch clicked as the map
  // still glides would stay out of view): programmatic moves wait for the animation to end.
  function whenStill(move) {
    if (map._animatingZoom) map.once("zoomend", () => whenStill(move));
    else move();
  }
  /** Options for fitBounds that keep what is fitted clear of an open bottom sheet. */
  function clear(options) {
    const size = document.body.dataset.sheet;
    if (phone.matches && size && size !== "closed") {
      // The height the sheet is growing to (its transition may still run): as in the CSS.
      const style = getComputedStyle(document.documentElement);
      const peek = parseFloat(style.getPropertyValue("--pm-peek")) || 52;
      const head = parseFloat(style.getPropertyValue("--pm-head")) || 48;
      const height = size === "half" ? 0.55 * window.innerHeight : window.innerHeight - head - 8;
      return { ...options, paddingBottomRight: [0, Math.max(0, height - peek)] };
    }
    return options;
  }

  /** Centre the map on ``latlng`` at ``zoom`` — in the part a phone's open sheet leaves free. */
  function focus(latlng, zoom) {
    const options = clear({});
    const covered = options.paddingBottomRight ? options.paddingBottomRight[1] : 0;
    const point = map.project(latlng, zoom).add([0, covered / 2]);
    map.setView(map.unproject(point, zoom), zoom);
  }

  const canvas = L.canvas({ padding: 0.2 });
  const shapeLayer = L.layerGroup().addTo(map);
  const siteLayer = L.layerGroup().addTo(map);
  const clusterLayer = L.layerGroup().addTo(map);
  const memberLayer = L.layerGroup().addTo(map);
  const selectionLayer = L.layerGroup().addTo(map);
  const trackLayer = L.layerGroup().addTo(map);
  const markers = new Map(); // member id → circle marker on the map now
  const siteGroups = new Map(); // site id → {site, members} counted at a small site now

  function activeBase() {
    for (const [key, layer] of Object.entries(baseLayers)) if (map.hasLayer(layer)) return key;
    return "none";
  }

  /** Metres across one screen pixel at ``lat`` and the map's zoom now. */
  function metresPerPixel(lat) {
    return 40075016.686 * Math.cos(lat * Math.PI / 180) / (256 * 2 ** map.getZoom());
  }

  function drawOverview() {
    const data = state.overview;
    [clusterLayer, memberLayer, siteLayer].forEach((layer) => layer.clearLayers());
    markers.clear();
    siteGroups.clear();
    if (!data) return;
    const zoom = map.getZoom();
    for (const [lon, lat, count, byState, box] of data.members.clusters) {
      const stops = [];
      let at = 0;
      STATES.slice().reverse().forEach((name) => {
        const share = (byState[STATES.indexOf(name)] / count) * 100;
        if (share > 0) stops.push(`${COLOURS[name]} ${at}% ${at + share}%`);
        at += share;
      });
      const size = Math.round(30 + 8 * Math.log10(count));
      const icon = L.divIcon({
        className: "pm-cluster-icon",
        html: `<div class="pm-cluster" style="width:${size}px;height:${size}px;` +
          `background:conic-gradient(${stops.join(",")})"><span>${count}</span></div>`,
        iconSize: [size, size],
      });
      const title = STATES.filter((n, i) => byState[i]).map((n) => `${T[n]} ${byState[STATES.indexOf(n)]}`);
      L.marker(ll(lon, lat), { icon, title: title.join(" · "), zIndexOffset: 500 })
        .on("click", () => whenStill(() => map.fitBounds(boundsOf(box).pad(0.2), clear({ maxZoom: 18 }))))
        .addTo(clusterLayer);
    }
    // Small sites drawn now: their members are counted there rather than stacked on top.
    const small = new Map();
    for (const [id, lon, lat, kind, name, orgId, spanM] of data.sites.points) {
      if (spanM / metresPerPixel(lat) < SITE_GROUP_PX) small.set(id, { id, lon, lat, kind, name, orgId });
    }
    const alone = [];
    for (const point of data.members.points) {
      const [id, , , , stateName, name, siteId] = point;
      remember(id, name);
      state.memberStates.set(id, stateName);
      if (siteId !== null && siteId !== undefined && small.has(siteId)) {
        if (!siteGroups.has(siteId)) siteGroups.set(siteId, { site: small.get(siteId), members: [] });
        siteGroups.get(siteId).members.push(point);
      } else {
        alone.push(point);
      }
    }
    for (const [siteId, group] of [...siteGroups]) {
      if (group.members.length < 2) {
        alone.push(...group.members);
        siteGroups.delete(siteId);
      }
    }
    for (const [id, lon, lat, accuracy, stateName, name] of alone) {
      const where = ll(lon, lat);
      if (accuracy && zoom >= 15) {
        L.circle(where, {
          radius: accuracy, renderer: canvas, color: COLOURS[stateName], weight: 1,
          fillOpacity: 0.08, interactive: false,
        }).addTo(memberLayer);
      }
      const marker = L.circleMarker(where, {
        renderer: canvas, radius: 7, color: "#fff", weight: 2, fillColor: COLOURS[stateName],
        fillOpacity: 1, memberId: id,
      }).bindTooltip(`${name} · ${T[stateName]}`, { direction: "top", offset: [0, -6] })
        .on("click", () => selectMember(id))
        .addTo(memberLayer);
      markers.set(id, marker);
    }
    for (const [lon, lat, count, byKind, box] of data.sites.clusters) {
      const main = SITE_KINDS[byKind.indexOf(Math.max(...byKind))];
      const icon = L.divIcon({
        className: "pm-cluster-icon",
        html: `<div class="pm-site-cluster" style="border-color:${SITE_COLOURS[main]}">${count}</div>`,
        iconSize: [28, 28],
      });
      L.marker(ll(lon, lat), { icon, title: `${T.sites} ${count}` })
        .on("click", () => whenStill(() => map.fitBounds(boundsOf(box).pad(0.2), clear({ maxZoom: 16 }))))
        .addTo(siteLayer);
    }
    for (const [id, lon, lat, kind, name, orgId] of data.sites.points) {
      state.siteNames.set(id, name);
      if (siteGroups.has(id)) continue; // drawn with its count below
      const icon = L.divIcon({
        className: "pm-cluster-icon",
        html: `<div class="pm-site" style="background:${SITE_COLOURS[kind]}"></div>`,
        iconSize: [16, 16],
      });
      L.marker(ll(lon, lat), { icon, title: name, siteId: id })
        .bindTooltip(`${name} · ${T[kind]}`, { direction: "top", offset: [0, -8] })
        .on("click", () => selectOrg(orgId))
        .addTo(siteLayer);
    }
    for (const [siteId, group] of siteGroups) drawSiteGroup(siteId, group);
    drawShapes(shapeLayer, zoom >= SHAPES_ZOOM ? data.shapes : null, false);
    drawLegend(data.totals);
  }

  /** "机关党员活动室 6人" at the site, coloured by its members' states; a click lists them. */
  function drawSiteGroup(siteId, group) {
    const counts = {};
    for (const p of group.members) counts[p[4]] = (counts[p[4]] || 0) + 1;
    const label = el("div", { class: "pm-site-group", style: `border-color:${SITE_COLOURS[group.site.kind]}` },
      STATES.slice().reverse().filter((s) => counts[s]).map((s) => dot(s)),
      el("b", {}, group.site.name), " ",
      el("span", { class: "pm-site-count" }, T.people.replace("{n}", group.members.length)));
    const icon = L.divIcon({ className: "pm-cluster-icon pm-site-group-icon", html: label, iconSize: null });
    L.marker(ll(group.site.lon, group.site.lat), {
      icon, title: `${group.site.name} ${T.people.replace("{n}", group.members.length)}`,
      siteId, zIndexOffset: 800, keyboard: true,
    }).on("click", () => showSite(siteId)).addTo(siteLayer);
  }

  function drawShapes(layer, collection, highlight) {
    layer.clearLayers();
    if (!collection) return;
    for (const feature of collection.features) {
      const p = feature.properties;
      state.siteNames.set(feature.id, p.name);
      if (p.tz) state.siteTz.set(feature.id, p.tz);
      const style = {
        color: SITE_COLOURS[p.kind], weight: highlight ? 3 : 1.5, fillOpacity: highlight ? 0.2 : 0.1,
        dashArray: highlight ? null : "4 3",
      };
      const g = feature.geometry;
      let shape;
      if (g.type === "Point") {
        shape = L.circle(ll(g.coordinates[0], g.coordinates[1]), { radius: p.radius_m, ...style });
      } else {
        const polygons = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
        shape = L.polygon(polygons.map((rings) =>
          rings.map((ring) => ring.map(([lon, lat]) => ll(lon, lat)))), style);
      }
      shape.bindTooltip(`${p.name} · ${T[p.kind]}`).addTo(layer);
    }
  }

  function drawLegend(totals) {
    const legend = $("pm-legend");
    legend.replaceChildren(...STATES.slice().reverse().map((name) =>
      el("span", { class: "pm-legend-item", "data-state": name }, dot(name), T[name], " ",
        el("b", {}, totals ? totals[name] : 0))));
  }

  /* ---- Overview: what the view shows, refreshed when it moves. ---- */
  let refreshTimer = null;
  function scheduleOverview(delay) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refreshOverview, delay);
  }
  async function refreshOverview() {
    const seq = ++state.seq;
    const view = map.getBounds();
    let [west, south] = unshift(view.getSouthWest());
    let [east, north] = unshift(view.getNorthEast());
    if (east - west >= 360) [west, east] = [-180, 180];
    const wrap = (lon) => ((((lon + 180) % 360) + 360) % 360) - 180;
    if (west < -180 || east > 180) [west, east] = [wrap(west), wrap(east)];
    south = Math.max(-90, south);
    north = Math.min(90, north);
    const box = [west, south, east, north].map((v) => v.toFixed(5));
    try {
      const data = await source.overview(box, map.getZoom());
      if (seq !== state.seq) return; // a newer view asked meanwhile
      state.overview = data;
      drawOverview();
      window.partymap.overviewLoaded = (window.partymap.overviewLoaded || 0) + 1;
    } catch (error) {
      // Map moves ask often: one failure says so once, the next view tries again.
      if (error.status !== 401) kit.notice(`${T.request_failed}: ${error.message}`, "error");
    }
  }

  /* ---- The organisation tree, loaded a level at a time. ---- */
  async function loadTree(parent, container) {
    const data = await source.tree(parent);
    container.replaceChildren(...data.nodes.map(treeNode));
  }
  function treeNode(node) {
    const children = el("div", { class: "pm-children", hidden: true, role: "group" });
    const toggle = el("button", {
      class: "pm-toggle", "aria-label": `${T.expand} ${node.name}`, "aria-expanded": "false",
      disabled: node.children === 0,
      onclick: async () => {
        const opening = children.hidden;
        children.hidden = !opening;
        toggle.textContent = opening ? "▾" : "▸";
        toggle.setAttribute("aria-expanded", String(opening));
        if (opening && !children.childElementCount) await loadTree(node.id, children);
      },
    }, node.children ? "▸" : "·");
    const present = node.states.present + node.states.arriving;
    return el("div", { class: "pm-node", "data-org-id": node.id, role: "treeitem" },
      el("div", { class: "pm-node-row" },
        toggle,
        el("a", { href: "#", class: "pm-org-link", onclick: (e) => { e.preventDefault(); selectOrg(node.id); } },
          node.name),
        el("span", { class: "pm-kind" }, T[node.kind]),
        el("span", { class: "pm-count", title: `${T.present}/${T.members}` },
          `${present}/${node.members}`)),
      children);
  }

  /* ---- One click to the branch. ---- */
  async function selectOrg(id) {
    const data = await source.org(id);
    state.org = data;
    state.member = null;
    stopPlayback();
    trackLayer.clearLayers();
    showPanel("orgs", "pm-org");
    renderOrg();
    drawSelection();
    if (data.bounds) whenStill(() => map.fitBounds(boundsOf(data.bounds).pad(0.3), clear({ maxZoom: 17 })));
  }
  function memberRow(m, sub) {
    remember(m.member_id, m.name);
    const current = state.memberStates.get(m.member_id) || m.state;
    return el("li", { "data-member-id": m.member_id, "data-state": current,
      onclick: () => selectMember(m.member_id) },
      dot(current), el("span", { class: "pm-name" }, m.name),
      el("span", { class: "pm-sub" }, sub));
  }
  function renderOrg() {
    const data = state.org;
    const crumbs = data.breadcrumbs.map((c, i) => i === data.breadcrumbs.length - 1
      ? el("span", {}, c.name)
      : el("a", { href: "#", onclick: (e) => { e.preventDefault(); selectOrg(c.id); } }, c.name));
    const list = el("ul", { id: "pm-members", class: "pm-list" }, data.members.map((m) =>
      memberRow(m, m.site || (m.org !== data.org.name ? m.org : ""))));
    const more = data.members_total - data.members.length;
    put("pm-org",
      el("nav", { class: "pm-crumbs", "aria-label": T.organisations },
        crumbs.flatMap((c, i) => (i ? [" › ", c] : [c]))),
      el("h2", {}, data.org.name, el("small", {}, T[data.org.kind])),
      el("div", { class: "pm-summary" }, STATES.slice().reverse().filter((s) => data.states[s])
        .map((s) => el("span", {}, dot(s), `${T[s]} ${data.states[s]}`))),
      el("h3", {}, `${T.members} (${data.members_total})`),
      list,
      more > 0 ? el("p", { class: "pm-more" }, T.more_members.replace("{n}", more)) : null,
      el("button", { class: "pm-back", onclick: () => showPanel("orgs", "pm-tree") }, T.back));
  }
  function drawSelection() {
    selectionLayer.clearLayers();
    const data = state.org;
    if (!data) return;
    const sites = L.layerGroup().addTo(selectionLayer);
    drawShapes(sites, data.sites, true);
    for (const m of data.members) {
      if (m.lon === null) continue;
      // Members counted at a small site stay counted there.
      if (m.site_id !== null && siteGroups.has(m.site_id)) continue;
      const current = state.memberStates.get(m.member_id) || m.state;
      L.circleMarker(ll(m.lon, m.lat), {
        renderer: canvas, radius: 8, color: "#212121", weight: 2, fillColor: COLOURS[current],
        fillOpacity: 1, memberId: m.member_id,
      }).bindTooltip(m.name, { direction: "right", offset: [8, 0] })
        .on("click", () => selectMember(m.member_id))
        .addTo(selectionLayer);
    }
  }

  /* ---- The members counted at a small site. ---- */
  function showSite(siteId) {
    const group = siteGroups.get(siteId);
    if (!group) return;
    state.site = siteId;
    const order = (p) => -STATES.indexOf(p[4]);
    const members = group.members.slice().sort((a, b) => order(a) - order(b) || a[5].localeCompare(b[5]));
    put("pm-site",
      el("button", { class: "pm-back", onclick: () => showPanel("orgs", state.org ? "pm-org" : "pm-tree") },
        `‹ ${T.back}`),
      el("h2", {}, group.site.name, el("small", {}, T[group.site.kind])),
      el("p", { class: "pm-summary" }, T.people.replace("{n}", members.length)),
      el("ul", { id: "pm-site-members", class: "pm-list" }, members.map(([id, , , , stateName, name]) =>
        memberRow({ member_id: id, name, state: stateName }, T[stateName]))),
      el("button", { class: "pm-back", onclick: () => selectOrg(group.site.orgId) }, T.open_branch));
    showPanel("orgs", "pm-site");
  }

  /* ---- One click to the member: where they are, their track by day, check-ins. ---- */
  async function selectMember(id, day) {
    const data = await source.member(id, day);
    state.member = data;
    stopPlayback();
    showPanel("orgs", "pm-member");
    renderMember();
    drawTrack(true);
    document.dispatchEvent(new CustomEvent("partymap:member", { detail: data }));
  }
  function renderMember() {
    const data = state.member;
    const m = data.member;
    remember(m.member_id, m.name);
    const current = state.memberStates.get(m.member_id) || m.state;
    const latest = data.latest;
    const checkins = data.checkins.map((c) => el("li", {},
      el("span", { class: "pm-time" }, fmtTime(c.checkin_at, c.tz, { date: true })),
      el("span", { class: "pm-name" }, c.site),
      c.beidou_verified ? el("span", { class: "pm-badge" }, T.beidou_verified) : null));
    put("pm-member",
      el("button", { class: "pm-back", onclick: () => showPanel("orgs", state.org ? "pm-org" : "pm-tree") },
        `‹ ${T.back}`),
      el("h2", { "data-member-id": m.member_id }, dot(current), m.name, el("small", {}, m.org)),
      el("dl", { class: "pm-facts" },
        el("dt", {}, T.member), el("dd", { "data-state": current }, T[current]),
        m.site ? [el("dt", {}, T.at_site), el("dd", {}, m.site)] : null,
        latest ? [
          el("dt", {}, T.last_fix),
          el("dd", { id: "pm-last-fix" }, fmtTime(latest.fix_time, data.tz, { date: true, seconds: true })),
          el("dt", {}, T.accuracy),
          el("dd", {}, latest.accuracy_m === null ? "—" : `±${latest.accuracy_m.toFixed(1)} m`),
          el("dt", {}, "BDS"), el("dd", {}, latest.sats_beidou ?? "—"),
        ] : null),
      el("h3", {}, T.track),
      trackControls(),
      el("h3", {}, T.checkins),
      checkins.length ? el("ul", { id: "pm-checkins", class: "pm-list" }, checkins)
        : el("p", {}, T.no_checkins));
  }
  /** The day picker, the count of fixes and the playback slider of the member's track. */
  function trackControls() {
    const data = state.member;
    const points = data.track.points;
    const day = el("input", {
      type: "date", id: "pm-track-day", value: data.track.day || "", max: kit.today(data.tz),
      "aria-label": T.track_day,
      onchange: (e) => selectMember(data.member.member_id, e.target.value || undefined),
    });
    const slider = el("input", {
      type: "range", id: "pm-track-slider", min: 0, max: Math.max(0, points.length - 1),
      value: Math.max(0, points.length - 1), step: 1, "aria-label": T.track_time,
      disabled: points.length < 2, oninput: (e) => showPlayhead(Number(e.target.value)),
    });
    const play = el("button", {
      id: "pm-track-play", class: "pm-icon-button", "aria-label": T.play, title: T.play,
      disabled: points.length < 2, onclick: togglePlayback,
    }, "▶");
    return el("div", { class: "pm-track" },
      el("div", { class: "pm-track-row" },
        staticData ? null : el("label", {}, T.track_day, day),
        el("span", { id: "pm-track-count" }, T.fixes.replace("{n}", data.track.fixes))),
      el("div", { class: "pm-track-row" }, play, slider),
      el("output", { id: "pm-track-time", for: "pm-track-slider" },
        points.length ? fmtTime(new Date(points[points.length - 1][2] * 1000).toISOString(),
          data.tz, { date: true, seconds: true }) : T.no_track));
  }
  let playhead = null;
  let playTimer = null;
  const PLAYBACK_MS = 15000; // a whole track plays in about this long
  function showPlayhead(index) {
    const data = state.member;
    if (!data || !data.track.points.length) return;
    const points = data.track.points;
    const [lon, lat, t] = points[Math.min(index, points.length - 1)];
    if (!playhead) {
      playhead = L.circleMarker(ll(lon, lat), {
        radius: 8, color: "#fff", weight: 3, fillColor: "#0d47a1", fillOpacity: 1,
      }).addTo(trackLayer);
    } else {
      playhead.setLatLng(ll(lon, lat));
    }
    trackLayer.eachLayer((layer) => {
      if (layer.options.className === "pm-track-played") {
        layer.setLatLngs(points.slice(0, index + 1).map(([x, y]) => ll(x, y)));
      }
    });
    const output = $("pm-track-time");
    if (output) output.textContent = fmtTime(new Date(t * 1000).toISOString(), data.tz, { date: true, seconds: true });
    const slider = $("pm-track-slider");
    if (slider && Number(slider.value) !== index) slider.value = index;
  }
  function togglePlayback() {
    if (playTimer) { stopPlayback(); return; }
    const slider = $("pm-track-slider");
    const last = Number(slider.max);
    let index = Number(slider.value) >= last ? 0 : Number(slider.value);
    const step = Math.max(1, Math.ceil(last / (PLAYBACK_MS / 50)));
    $("pm-track-play").textContent = "⏸";
    $("pm-track-play").setAttribute("aria-label", T.pause);
    playTimer = setInterval(() => {
      index = Math.min(last, index + step);
      showPlayhead(index);
      if (index >= last) stopPlayback();
    }, 50);
  }
  function stopPlayback() {
    clearInterval(playTimer);
    playTimer = null;
    const button = $("pm-track-play");
    if (button) {
      button.textContent = "▶";
      button.setAttribute("aria-label", T.play);
    }
  }
  function drawTrack(fit) {
    trackLayer.clearLayers();
    playhead = null;
    const data = state.member;
    if (!data) return;
    const points = data.track.points.map(([lon, lat]) => ll(lon, lat));
    if (points.length) {
      L.polyline(points, { color: "#c62828", weight: 3, opacity: 0.45, className: "pm-track" })
        .addTo(trackLayer);
      L.polyline(points, { color: "#c62828", weight: 4, opacity: 0.9, className: "pm-track-played" })
        .addTo(trackLayer);
      L.circleMarker(points[0], { radius: 4, color: "#c62828", fillOpacity: 1 }).addTo(trackLayer);
    }
    const live = !data.track.day;
    const last = live && data.latest ? ll(data.latest.lon, data.latest.lat) : points[points.length - 1];
    if (last) {
      L.circleMarker(last, { radius: 10, color: "#c62828", weight: 3, fillOpacity: 0 })
        .addTo(trackLayer);
    }
    if (fit && points.length > 1) whenStill(() => map.fitBounds(L.latLngBounds(points).pad(0.3), clear({ maxZoom: 18 })));
    else if (fit && last) whenStill(() => focus(last, Math.max(map.getZoom(), 16)));
  }

  /* ---- Search by name. ---- */
  let searchTimer = null;
  $("pm-search").addEventListener("input", (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => runSearch(e.target.value), 250);
  });
  $("pm-search").addEventListener("focus", () => openSheet("full"));
  async function runSearch(q) {
    const box = $("pm-search-results");
    if (!q.trim()) { box.hidden = true; return; }
    const data = await source.search(q);
    const pick = (fn) => () => { box.hidden = true; fn(); };
    const rows = [
      ...data.orgs.map((o) => el("li", { class: "pm-hit-org", onclick: pick(() => selectOrg(o.id)) },
        el("span", { class: "pm-name" }, o.name), el("span", { class: "pm-kind" }, T[o.kind]))),
      ...data.members.map((m) => el("li", { class: "pm-hit-member", onclick: pick(() => selectMember(m.member_id)) },
        el("span", { class: "pm-name" }, m.name), el("span", { class: "pm-sub" }, m.org))),
    ];
    box.replaceChildren(rows.length ? el("ul", { class: "pm-list" }, rows) : el("p", {}, T.no_results));
    box.hidden = false;
  }

  /* ---- Panels, tabs and, on a phone, the bottom sheet. ---- */
  const panels = { orgs: ["pm-tree", "pm-org", "pm-member", "pm-site"] };
  const tabOpened = {};
  /** Show ``panel`` of ``tab`` (and open the sheet on a phone, where it starts closed). */
  function showPanel(tab, panel, opts) {
    document.querySelectorAll("#pm-tabs [role=tab]").forEach((b) => {
      const on = b.dataset.tab === tab;
      b.classList.toggle("active", on);
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
    });
    for (const section of document.querySelectorAll("#pm-side-body > section")) {
      section.hidden = section.id !== `pm-tab-${tab}`;
    }
    for (const id of panels[tab] || []) $(id).hidden = id !== panel;
    if (panel && (panels[tab] || [])[0] !== panel) state.lastPanel = panel;
    if (!(opts && opts.keepSheet)) openSheet(phone.matches && document.body.dataset.sheet === "full" ? "full" : "half");
    document.dispatchEvent(new CustomEvent("partymap:panel", { detail: { tab, panel } }));
  }
  function openSheet(size) {
    if (!phone.matches) return;
    document.body.dataset.sheet = size;
    $("pm-sheet-handle").setAttribute("aria-expanded", String(size !== "closed"));
    $("pm-sheet-handle").setAttribute("aria-label", size === "full" ? T.close_panel : T.open_panel);
  }
  const NEXT_SIZE = { closed: "half", half: "full", full: "closed" };
  $("pm-sheet-handle").addEventListener("click", () => {
    openSheet(NEXT_SIZE[document.body.dataset.sheet] || "half");
  });
  function selectTab(tab) {
    showPanel(tab, (panels[tab] || [])[0]);
    if (tabOpened[tab]) tabOpened[tab]();
  }
  const tabs = [...document.querySelectorAll("#pm-tabs [role=tab]")];
  tabs.forEach((b, i) => {
    b.addEventListener("click", () => selectTab(b.dataset.tab));
    // Arrow keys move between tabs, as a tab list does.
    b.addEventListener("keydown", (e) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (!step) return;
      const shown = tabs.filter((t) => !t.hidden);
      const next = shown[(shown.indexOf(b) + step + shown.length) % shown.length];
      next.focus();
      next.click();
    });
  });

  /* ---- Live: the SSE stream of positions, presence and check-ins. ---- */
  const FEED_LENGTH = 50;
  let missingNames = null;
  let unseen = 0;
  async function fillNames() {
    const members = [...document.querySelectorAll("#pm-feed b[data-member-id]")]
      .map((n) => Number(n.dataset.memberId)).filter((id) => !state.names.has(id));
    const sites = [...document.querySelectorAll("#pm-feed span[data-site-id]")]
      .map((n) => Number(n.dataset.siteId)).filter((id) => !state.siteTz.has(id));
    if (members.length || sites.length) {
      const data = await source.names([...new Set(members)], [...new Set(sites)]);
      for (const [id, name] of Object.entries(data.members)) state.names.set(Number(id), name);
      for (const [id, name] of Object.entries(data.sites)) state.siteNames.set(Number(id), name);
      for (const [id, tz] of Object.entries(data.site_tz)) state.siteTz.set(Number(id), tz);
    }
    document.querySelectorAll("#pm-feed b[data-member-id]").forEach((n) => {
      n.textContent = state.names.get(Number(n.dataset.memberId)) || n.textContent;
    });
    document.querySelectorAll("#pm-feed span[data-site-id]").forEach((n) => {
      n.textContent = state.siteNames.get(Number(n.dataset.siteId)) || n.textContent;
      // Times at a site read in its own zone, as in the meeting panel.
      const time = n.parentElement.querySelector(".pm-time[data-time]");
      const tz = state.siteTz.get(Number(n.dataset.siteId));
      if (time && tz) time.textContent = feedTime(time.dataset.time, tz);
    });
  }
  const feedTime = (iso, tz) => fmtTime(iso, tz, { date: true, seconds: true });
  /** An entry of the live feed, kept in time order (newest first) whatever order events
   * arrive in: devices report late, and several stream at once. */
  function feed(kind, event, text) {
    const when = event.time || event.since || event.end;
    const item = el("li", { class: `pm-feed-${kind}`, "data-member-id": event.member_id, "data-at": Date.parse(when) },
      el("span", { class: "pm-time", "data-time": when }, feedTime(when, state.siteTz.get(event.site_id))),
      el("b", { "data-member-id": event.member_id }, state.names.get(event.member_id) || `#${event.member_id}`),
      ` ${text} `,
      event.site_id ? el("span", { "data-site-id": event.site_id },
        state.siteNames.get(event.site_id) || `#${event.site_id}`) : null,
      event.beidou_verified ? el("span", { class: "pm-badge" }, T.beidou_verified) : null);
    const list = $("pm-feed");
    const at = Date.parse(when);
    const later = [...list.children].find((li) => Number(li.dataset.at) < at);
    list.insertBefore(item, later || null);
    while (list.childElementCount > FEED_LENGTH) list.lastChild.remove();
    if ($("pm-live").dataset.open !== "1") {
      unseen += 1;
      $("pm-live-count").textContent = String(unseen);
    }
    clearTimeout(missingNames);
    missingNames = setTimeout(fillNames, 200);
  }
  /** A line of the feed about no one in particular: a meeting's start or end, an alert. */
  function feedNote(kind, when, tz, text) {
    const at = Date.parse(when) || Date.now();
    const iso = new Date(at).toISOString();
    const item = el("li", { class: `pm-feed-${kind}`, "data-at": at },
      el("span", { class: "pm-time", "data-time": iso }, feedTime(iso, tz)), el("b", {}, text));
    const list = $("pm-feed");
    const later = [...list.children].find((li) => Number(li.dataset.at) < at);
    list.insertBefore(item, later || null);
    while (list.childElementCount > FEED_LENGTH) list.lastChild.remove();
    if ($("pm-live").dataset.open !== "1") {
      unseen += 1;
      $("pm-live-count").textContent = String(unseen);
    }
  }
  function openFeed(open) {
    $("pm-live").dataset.open = open ? "1" : "0";
    $("pm-live-toggle").setAttribute("aria-expanded", String(open));
    $("pm-feed").hidden = !open;
    if (open) {
      unseen = 0;
      $("pm-live-count").textContent = "";
    }
  }
  $("pm-live-toggle").addEventListener("click", () => openFeed($("pm-live").dataset.open !== "1"));

  function setMemberState(id, stateName) {
    state.memberStates.set(id, stateName);
    const marker = markers.get(id);
    if (marker) marker.setStyle({ fillColor: COLOURS[stateName] });
    document.querySelectorAll(`#pm-members li[data-member-id="${id}"]`).forEach((li) => {
      li.dataset.state = stateName;
      li.querySelector(".pm-dot").className = `pm-dot pm-${stateName}`;
    });
  }
  const listeners = {};
  /** Other scripts hear the stream's events too (meeting attendance, alerts). */
  function onEvent(type, handler) {
    (listeners[type] = listeners[type] || []).push(handler);
  }
  const handlers = {
    position(event) {
      const marker = markers.get(event.member_id);
      if (marker) marker.setLatLng(ll(event.lon, event.lat));
      const shown = state.member;
      if (shown && shown.member.member_id === event.member_id && !shown.track.day) {
        shown.track.points.push([event.lon, event.lat, Date.parse(event.time) / 1000]);
        shown.track.fixes += 1;
        shown.latest = { ...(shown.latest || {}), lon: event.lon, lat: event.lat,
          fix_time: event.time, accuracy_m: event.accuracy_m };
        if (!playTimer) drawTrack(false);
      }
    },
    presence(event) {
      const name = event.state === "arriving" ? "arriving" : "present";
      setMemberState(event.member_id, name);
      if (event.state === "arriving") feed("arriving", event, T.arriving);
    },
    checkin(event) {
      setMemberState(event.member_id, "present");
      feed("checkin", event, T.checked_in);
      scheduleOverview(1500);
    },
    visit_ended(event) {
      setMemberState(event.member_id, "outside");
      feed("left", event, T.left);
      scheduleOverview(1500);
    },
  };
  function connect() {
    const stream = new EventSource(`${cfg.api}/stream`);
    const types = new Set([...Object.keys(handlers), ...Object.keys(listeners)]);
    for (const type of types) {
      stream.addEventListener(type, (message) => {
        const event = JSON.parse(message.data);
        if (handlers[type]) handlers[type](event);
        for (const listener of listeners[type] || []) listener(event);
      });
    }
    stream.addEventListener("open", () => {
      if ($("pm-notice").dataset.kind === "connection") $("pm-notice").hidden = true;
      window.partymap.live = true;
    });
    stream.addEventListener("error", () => {
      window.partymap.live = false;
      kit.notice(T.connection_lost, "connection");
    });
    window.partymap.stream = stream;
  }

  /* ---- Base layers: datum, Tianditu's label layer, tiles that fail, the land outline. ---- */
  let overlay = null;
  let landLayer = null;
  function useBase(key) {
    const layer = baseLayers[key];
    const datum = (layer && layer.options.datum) || "wgs84";
    if (overlay) { map.removeLayer(overlay); overlay = null; }
    if (layer && layer.options.overlayUrl) {
      overlay = L.tileLayer(layer.options.overlayUrl, { subdomains: layer.options.subdomains }).addTo(map);
    }
    map.getContainer().classList.toggle("pm-offline", key === "none");
    if (key === "none") drawLand();
    if (datum !== state.datum) {
      state.datum = datum;
      drawOverview();
      drawSelection();
      drawTrack(false);
      scheduleOverview(0);
    }
    window.partymap.datum = state.datum;
  }
  async function drawLand() {
    if (landLayer || !cfg.land) return;
    landLayer = L.geoJSON(null, {
      // Fill only: rings cut at the antimeridian would draw their cut as a line.
      interactive: false, style: { stroke: false, fillColor: "#f5f5f0", fillOpacity: 1 },
    }).addTo(baseLayers.none);
    landLayer.addData(typeof cfg.land === "string" ? await (await fetch(cfg.land)).json() : cfg.land);
  }
  map.on("baselayerchange", (e) => useBase(e.layer.options.tilesKey || "none"));
  for (const [key, layer] of Object.entries(baseLayers)) {
    if (!(layer instanceof L.TileLayer)) continue;
    let loaded = 0, failed = 0;
    layer.on("tileload", () => { loaded += 1; });
    layer.on("tileerror", () => {
      failed += 1;
      // Tiles unreachable (offline, blocked): carry on over the land outline instead.
      if (failed === 8 && loaded === 0 && map.hasLayer(layer)) {
        kit.notice(`${T["tiles_" + key]} ✕ → ${T.tiles_none}`);
        map.removeLayer(layer);
        map.addLayer(baseLayers.none);
      }
    });
  }

  /* ---- Layout: the header's height, a phone's smaller controls. ---- */
  function fitLayout() {
    document.documentElement.style.setProperty("--pm-head", `${$("pm-header").offsetHeight}px`);
    map.invalidateSize({ pan: false });
  }
  new ResizeObserver(fitLayout).observe($("pm-header"));
  function adaptControls() {
    // On a phone the layer switcher folds into its button, so it does not cover the map.
    layerControl.options.collapsed = phone.matches;
    layerControl.remove();
    layerControl.addTo(map);
    if (phone.matches) {
      openFeed(false);
      if (!document.body.dataset.sheet) document.body.dataset.sheet = "closed";
    } else {
      openFeed(true);
      delete document.body.dataset.sheet;
    }
    fitLayout();
  }
  phone.addEventListener("change", adaptControls);
  map.on("click", () => { if (phone.matches) openSheet("closed"); });

  /* ---- Login and start. ---- */
  function showLogin() {
    $("pm-login").hidden = false;
    document.body.classList.add("pm-locked");
    $("pm-login").querySelector("input[name=username]").focus();
  }
  kit.onUnauthorised = () => (screen ? core.displaySetup && core.displaySetup() : showLogin());
  let started = false;
  $("pm-login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = $("pm-login-error");
    error.hidden = true;
    const button = e.target.querySelector("button[type=submit]");
    button.disabled = true;
    let response;
    try {
      response = await fetch(cfg.api + "/auth/token", {
        method: "POST", body: new URLSearchParams(new FormData(e.target)), credentials: "same-origin",
      });
    } catch (failure) {
      response = null;
    } finally {
      button.disabled = false;
    }
    if (!response || !response.ok) {
      // The real reason: wrong password, too many attempts (and for how long), or no answer.
      if (!response) error.textContent = T.network_error;
      else if (response.status === 429) {
        const wait = response.headers.get("Retry-After") || "60";
        error.textContent = T.login_throttled.replace("{s}", wait);
      } else if (response.status === 401) error.textContent = T.login_failed;
      else error.textContent = `${T.request_failed}: HTTP ${response.status}`;
      error.hidden = false;
      return;
    }
    kit.setToken((await response.json()).access_token);
    e.target.hidden = true;
    e.target.reset();
    document.body.classList.remove("pm-locked");
    if (!started) start();
    else document.dispatchEvent(new CustomEvent("partymap:login"));
  });

  let orgOptions = null;
  /** The organisations of the caller's scope for forms: [id, indented name, record], parents
   * first (loaded once). */
  async function organisations() {
    if (orgOptions) return orgOptions;
    const tops = await api("/orgs?limit=100", { quiet: true });
    const all = [];
    for (const top of tops.items) {
      const below = await api(`/orgs/${top.id}/subtree?limit=1000`, { quiet: true });
      all.push(...below.items);
    }
    const base = Math.min(...all.map((o) => o.depth));
    orgOptions = all.map((o) => [o.id, `${"　".repeat(o.depth - base)}${o.name}`, o]);
    return orgOptions;
  }

  const core = {
    cfg, kit, map, state, source, phone, ll, whenStill, clear, focus, showPanel, openSheet, panels, tabOpened,
    selectOrg, selectMember, selectTab, onEvent, feedNote, organisations, me: null, staticData,
    screen: null, refreshMap: () => scheduleOverview(0),
  };
  async function start() {
    if (screen) {
      document.body.classList.add("pm-screen");
      core.screen = true;
      if (kit.token()) core.display = await api("/display/me", { quiet: true }).catch(() => null);
      started = true;
      for (const module of window.partymapModules || []) module(core);
      if (!core.display) return; // the screen asks for its token
    }
    const topLevel = source.tree(null); // asked for at once, alongside who is logged in
    topLevel.catch(() => {}); // a refusal is handled below, by the login form
    if (screen) {
      // Modules have run; the map of the display's subtree follows.
    } else if (!staticData) {
      const me = await api("/auth/me", { quiet: true });
      core.me = me;
      put("pm-user", el("span", { id: "pm-username" }, me.username),
        el("button", { onclick: async () => {
          kit.setToken(null);
          await fetch(cfg.api + "/auth/logout", { method: "POST", credentials: "same-origin" });
          location.reload();
        } }, T.logout));
    } else {
      put("pm-user", el("span", {}, `${T.static_export} · ${T.generated} ${fmtTime(staticData.generated, null, { date: true })}`));
      $("pm-live").hidden = true;
    }
    if (!screen) {
      started = true;
      for (const module of window.partymapModules || []) module(core);
      if (!staticData) connect();
    }
    const top = await topLevel;
    put("pm-tree", ...top.nodes.map(treeNode));
    if (top.nodes.length === 1) {
      const toggle = document.querySelector("#pm-tree > .pm-node .pm-toggle");
      if (!toggle.disabled) toggle.click();
      // No glide at start: the first view is where the page opens, not a move.
      if (top.nodes[0].bounds) map.fitBounds(boundsOf(top.nodes[0].bounds).pad(0.1), { animate: false });
    }
    map.on("moveend", () => scheduleOverview(150));
    await refreshOverview();
    window.partymap.ready = true;
    document.body.dataset.ready = "1";
    document.dispatchEvent(new CustomEvent("partymap:ready"));
  }

  window.partymap = {
    map, state, markers, siteGroups, wgs84ToGcj02, ll, selectOrg, selectMember, showSite,
    overviewLoaded: 0, core,
  };
  adaptControls();
  useBase(activeBase());
  start().catch((error) => console.warn(error));
}
