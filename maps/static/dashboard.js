/* partymap dashboard: fills the folium/Leaflet map with the organisation and keeps it live.
 *
 * Data comes from the map API (/api/v1/map/...) with the login cookie, or from the data a
 * static export embeds; both answer the same shapes (see maps/overview.py and maps/detail.py).
 * Coordinates arrive in WGS 84. While a GCJ-02 base layer (AMap) is shown, everything drawn is
 * shifted with the published GCJ-02 formula, the same one as geo/coords.py.
 */
"use strict";

function partymapDashboard(map, baseLayers, layerControl) {
  const cfg = JSON.parse(document.getElementById("partymap-config").textContent);
  const T = cfg.labels;
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
  const $ = (id) => document.getElementById(id);
  /** Replace the contents of element ``id``; null, undefined and false children are skipped. */
  const put = (id, ...children) => $(id).replaceChildren(
    ...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "style") node.style.cssText = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) {
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
      }
    }
    return node;
  };

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
    datum: "wgs84", overview: null, org: null, member: null, meetings: null, meeting: null,
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
  async function api(path) {
    const response = await fetch(cfg.api + path, { credentials: "same-origin" });
    if (response.status === 401) {
      showLogin();
      throw new Error("not logged in");
    }
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    return response.json();
  }
  const source = staticData ? {
    overview: async (bbox, zoom) => {
      const zooms = Object.keys(staticData.overview).map(Number);
      const best = zooms.reduce((a, z) => (z <= zoom && z > a ? z : a), Math.min(...zooms));
      return staticData.overview[best];
    },
    tree: async (parent) => staticData.tree[parent === null ? "root" : parent],
    org: async (id) => staticData.orgs[id],
    member: async (id) => staticData.members[id],
    meetings: async () => staticData.meetings,
    meeting: async (id) => staticData.meeting[id],
    search: async (q) => {
      const needle = q.trim().toLowerCase();
      const hit = (x) => needle && x.name.toLowerCase().includes(needle);
      return {
        orgs: staticData.search.orgs.filter(hit).slice(0, 20),
        members: staticData.search.members.filter(hit).slice(0, 20),
      };
    },
    names: async () => ({ members: {}, sites: {} }),
  } : {
    overview: (bbox, zoom) => api(`/map/overview?bbox=${bbox.join(",")}&zoom=${zoom}`),
    tree: (parent) => api("/map/tree" + (parent === null ? "" : `?parent=${parent}`)),
    org: (id) => api(`/map/orgs/${id}`),
    member: (id) => api(`/map/members/${id}`),
    meetings: () => api("/map/meetings"),
    meeting: (id) => api(`/map/meetings/${id}`),
    search: (q) => api(`/map/search?q=${encodeURIComponent(q)}`),
    names: (members, sites) =>
      api(`/map/names?members=${members.join(",")}&sites=${sites.join(",")}`),
  };

  /* ---- Formatting. ---- */
  function fmtTime(iso, tz, withDate) {
    if (!iso) return "";
    const options = { hour: "2-digit", minute: "2-digit", second: withDate ? undefined : "2-digit" };
    if (withDate) Object.assign(options, { month: "2-digit", day: "2-digit" });
    if (tz) options.timeZone = tz;
    return new Intl.DateTimeFormat(cfg.language, options).format(new Date(iso));
  }
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

  const canvas = L.canvas({ padding: 0.2 });
  const shapeLayer = L.layerGroup().addTo(map);
  const siteLayer = L.layerGroup().addTo(map);
  const clusterLayer = L.layerGroup().addTo(map);
  const memberLayer = L.layerGroup().addTo(map);
  const selectionLayer = L.layerGroup().addTo(map);
  const trackLayer = L.layerGroup().addTo(map);
  const markers = new Map(); // member id → circle marker on the map now

  function activeBase() {
    for (const [key, layer] of Object.entries(baseLayers)) if (map.hasLayer(layer)) return key;
    return "none";
  }

  function drawOverview() {
    const data = state.overview;
    [clusterLayer, memberLayer, siteLayer].forEach((layer) => layer.clearLayers());
    markers.clear();
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
        .on("click", () => whenStill(() => map.fitBounds(boundsOf(box).pad(0.2), { maxZoom: 18 })))
        .addTo(clusterLayer);
    }
    for (const [id, lon, lat, accuracy, stateName, name] of data.members.points) {
      remember(id, name);
      state.memberStates.set(id, stateName);
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
        .on("click", () => whenStill(() => map.fitBounds(boundsOf(box).pad(0.2), { maxZoom: 16 })))
        .addTo(siteLayer);
    }
    for (const [id, lon, lat, kind, name, orgId] of data.sites.points) {
      state.siteNames.set(id, name);
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
    drawShapes(shapeLayer, zoom >= SHAPES_ZOOM ? data.shapes : null, false);
    drawLegend(data.totals);
  }

  function drawShapes(layer, collection, highlight) {
    layer.clearLayers();
    if (!collection) return;
    for (const feature of collection.features) {
      const p = feature.properties;
      state.siteNames.set(feature.id, p.name);
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
      console.warn(error);
    }
  }

  /* ---- The organisation tree, loaded a level at a time. ---- */
  async function loadTree(parent, container) {
    const data = await source.tree(parent);
    container.replaceChildren(...data.nodes.map(treeNode));
  }
  function treeNode(node) {
    const children = el("div", { class: "pm-children", hidden: true });
    const toggle = el("button", {
      class: "pm-toggle", "aria-label": "expand", disabled: node.children === 0,
      onclick: async () => {
        const opening = children.hidden;
        children.hidden = !opening;
        toggle.textContent = opening ? "▾" : "▸";
        if (opening && !children.childElementCount) await loadTree(node.id, children);
      },
    }, node.children ? "▸" : "·");
    const present = node.states.present + node.states.arriving;
    return el("div", { class: "pm-node", "data-org-id": node.id },
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
    trackLayer.clearLayers();
    showPanel("orgs", "pm-org");
    renderOrg();
    drawSelection();
    if (data.bounds) whenStill(() => map.fitBounds(boundsOf(data.bounds).pad(0.3), { maxZoom: 17 }));
  }
  function renderOrg() {
    const data = state.org;
    const crumbs = data.breadcrumbs.map((c, i) => i === data.breadcrumbs.length - 1
      ? el("span", {}, c.name)
      : el("a", { href: "#", onclick: (e) => { e.preventDefault(); selectOrg(c.id); } }, c.name));
    const list = el("ul", { id: "pm-members", class: "pm-list" }, data.members.map((m) => {
      remember(m.member_id, m.name);
      const current = state.memberStates.get(m.member_id) || m.state;
      return el("li", { "data-member-id": m.member_id, "data-state": current,
        onclick: () => selectMember(m.member_id) },
        dot(current), el("span", { class: "pm-name" }, m.name),
        el("span", { class: "pm-sub" }, m.site || (m.org !== data.org.name ? m.org : "")));
    }));
    const more = data.members_total - data.members.length;
    put("pm-org",
      el("nav", { class: "pm-crumbs" }, crumbs.flatMap((c, i) => (i ? [" › ", c] : [c]))),
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
      const current = state.memberStates.get(m.member_id) || m.state;
      L.circleMarker(ll(m.lon, m.lat), {
        renderer: canvas, radius: 8, color: "#212121", weight: 2, fillColor: COLOURS[current],
        fillOpacity: 1, memberId: m.member_id,
      }).bindTooltip(m.name, { direction: "right", offset: [8, 0] })
        .on("click", () => selectMember(m.member_id))
        .addTo(selectionLayer);
    }
  }

  /* ---- One click to the member. ---- */
  async function selectMember(id) {
    const data = await source.member(id);
    state.member = data;
    showPanel("orgs", "pm-member");
    renderMember();
    drawTrack(true);
  }
  function renderMember() {
    const data = state.member;
    const m = data.member;
    remember(m.member_id, m.name);
    const current = state.memberStates.get(m.member_id) || m.state;
    const latest = data.latest;
    const checkins = data.checkins.map((c) => el("li", {},
      el("span", { class: "pm-time" }, fmtTime(c.checkin_at, null, true)),
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
          el("dt", {}, T.last_fix), el("dd", {}, fmtTime(latest.fix_time, null, true)),
          el("dt", {}, T.accuracy),
          el("dd", {}, latest.accuracy_m === null ? "—" : `±${latest.accuracy_m.toFixed(1)} m`),
          el("dt", {}, "BDS"), el("dd", {}, latest.sats_beidou ?? "—"),
        ] : null,
        el("dt", {}, T.track), el("dd", { id: "pm-track-count" }, `${data.track.fixes}`)),
      el("h3", {}, T.checkins),
      checkins.length ? el("ul", { id: "pm-checkins", class: "pm-list" }, checkins)
        : el("p", {}, T.no_checkins));
  }
  function drawTrack(fit) {
    trackLayer.clearLayers();
    const data = state.member;
    if (!data) return;
    const points = data.track.points.map(([lon, lat]) => ll(lon, lat));
    if (points.length) {
      L.polyline(points, { color: "#c62828", weight: 3, opacity: 0.85, className: "pm-track" })
        .addTo(trackLayer);
      L.circleMarker(points[0], { radius: 4, color: "#c62828", fillOpacity: 1 }).addTo(trackLayer);
    }
    const last = data.latest ? ll(data.latest.lon, data.latest.lat) : points[points.length - 1];
    if (last) {
      L.circleMarker(last, { radius: 10, color: "#c62828", weight: 3, fillOpacity: 0 })
        .addTo(trackLayer);
    }
    if (fit && points.length > 1) whenStill(() => map.fitBounds(L.latLngBounds(points).pad(0.3), { maxZoom: 18 }));
    else if (fit && last) whenStill(() => map.setView(last, Math.max(map.getZoom(), 16)));
  }

  /* ---- Meetings and live attendance. ---- */
  async function loadMeetings() {
    const data = await source.meetings();
    state.meetings = data;
    const items = data.meetings.map((m) => el("li", { "data-meeting-id": m.id, onclick: () => selectMeeting(m.id) },
      el("span", { class: `pm-status pm-${m.status}` }, T[m.status]),
      el("span", { class: "pm-name" }, m.title || T[m.kind]),
      el("span", { class: "pm-sub" }, `${T[m.kind]} · ${m.org} · ${fmtTime(m.start, m.tz, true)}`)));
    put("pm-meetings", items.length
      ? el("ul", { class: "pm-list" }, items) : el("p", {}, T.no_meetings));
  }
  async function selectMeeting(id, quiet) {
    const data = await source.meeting(id);
    state.meeting = data;
    if (!quiet) {
      showPanel("meetings", "pm-meeting");
      whenStill(() => map.setView(ll(data.meeting.lon, data.meeting.lat), Math.max(map.getZoom(), 17)));
    }
    const m = data.meeting;
    const order = ["present", "late", "arriving", "left_early", "pending", "absent"];
    const roll = data.roll.slice().sort((a, b) => order.indexOf(a.outcome) - order.indexOf(b.outcome));
    put("pm-meeting",
      el("button", { class: "pm-back", onclick: () => showPanel("meetings", "pm-meetings") }, `‹ ${T.back}`),
      el("h2", {}, m.title || T[m.kind], el("small", {}, `${T[m.kind]} · ${m.org}`)),
      el("p", { class: "pm-sub" }, `${m.site} · ${fmtTime(m.start, m.tz, true)}–${fmtTime(m.end, m.tz, true)} · `,
        el("span", { class: `pm-status pm-${m.status}` }, T[m.status])),
      el("h3", {}, T.attendance),
      el("div", { class: "pm-summary", id: "pm-attendance-counts" }, order.filter((o) => data.counts[o])
        .map((o) => el("span", { class: `pm-outcome pm-o-${o}`, "data-outcome": o }, `${T["outcome_" + o]} ${data.counts[o]}`))),
      el("ul", { id: "pm-roll", class: "pm-list" }, roll.map((r) => {
        remember(r.member_id, r.name);
        return el("li", { "data-member-id": r.member_id, "data-outcome": r.outcome,
          onclick: () => selectMember(r.member_id) },
          el("span", { class: `pm-outcome pm-o-${r.outcome}` }, T["outcome_" + r.outcome]),
          el("span", { class: "pm-name" }, r.name),
          el("span", { class: "pm-time" }, fmtTime(r.first_checkin, m.tz)));
      })));
  }
  let meetingTimer = null;
  function refreshMeetingSoon() {
    if (!state.meeting) return;
    clearTimeout(meetingTimer);
    meetingTimer = setTimeout(() => selectMeeting(state.meeting.meeting.id, true), 400);
  }

  /* ---- Search by name. ---- */
  let searchTimer = null;
  $("pm-search").addEventListener("input", (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => runSearch(e.target.value), 250);
  });
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

  /* ---- Panels and tabs. ---- */
  function showPanel(tab, panel) {
    document.querySelectorAll("#pm-tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
    $("pm-tab-orgs").hidden = tab !== "orgs";
    $("pm-tab-meetings").hidden = tab !== "meetings";
    for (const id of ["pm-tree", "pm-org", "pm-member"]) $(id).hidden = tab === "orgs" && id !== panel;
    for (const id of ["pm-meetings", "pm-meeting"]) $(id).hidden = tab === "meetings" && id !== panel;
    if (tab === "meetings" && panel === "pm-meetings") state.meeting = null;
  }
  document.querySelectorAll("#pm-tabs button").forEach((b) => b.addEventListener("click", () => {
    showPanel(b.dataset.tab, b.dataset.tab === "orgs" ? "pm-tree" : "pm-meetings");
    if (b.dataset.tab === "meetings") loadMeetings();
  }));

  /* ---- Live: the SSE stream of positions, presence and check-ins. ---- */
  const FEED_LENGTH = 50;
  let missingNames = null;
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
      if (time && tz) time.textContent = fmtTime(time.dataset.time, tz);
    });
  }
  function feed(kind, event, text) {
    const item = el("li", { class: `pm-feed-${kind}`, "data-member-id": event.member_id },
      el("span", { class: "pm-time", "data-time": event.time || event.since || event.end },
        fmtTime(event.time || event.since || event.end, state.siteTz.get(event.site_id))),
      el("b", { "data-member-id": event.member_id }, state.names.get(event.member_id) || `#${event.member_id}`),
      ` ${text} `,
      event.site_id ? el("span", { "data-site-id": event.site_id },
        state.siteNames.get(event.site_id) || `#${event.site_id}`) : null,
      event.beidou_verified ? el("span", { class: "pm-badge" }, T.beidou_verified) : null);
    const list = $("pm-feed");
    list.prepend(item);
    while (list.childElementCount > FEED_LENGTH) list.lastChild.remove();
    clearTimeout(missingNames);
    missingNames = setTimeout(fillNames, 200);
  }
  function setMemberState(id, stateName) {
    state.memberStates.set(id, stateName);
    const marker = markers.get(id);
    if (marker) marker.setStyle({ fillColor: COLOURS[stateName] });
    document.querySelectorAll(`#pm-members li[data-member-id="${id}"]`).forEach((li) => {
      li.dataset.state = stateName;
      li.querySelector(".pm-dot").className = `pm-dot pm-${stateName}`;
    });
  }
  const handlers = {
    position(event) {
      const marker = markers.get(event.member_id);
      if (marker) marker.setLatLng(ll(event.lon, event.lat));
      if (state.member && state.member.member.member_id === event.member_id) {
        state.member.track.points.push([event.lon, event.lat, Date.parse(event.time) / 1000]);
        state.member.latest = { ...(state.member.latest || {}), lon: event.lon, lat: event.lat,
          fix_time: event.time, accuracy_m: event.accuracy_m };
        drawTrack(false);
      }
    },
    presence(event) {
      const name = event.state === "arriving" ? "arriving" : "present";
      setMemberState(event.member_id, name);
      if (event.state === "arriving") feed("arriving", event, T.arriving);
      refreshMeetingSoon();
    },
    checkin(event) {
      setMemberState(event.member_id, "present");
      feed("checkin", event, T.checked_in);
      refreshMeetingSoon();
      scheduleOverview(1500);
    },
    visit_ended(event) {
      setMemberState(event.member_id, "outside");
      feed("left", event, T.left);
      refreshMeetingSoon();
      scheduleOverview(1500);
    },
  };
  function connect() {
    const stream = new EventSource(`${cfg.api}/stream`);
    for (const [type, handle] of Object.entries(handlers)) {
      stream.addEventListener(type, (message) => handle(JSON.parse(message.data)));
    }
    stream.addEventListener("open", () => { $("pm-notice").hidden = true; window.partymap.live = true; });
    stream.addEventListener("error", () => {
      window.partymap.live = false;
      notice(T.connection_lost);
    });
    window.partymap.stream = stream;
  }
  function notice(text) {
    const box = $("pm-notice");
    box.textContent = text;
    box.hidden = false;
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
        notice(`${T["tiles_" + key]} ✕ → ${T.tiles_none}`);
        map.removeLayer(layer);
        map.addLayer(baseLayers.none);
      }
    });
  }

  /* ---- Start. ---- */

  function showLogin() {
    const form = $("pm-login");
    form.hidden = false;
    document.body.classList.add("pm-locked");
  }
  $("pm-login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = new URLSearchParams(new FormData(e.target));
    const response = await fetch(cfg.api + "/auth/token", { method: "POST", body, credentials: "same-origin" });
    if (!response.ok) {
      // Say why: a wrong password, or too many attempts (with how long to wait).
      const error = $("pm-login-error");
      const wait = response.headers.get("Retry-After");
      error.textContent = response.status === 429 && wait
        ? T.login_throttled.replace("{s}", wait)
        : T.login_failed;
      error.hidden = false;
      return;
    }
    e.target.hidden = true;
    document.body.classList.remove("pm-locked");
    start();
  });

  async function start() {
    const topLevel = source.tree(null); // asked for at once, alongside who is logged in
    topLevel.catch(() => {}); // a refusal is handled below, by the login form
    if (!staticData) {
      const me = await api("/auth/me");
      put("pm-user", el("span", {}, me.username),
        el("button", { onclick: async () => {
          await fetch(cfg.api + "/auth/logout", { method: "POST", credentials: "same-origin" });
          location.reload();
        } }, T.logout));
      connect();
    } else {
      put("pm-user", el("span", {}, `${T.static_export} · ${T.generated} ${fmtTime(staticData.generated, null, true)}`));
      $("pm-live").hidden = true;
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
  }

  window.partymap = { map, state, markers, wgs84ToGcj02, ll, selectOrg, selectMember, overviewLoaded: 0 };
  useBase(activeBase());
  start().catch((error) => console.warn(error));
}
