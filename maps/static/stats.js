/* partymap dashboard: the committee's view (考核) — statistics of a subtree over a date range
 * with Apache ECharts charts (attendance rate by organisation, the trend by month), the
 * ranking of branches and the exports; alerts as a badge, a list, and live from the stream;
 * each member's attendance history in their panel.
 *
 * ECharts is served from the package (static/vendor/echarts) and loaded the first time a chart
 * is drawn. Its SVG renderer keeps the charts' words in the page, readable and searchable.
 */
"use strict";

/** Apache ECharts, loaded once from the package (never a CDN). */
function partymapECharts(cfg) {
  if (window.echarts) return Promise.resolve(window.echarts);
  if (!partymapECharts.loading) {
    partymapECharts.loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = cfg.echarts;
      script.onload = () => resolve(window.echarts);
      script.onerror = () => {
        partymapECharts.loading = null;
        reject(new Error(cfg.labels.charts_failed));
      };
      document.head.append(script);
    });
  }
  return partymapECharts.loading;
}

/** The two charts of a statistics overview into ``byOrg`` and ``byMonth`` (elements). */
async function partymapCharts(cfg, overview, byOrg, byMonth) {
  const T = cfg.labels;
  const echarts = await partymapECharts(cfg);
  const pct = (rate) => (rate === null ? null : Math.round(rate * 1000) / 10);
  const text = { color: "#212121", fontFamily: getComputedStyle(document.body).fontFamily };
  const charts = [];
  const orgs = overview.children.length ? overview.children : [overview.total];
  const locale = cfg.language === "en" ? "EN" : "ZH";
  const rates = echarts.init(byOrg, null, { renderer: "svg", locale });
  rates.setOption({
    aria: { enabled: true },
    textStyle: text,
    title: { text: T.rate_by_org, left: 0, textStyle: { fontSize: 14, ...text } },
    tooltip: { trigger: "axis", valueFormatter: (v) => (v === null ? "—" : `${v}%`) },
    grid: { left: 8, right: 16, bottom: 8, top: 36, containLabel: true },
    xAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%", color: "#424242" } },
    yAxis: {
      type: "category", inverse: true,
      axisLabel: { color: "#212121", interval: 0, width: Math.max(90, byOrg.clientWidth * 0.4), overflow: "truncate" },
      data: orgs.map((o) => o.org_name),
    },
    series: [{
      type: "bar", name: T.rate, itemStyle: { color: "#b71c1c" },
      label: { show: true, position: "right", formatter: (p) => (p.value === null ? "—" : `${p.value}%`), color: "#212121" },
      data: orgs.map((o) => pct(o.attendance.rate)),
    }],
  });
  charts.push(rates);
  const trend = echarts.init(byMonth, null, { renderer: "svg", locale });
  trend.setOption({
    aria: { enabled: true },
    textStyle: text,
    title: { text: T.trend_by_month, left: 0, textStyle: { fontSize: 14, ...text } },
    tooltip: { trigger: "axis" },
    legend: { top: 26, left: 0, textStyle: text, data: [T.rate, T.held] },
    grid: { left: 8, right: 8, bottom: 8, top: 64, containLabel: true },
    xAxis: { type: "category", data: overview.months.map((m) => m.month), axisLabel: { color: "#424242" } },
    yAxis: [
      { type: "value", max: 100, axisLabel: { formatter: "{value}%", color: "#424242" } },
      { type: "value", minInterval: 1, axisLabel: { color: "#424242" } },
    ],
    series: [
      { type: "bar", name: T.held, yAxisIndex: 1, itemStyle: { color: "#90a4ae" },
        data: overview.months.map((m) => m.held) },
      { type: "line", name: T.rate, itemStyle: { color: "#b71c1c" }, connectNulls: true,
        label: { show: true, formatter: (p) => (p.value === null ? "" : `${p.value}%`), color: "#212121" },
        data: overview.months.map((m) => pct(m.attendance.rate)) },
    ],
  });
  charts.push(trend);
  return charts;
}

