/* partymap dashboard: the big screen (大屏) of an activity centre's display.
 *
 * An admin sets a display up once from the dashboard (大屏): a read-only display token bound
 * to a subtree, kept in that browser, which then opens /map?screen. With the token the screen
 * needs no login: it fills the screen and rotates between the map, today's meetings with
 * their live attendance and the subtree's statistics with ECharts charts. ?rotate=N sets the
 * seconds per view (default 20).
 *
 * Live: the display's own stream (/display/stream, read with fetch since EventSource cannot
 * send the token) says what changed in its subtree, and the view shown redraws at once
 * (a burst of changes redraws once). While the stream is down — refused, revoked, the
 * network — the view is polled every 10 s and the stream tried again every 30 s.
 */
"use strict";

(window.partymapModules = window.partymapModules || []).push(function bigscreen(core) {
  const { kit, cfg } = core;
  const { T, $, el, put, fmtTime } = kit;
  if (core.staticData) return;
  const DISPLAY_KEY = "partymap_display";

  /* ---- In the dashboard: an admin sets a display up. ---- */
  if (!core.screen) {
    if (!core.me || core.me.role === "member") return;
    const dialog = el("dialog", { id: "pm-screen-dialog", "aria-labelledby": "pm-screen-title" });
    document.body.append(dialog);
    $("pm-tools").append(el("button", { id: "pm-open-screen", type: "button", onclick: setUp }, T.big_screen));
    async function setUp() {
      const orgs = await core.organisations();
      const name = el("input", { id: "pm-screen-name", required: true, maxlength: 100, value: T.screen_default_name });
      const org = el("select", { id: "pm-screen-org" }, orgs.map(([id, label]) => el("option", { value: id }, label)));
      const error = el("p", { class: "pm-form-error", role: "alert", hidden: true });
      put("pm-screen-dialog", el("form", { class: "pm-form", method: "dialog", onsubmit: async (e) => {
        e.preventDefault();
        try {
          const made = await kit.api("/display-tokens", { method: "POST", quiet: true,
            json: { name: name.value.trim(), org_id: Number(org.value) } });
          showToken(made);
        } catch (failure) {
          error.textContent = failure.message;
          error.hidden = false;
        }
      } },
        el("h2", { id: "pm-screen-title" }, T.big_screen),
        el("p", { class: "pm-sub-left" }, T.screen_explain),
        el("label", { class: "pm-field" }, el("span", {}, T.screen_name), name),
        el("label", { class: "pm-field" }, el("span", {}, T.organisation), org),
        error,
        el("div", { class: "pm-actions" },
          el("button", { type: "submit", class: "pm-primary" }, T.create_display),
          el("button", { type: "button", onclick: () => dialog.close() }, T.cancel))));
      dialog.showModal();
    }
    function showToken(made) {
      const url = `${location.pathname}?screen=1&lang=${cfg.language}`;
      put("pm-screen-dialog", el("div", { class: "pm-form" },
        el("h2", { id: "pm-screen-title" }, `${T.big_screen}: ${made.name}`),
        el("p", { class: "pm-sub-left" }, T.token_once),
        el("input", { id: "pm-screen-token", readonly: true, value: made.token, "aria-label": T.display_token }),
        el("div", { class: "pm-actions" },
          el("button", { id: "pm-screen-here", class: "pm-primary", onclick: () => {
            localStorage.setItem(DISPLAY_KEY, made.token);
            location.href = url;
          } }, T.open_screen_here),
          el("button", { type: "button", onclick: () => dialog.close() }, T.close))));
    }
    return;
  }

  /* ---- On the display. ---- */
  const overlay = el("section", { id: "pm-screen", "aria-live": "polite" });
  document.body.append(overlay);
  core.displaySetup = () => {
    kit.setToken(null);
    const token = el("input", { id: "pm-display-token", required: true, placeholder: "pmd_…", "aria-label": T.display_token });
    overlay.dataset.view = "setup";
    put("pm-screen", el("form", { id: "pm-display-setup", class: "pm-form pm-screen-card", onsubmit: (e) => {
      e.preventDefault();
      kit.setToken(token.value.trim());
      location.reload();
    } },
      el("h2", {}, T.big_screen), el("p", {}, T.screen_needs_token),
      el("label", { class: "pm-field" }, el("span", {}, T.display_token), token),
      el("div", { class: "pm-actions" }, el("button", { type: "submit", class: "pm-primary" }, T.save))));
  };
  if (!core.display) { core.displaySetup(); return; }

  const display = core.display;
  const rotateS = Math.max(3, Number(new URLSearchParams(location.search).get("rotate")) || 20);
  const VIEWS = ["map", "today", "stats"];
  let view = 0;
  let paused = false;
  let charts = [];
  const clock = el("span", { id: "pm-screen-clock" });
  put("pm-user", el("span", { id: "pm-screen-name" }, display.org_name || display.name), clock);
  const tick = () => { clock.textContent = fmtTime(new Date().toISOString(), display.tz); };
  tick();
  setInterval(tick, 10000);
  $("pm-tools").append(
    el("button", { id: "pm-screen-pause", type: "button", onclick: () => {
      paused = !paused;
      $("pm-screen-pause").textContent = paused ? "▶" : "⏸";
      $("pm-screen-pause").setAttribute("aria-label", paused ? T.play : T.pause);
    }, "aria-label": T.pause }, "⏸"),
    el("button", { id: "pm-screen-next", type: "button", "aria-label": T.next_view, onclick: () => show(view + 1) }, "⏭"),
    el("button", { id: "pm-screen-full", type: "button", onclick: () => {
      if (document.fullscreenElement) document.exitFullscreen();
      else document.documentElement.requestFullscreen().catch(() => {});
    } }, T.full_screen));

  async function show(n) {
    view = ((n % VIEWS.length) + VIEWS.length) % VIEWS.length;
    const name = VIEWS[view];
    overlay.dataset.view = name;
    document.body.dataset.view = name;
    if (name === "map") overlay.replaceChildren();
    if (name === "today") await today().catch(() => {});
    if (name === "stats") await stats().catch(() => {});
    window.partymap.screenView = name;
  }
  async function today() {
    const found = await kit.api("/display/meetings/today", { quiet: true });
    if (VIEWS[view] !== "today") return;
    const order = ["present", "late", "left_early", "pending", "excused", "absent"];
    put("pm-screen", el("div", { class: "pm-screen-card" },
      el("h2", {}, `${T.today_meetings} · ${found.date} ${kit.zoneName(found.tz)}`),
      found.meetings.length ? el("div", { class: "pm-screen-grid" }, found.meetings.map(({ meeting: m, counts, roll }) =>
        el("article", { class: "pm-screen-meeting", "data-meeting-id": m.id },
          el("h3", {}, el("span", { class: `pm-status pm-${m.status}` }, T[m.status]), " ", m.title || T[m.kind]),
          el("p", { class: "pm-sub-left" }, `${T[m.kind]} · ${m.org} · ${m.site || T.no_site} · `
            + `${fmtTime(m.start, m.tz, { zone: false })}–${fmtTime(m.end, m.tz)}`),
          el("div", { class: "pm-summary" }, order.filter((o) => counts[o]).map((o) =>
            el("span", { class: `pm-outcome pm-o-${o}`, "data-outcome": o }, `${T["outcome_" + o]} ${counts[o]}`))),
          el("ul", { class: "pm-screen-roll" }, roll.slice()
            .sort((a, b) => order.indexOf(a.outcome) - order.indexOf(b.outcome))
            .map((r) => el("li", { class: `pm-outcome pm-o-${r.outcome}`, "data-outcome": r.outcome }, r.name))))))
        : el("p", {}, T.no_meetings_today)));
  }
  async function stats() {
    const found = await kit.api("/display/stats", { quiet: true });
    if (VIEWS[view] !== "stats") return;
    const s = found.statistics;
    const a = s.total.attendance;
    const pct = (rate) => (rate === null ? "—" : `${Math.round(rate * 1000) / 10}%`);
    const figure = (label, value) => el("div", { class: "pm-figure" }, el("b", {}, value), el("span", {}, label));
    put("pm-screen", el("div", { class: "pm-screen-card" },
      el("h2", {}, `${T.statistics} · ${s.start} – ${s.end} · ${kit.zoneName(s.tz)}`),
      el("div", { class: "pm-figures" },
        figure(T.held_required, `${s.total.held}/${s.total.required}`), figure(T.compliance, pct(s.total.compliance)),
        figure(T.expected, a.expected), figure(T.attended, a.attended), figure(T.rate, pct(a.rate)),
        figure(T.alerts, found.alerts.total)),
      el("div", { class: "pm-screen-charts" },
        el("div", { class: "pm-chart", id: "pm-screen-orgs" }), el("div", { class: "pm-chart", id: "pm-screen-months" }))));
    charts.forEach((c) => c.dispose());
    charts = await partymapCharts(cfg, s, $("pm-screen-orgs"), $("pm-screen-months"));
  }
  setInterval(() => {
    if (!paused) show(view + 1);
  }, rotateS * 1000);

  /* ---- Live: redraw what changed; poll only while the stream is down. ---- */
  const REDRAWS = { // event type → the views it changes
    position: ["map"], presence: ["map", "today"], checkin: ["map", "today"],
    visit_ended: ["map", "today"], meeting: ["today", "stats"], alert: ["stats"],
  };
  const live = { open: false, events: 0 };
  window.partymap.screenLive = live;
  let redrawTimer = null;
  const pending = new Set();
  function redraw(views) {
    views.forEach((v) => pending.add(v));
    if (redrawTimer) return;
    redrawTimer = setTimeout(() => { // a burst of changes redraws once
      redrawTimer = null;
      const name = VIEWS[view];
      if (pending.has(name)) {
        if (name === "today") today().catch(() => {});
        if (name === "stats") stats().catch(() => {});
        if (name === "map") core.refreshMap();
      }
      pending.clear();
    }, 1500);
  }
  async function listen() {
    const response = await fetch(`${cfg.api}/display/stream`, {
      headers: { Authorization: `Bearer ${kit.token()}`, Accept: "text/event-stream" },
      cache: "no-store",
    });
    if (!response.ok || !response.body) throw new Error(`stream: ${response.status}`);
    live.open = true;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const message = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = message.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (!data) continue; // a comment: the stream's greeting or a keepalive
        const event = JSON.parse(data);
        if (event.type === "end") { reader.cancel().catch(() => {}); return; }
        live.events += 1;
        redraw(REDRAWS[event.type] || []);
      }
    }
  }
  async function stayLive() {
    for (;;) {
      try { await listen(); } catch { /* refused or cut: poll meanwhile */ }
      live.open = false;
      await new Promise((r) => setTimeout(r, 30000));
    }
  }
  // Today's attendance and the map's members move while they are shown.
  setInterval(() => {
    if (live.open) return;
    if (VIEWS[view] === "today") today().catch(() => {});
    if (VIEWS[view] === "map") core.refreshMap();
  }, 10000);
  stayLive();
  show(0);
});
