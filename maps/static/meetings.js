/* partymap dashboard: the 三会一课 tab — meetings of the caller's organisations and each
 * meeting's attendance as it unfolds (未到 while it runs, 缺席 once it is over).
 *
 * Every time is shown in the meeting site's own zone, with the zone named.
 */
"use strict";

(window.partymapModules = window.partymapModules || []).push(function meetings(core) {
  const { kit, source, state } = core;
  const { T, $, el, put, fmtTime } = kit;
  const data = core.staticData;
  const load = data ? {
    meetings: async () => data.meetings,
    meeting: async (id) => data.meeting[id],
  } : {
    meetings: () => kit.api("/map/meetings"),
    meeting: (id, quiet) => kit.api(`/map/meetings/${id}`, { quiet }),
  };
  core.panels.meetings = ["pm-meetings", "pm-meeting"];
  core.tabOpened.meetings = loadMeetings;
  const ORDER = ["present", "late", "arriving", "left_early", "pending", "excused", "absent"];

  function when(m) {
    return `${fmtTime(m.start, m.tz, { date: true, zone: false })}–${fmtTime(m.end, m.tz)}`;
  }
  async function loadMeetings() {
    const found = await load.meetings();
    state.meetings = found;
    const items = found.meetings.map((m) => el("li", {
      "data-meeting-id": m.id, onclick: () => selectMeeting(m.id),
    },
      el("span", { class: `pm-status pm-${m.status}` }, T[m.status]),
      el("span", { class: "pm-name" }, m.title || T[m.kind]),
      el("span", { class: "pm-sub" }, `${T[m.kind]} · ${m.org} · ${fmtTime(m.start, m.tz, { date: true })}`)));
    put("pm-meetings", items.length
      ? el("ul", { class: "pm-list" }, items) : el("p", {}, T.no_meetings));
  }
  async function selectMeeting(id, quiet) {
    const found = await load.meeting(id, quiet);
    state.meeting = found;
    const m = found.meeting;
    if (!quiet) {
      core.showPanel("meetings", "pm-meeting");
      if (m.lon !== null && m.lon !== undefined) {
        core.whenStill(() => core.map.setView(core.ll(m.lon, m.lat), Math.max(core.map.getZoom(), 17)));
      }
    }
    const roll = found.roll.slice().sort((a, b) => ORDER.indexOf(a.outcome) - ORDER.indexOf(b.outcome));
    put("pm-meeting",
      el("button", { class: "pm-back", onclick: () => core.showPanel("meetings", "pm-meetings") }, `‹ ${T.back}`),
      el("h2", {}, m.title || T[m.kind], el("small", {}, `${T[m.kind]} · ${m.org}`)),
      el("p", { class: "pm-sub pm-when" }, `${m.site || T.no_site} · ${when(m)} · `,
        el("span", { class: `pm-status pm-${m.status}` }, T[m.status])),
      el("h3", {}, T.attendance),
      el("div", { class: "pm-summary", id: "pm-attendance-counts" }, ORDER.filter((o) => found.counts[o])
        .map((o) => el("span", { class: `pm-outcome pm-o-${o}`, "data-outcome": o }, `${T["outcome_" + o]} ${found.counts[o]}`))),
      el("ul", { id: "pm-roll", class: "pm-list" }, roll.map((r) => el("li", {
        "data-member-id": r.member_id, "data-outcome": r.outcome,
        onclick: () => core.selectMember(r.member_id),
      },
        el("span", { class: `pm-outcome pm-o-${r.outcome}` }, T["outcome_" + r.outcome]),
        el("span", { class: "pm-name" }, r.name),
        el("span", { class: "pm-time" }, fmtTime(r.first_checkin, m.tz, { seconds: true }))))));
  }
  let timer = null;
  function refreshSoon() {
    if (!state.meeting || $("pm-meeting").hidden) return;
    clearTimeout(timer);
    timer = setTimeout(() => selectMeeting(state.meeting.meeting.id, true).catch(() => {}), 400);
  }
  for (const type of ["presence", "checkin", "visit_ended"]) core.onEvent(type, refreshSoon);
  core.selectMeeting = selectMeeting;
  window.partymap.selectMeeting = selectMeeting;
});