(window.partymapModules = window.partymapModules || []).push(function statistics(core) {
  const { kit, cfg } = core;
  const { T, $, el, put, fmtTime } = kit;
  if (core.staticData || core.screen || !core.me) return;
  const me = core.me;
  const admin = me.role !== "member";

  /* ---- A member's attendance history, in their panel (admins, and a member's own). ---- */
  document.addEventListener("partymap:member", async (e) => {
    const member = e.detail;
    if (!admin && member.member.member_id !== me.member_id) return;
    const box = el("div", { id: "pm-history" }, el("h3", {}, T.attendance_history));
    $("pm-member").append(box);
    let found;
    try {
      found = await kit.api(`/members/${member.member.member_id}/attendance?limit=20`, { quiet: true });
    } catch (error) {
      box.append(el("p", { class: "pm-more" }, `${T.request_failed}: ${error.message}`));
      return;
    }
    box.append(found.items.length ? el("ul", { class: "pm-list", id: "pm-history-list" }, found.items.map((h) =>
      el("li", { "data-meeting-id": h.meeting_id, onclick: () => core.selectMeeting && core.selectMeeting(h.meeting_id) },
        el("span", { class: `pm-outcome pm-o-${h.status}` }, T["outcome_" + h.status]),
        el("span", { class: "pm-name" }, h.title || T[h.kind]),
        h.corrected ? el("span", { class: "pm-badge pm-manual" }, T.evidence_manual) : null,
        el("span", { class: "pm-time" }, fmtTime(h.start, h.tz, { date: true })))))
      : el("p", { class: "pm-more" }, T.no_history));
  });
  if (!admin) return;

  /* ---- Statistics. ---- */
  const tab = $("pm-tabs").querySelector("[data-tab=stats]");
  tab.hidden = false;
  core.panels.stats = ["pm-stats"];
  core.tabOpened.stats = () => loadStats();
  // Dates are the reporting zone's: the first answer (this year so far) sets the inputs.
  const query = { from: null, to: null, org: null };
  const dayBefore = (day) => new Date(Date.parse(`${day}T12:00:00Z`) - 86400000).toISOString().slice(0, 10);
  let charts = [];
  const nextDay = (day) => new Date(Date.parse(`${day}T12:00:00Z`) + 86400000).toISOString().slice(0, 10);
  const pct = (rate) => (rate === null || rate === undefined ? "—" : `${Math.round(rate * 1000) / 10}%`);

  async function loadStats() {
    const orgs = await core.organisations();
    if (query.org === null) query.org = orgs[0][0];
    const params = `org_id=${query.org}` + (query.from ? `&start=${query.from}&end=${nextDay(query.to)}` : "");
    const [overview, ranking] = await Promise.all([
      kit.api(`/stats/overview?${params}`), kit.api(`/stats/ranking?${params}&limit=200`),
    ]);
    query.from = overview.start;
    query.to = dayBefore(overview.end);
    const t = overview.total;
    const a = t.attendance;
    const figure = (id, label, value) => el("div", { class: "pm-figure", "data-figure": id },
      el("b", {}, value), el("span", {}, label));
    const start = kit.zonedToIso(query.from, "00:00", overview.tz);
    const end = kit.zonedToIso(nextDay(query.to), "00:00", overview.tz);
    const files = `${cfg.api}/stats/attendance?org_id=${query.org}&start=${encodeURIComponent(start)}`
      + `&end=${encodeURIComponent(end)}&lang=${cfg.language}`;
    const workbook = `${cfg.api}/reports/period?org_id=${query.org}&start=${query.from}`
      + `&end=${nextDay(query.to)}&lang=${cfg.language}`;
    put("pm-stats",
      el("form", { id: "pm-stats-query", class: "pm-range", onsubmit: (e) => {
        e.preventDefault();
        query.org = Number($("pm-stats-org").value);
        query.from = $("pm-stats-from").value || query.from;
        query.to = $("pm-stats-to").value || query.to;
        loadStats();
      } },
        el("select", { id: "pm-stats-org", "aria-label": T.organisation }, orgs.map(([id, label]) =>
          el("option", { value: id, selected: id === query.org }, label))),
        el("label", {}, T.from, el("input", { type: "date", id: "pm-stats-from", value: query.from, required: true })),
        el("label", {}, T.to, el("input", { type: "date", id: "pm-stats-to", value: query.to, required: true })),
        el("button", { type: "submit" }, T.show)),
      el("p", { class: "pm-sub-left" }, `${overview.start} – ${query.to} · ${kit.zoneName(overview.tz)}`),
      el("div", { class: "pm-figures", id: "pm-stats-totals" },
        figure("held", T.held_required, `${t.held}/${t.required}`),
        figure("compliance", T.compliance, pct(t.compliance)),
        figure("expected", T.expected, a.expected),
        figure("attended", T.attended, a.attended),
        figure("excused", T.outcome_excused, a.excused),
        figure("absent", T.outcome_absent, a.absent),
        figure("late", T.outcome_late, a.late),
        figure("left_early", T.outcome_left_early, a.left_early),
        figure("rate", T.rate, pct(a.rate))),
      el("div", { class: "pm-actions" },
        el("a", { class: "pm-button", id: "pm-stats-xlsx", href: `${files}&format=xlsx`, download: "" }, T.export_stats),
        el("a", { class: "pm-button", id: "pm-stats-csv", href: `${files}&format=csv`, download: "" }, T.export_csv),
        el("a", { class: "pm-button", id: "pm-period-workbook", href: workbook, download: "" }, T.period_workbook)),
      el("div", { class: "pm-chart", id: "pm-chart-orgs", style: `height:${Math.max(160, 40 + 28 * Math.max(1, overview.children.length))}px` }),
      el("div", { class: "pm-chart", id: "pm-chart-months" }),
      el("h3", {}, `${T.ranking} (${ranking.items.length})`),
      el("div", { class: "pm-table-box" }, el("table", { id: "pm-ranking", class: "pm-table" },
        el("thead", {}, el("tr", {}, [T.rank, T.ranked_branch, T.rate, T.held_required, T.compliance].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, ranking.items.map((r) => el("tr", {
          "data-org-id": r.org_id, onclick: () => core.selectOrg(r.org_id),
        },
          el("td", {}, r.rank), el("th", { scope: "row" }, r.org_name), el("td", {}, pct(r.attendance.rate)),
          el("td", { title: r.by_kind.map((k) => `${T[k.kind]} ${k.held}/${k.required}`).join(" · ") }, `${r.held}/${r.required}`),
          el("td", {}, pct(r.compliance))))))));
    charts.forEach((c) => c.dispose());
    charts = [];
    try {
      charts = await partymapCharts(cfg, overview, $("pm-chart-orgs"), $("pm-chart-months"));
      window.partymap.charts = charts.length;
    } catch (error) {
      kit.notice(error.message, "error");
    }
  }
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
  document.addEventListener("partymap:panel", (e) => {
    if (e.detail.tab === "stats") setTimeout(() => charts.forEach((c) => c.resize()), 250);
  });

  /* ---- Alerts: a badge, a list, and new ones from the live stream. ---- */
  const alertsTab = $("pm-tabs").querySelector("[data-tab=alerts]");
  alertsTab.hidden = false;
  core.panels.alerts = ["pm-alerts"];
  core.tabOpened.alerts = () => loadAlerts();
  const badge = el("button", { id: "pm-alert-badge", type: "button", "aria-label": T.alerts,
    onclick: () => core.selectTab("alerts") }, T.alerts, " ", el("span", { class: "pm-count-badge", id: "pm-alert-count" }));
  $("pm-tools").prepend(badge);
  let total = 0;
  function showCount(n) {
    total = n;
    $("pm-alert-count").textContent = n ? String(n) : "";
    alertsTab.querySelector(".pm-count-badge").textContent = n ? String(n) : "";
  }
  async function loadCounts() {
    const found = await kit.api("/alerts/counts", { quiet: true });
    showCount(found.total);
  }
  function alertText(a) {
    if (a.kind === "overdue") {
      return T.alert_overdue.replace("{org}", a.org_name).replace("{kind}", T[a.meeting_kind])
        .replace("{from}", a.period_start).replace("{to}", a.period_end)
        .replace("{held}", a.held).replace("{required}", a.required);
    }
    if (a.kind === "absent_streak") {
      return T.alert_absent_streak.replace("{member}", a.member_name).replace("{n}", a.absent_run)
        .replace("{org}", a.org_name);
    }
    return T.alert_low_attendance.replace("{org}", a.org_name).replace("{rate}", pct(a.rate));
  }
  async function loadAlerts() {
    const found = await kit.api("/alerts?limit=200");
    if (!found.next_offset) showCount(found.items.length);
    put("pm-alerts",
      el("h2", {}, T.alerts, el("small", {}, String(found.items.length))),
      found.items.length ? el("ul", { class: "pm-list", id: "pm-alert-list" }, found.items.map((a) => el("li", {
        "data-kind": a.kind, "data-org-id": a.org_id,
        onclick: () => (a.meeting_id && core.selectMeeting ? core.selectMeeting(a.meeting_id)
          : a.member_id ? core.selectMember(a.member_id) : core.selectOrg(a.org_id)),
      },
        el("span", { class: `pm-alert-kind pm-alert-${a.kind}` }, T[`alert_kind_${a.kind}`]),
        el("span", { class: "pm-stack" }, el("span", {}, alertText(a)),
          a.start ? el("span", { class: "pm-note" }, fmtTime(a.start, null, { date: true })) : null))))
        : el("p", {}, T.no_alerts));
  }
  let recount = null;
  core.onEvent("alert", (event) => {
    showCount(total + 1); // at once; the API's count follows (alerts of one kind may merge)
    clearTimeout(recount);
    recount = setTimeout(() => loadCounts().catch(() => {}), 1000);
    core.feedNote("alert", event.time, null, `${T.alerts}: ${T[`alert_kind_${event.alert}`] || event.alert}`);
    if (!$("pm-tab-alerts").hidden) loadAlerts().catch(() => {});
  });
  // The badge after the map: a whole tree's alerts take a moment to count.
  document.addEventListener("partymap:ready", () => loadCounts().catch(() => {}), { once: true });
});
