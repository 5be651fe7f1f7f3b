/* partymap dashboard: the 三会一课 tab — from plan to record.
 *
 * The list is the meeting history and schedule over a date range (/api/v1/meetings), with the
 * leave requests awaiting a decision. One meeting shows its attendance as it unfolds (未到 while
 * it runs, 缺席 at the end, then recorded), from the map API's panel (/map/meetings/{id}),
 * refreshed by the live stream. A secretary schedules, edits and cancels meetings and
 * recurring plans, records leave and decides requests, corrects a member after the meeting
 * (补签, with a reason) and downloads the attendance as CSV or XLSX; a member asks for leave.
 *
 * Every time is shown in the meeting's own zone, named; times typed into the forms are read in
 * that zone by the API (local times without an offset).
 */
"use strict";

(window.partymapModules = window.partymapModules || []).push(function meetings(core) {
  const { kit, state } = core;
  const { T, $, el, put, fmtTime } = kit;
  const data = core.staticData;
  if (core.screen) return;
  const admin = Boolean(core.me && core.me.role !== "member");
  const KINDS = ["BRANCH_GENERAL_MEETING", "BRANCH_COMMITTEE_MEETING", "GROUP_MEETING",
    "PARTY_LECTURE", "THEMED_PARTY_DAY"];
  const ORDER = ["present", "late", "arriving", "left_early", "pending", "excused", "absent"];
  const CORRECTABLE = ["present", "late", "left_early", "absent", "excused"];
  const OPEN = new Set(["upcoming", "in_progress"]);
  const FINISHED = new Set(["ended", "recorded"]);
  core.panels.meetings = ["pm-meetings", "pm-meeting", "pm-form"];
  core.tabOpened.meetings = loadMeetings;
  const range = { from: null, to: null };

  /* ---- The list: a date range of meetings, and leave awaiting a decision. ---- */
  function defaultRange() {
    const day = 86400000;
    const today = kit.today();
    const shift = (n) => new Date(Date.parse(`${today}T12:00:00Z`) + n * day).toISOString().slice(0, 10);
    return { from: shift(-7), to: shift(30) };
  }
  /** A meeting from either source as the list shows it. */
  function brief(m) {
    return { ...m, org: m.org || m.org_name, site: m.site === undefined ? m.site_name : m.site };
  }
  async function fetchList() {
    if (data) return data.meetings.meetings.map(brief);
    if (!range.from) Object.assign(range, defaultRange());
    const start = kit.zonedToIso(range.from, "00:00", kit.browserZone);
    const end = kit.zonedToIso(range.to, "23:59", kit.browserZone);
    const found = await kit.api(`/meetings?start=${encodeURIComponent(start)}`
      + `&end=${encodeURIComponent(end)}&order=asc&limit=200`);
    return found.items.map(brief);
  }
  async function loadMeetings() {
    const list = await fetchList();
    state.meetings = list;
    const items = list.map((m) => el("li", {
      "data-meeting-id": m.id, "data-status": m.status, onclick: () => selectMeeting(m.id),
    },
      el("span", { class: `pm-status pm-${m.status}` }, T[m.status]),
      el("span", { class: "pm-name" }, m.title || T[m.kind]),
      el("span", { class: "pm-sub" }, `${T[m.kind]} · ${m.org} · ${fmtTime(m.start, m.tz, { date: true })}`,
        m.summary && m.summary.rate !== null ? ` · ${T.rate} ${percent(m.summary.rate)}` : null)));
    put("pm-meetings",
      admin && !data ? el("div", { class: "pm-actions" },
        el("button", { id: "pm-new-meeting", class: "pm-primary", onclick: () => meetingForm(null) }, `＋ ${T.schedule}`),
        el("button", { id: "pm-open-plans", onclick: showPlans }, T.plans)) : null,
      data ? null : el("form", { id: "pm-range", class: "pm-range", onsubmit: (e) => {
        e.preventDefault();
        range.from = $("pm-range-from").value || range.from;
        range.to = $("pm-range-to").value || range.to;
        loadMeetings();
      } },
        el("label", {}, T.from, el("input", { type: "date", id: "pm-range-from", value: range.from, required: true })),
        el("label", {}, T.to, el("input", { type: "date", id: "pm-range-to", value: range.to, required: true })),
        el("button", { type: "submit" }, T.show)),
      items.length ? el("ul", { class: "pm-list", id: "pm-meeting-list" }, items) : el("p", {}, T.no_meetings),
      el("div", { id: "pm-requests" }),
      el("div", { id: "pm-phones" }));
    if (admin && !data) { loadRequests(); loadPhones(); }
  }
  /* New phones waiting for the secretary: a member's first phone is bound by itself, another
   * one only once approved here (the old one is then retired). */
  async function loadPhones() {
    const found = await kit.api("/phones?pending=true&limit=100", { quiet: true });
    if (!found.items.length) { put("pm-phones"); return; }
    put("pm-phones",
      el("h3", {}, `${T.phones_pending} (${found.items.length})`),
      el("ul", { class: "pm-list pm-requests" }, found.items.map((p) => el("li", { "data-device-id": p.device_id },
        el("div", { class: "pm-stack" },
          el("span", { class: "pm-name" }, p.member_name || `#${p.member_id}`),
          el("span", { class: "pm-sub-left" }, fmtTime(p.created_at, null, { date: true }))),
        el("button", { class: "pm-approve-phone", onclick: async () => {
          await kit.api(`/phones/${p.device_id}/approve`, { method: "POST" });
          kit.notice(T.phone_approved);
          loadPhones();
        } }, T.approve)))));
  }
  async function loadRequests() {
    const found = await kit.api("/leave?status=requested&limit=100", { quiet: true });
    if (!found.items.length) { put("pm-requests"); return; }
    put("pm-requests",
      el("h3", {}, `${T.leave_requests} (${found.items.length})`),
      el("ul", { class: "pm-list pm-requests" }, found.items.map((r) => el("li", {
        "data-meeting-id": r.meeting_id, "data-member-id": r.member_id,
      },
        el("div", { class: "pm-stack" },
          el("span", { class: "pm-name" }, r.member_name),
          el("span", { class: "pm-sub-left" },
            `${r.meeting_title || T[r.meeting_kind]} · ${fmtTime(r.meeting_start, r.meeting_tz, { date: true })}`),
          el("span", { class: "pm-reason" }, `${T.reason}: ${r.reason}`)),
        el("button", { class: "pm-approve", onclick: () => decide(r, true) }, T.approve),
        el("button", { class: "pm-refuse", onclick: () => decide(r, false) }, T.refuse)))));
  }
  async function decide(request, approve) {
    await kit.api(`/meetings/${request.meeting_id}/leave/${request.member_id}/decision`,
      { method: "POST", json: { approve } });
    kit.notice(approve ? T.leave_approved : T.leave_refused);
    loadMeetings();
  }

  /* ---- One meeting: attendance as it stands, what a secretary does with it. ---- */
  const load = data ? { meeting: async (id) => data.meeting[id] }
    : { meeting: (id, quiet) => kit.api(`/map/meetings/${id}`, { quiet }) };
  function percent(rate) {
    return `${Math.round(rate * 1000) / 10}%`;
  }
  function when(m) {
    return `${fmtTime(m.start, m.tz, { date: true, zone: false })}–${fmtTime(m.end, m.tz)}`;
  }
  async function selectMeeting(id, quiet) {
    const found = await load.meeting(id, quiet);
    state.meeting = found;
    const m = found.meeting;
    if (!quiet) {
      core.showPanel("meetings", "pm-meeting");
      if (m.lon !== null && m.lon !== undefined) {
        core.whenStill(() => core.focus(core.ll(m.lon, m.lat), Math.max(core.map.getZoom(), 17)));
      }
    }
    renderMeeting(found);
    watchTheEnd(m);
  }
  function renderMeeting(found) {
    const m = found.meeting;
    const roll = found.roll.slice().sort((a, b) => ORDER.indexOf(a.outcome) - ORDER.indexOf(b.outcome));
    const s = found.summary;
    const files = (format) => `${core.cfg.api}/meetings/${m.id}/attendance?format=${format}&lang=${core.cfg.language}`;
    put("pm-meeting",
      el("button", { class: "pm-back", onclick: () => { core.showPanel("meetings", "pm-meetings"); loadMeetings(); } },
        `‹ ${T.back}`),
      el("h2", {}, m.title || T[m.kind], el("small", {}, `${T[m.kind]} · ${m.org}`)),
      el("p", { class: "pm-sub-left pm-when" }, `${m.site || T.no_site} · ${when(m)} · `,
        el("span", { class: `pm-status pm-${m.status}`, id: "pm-meeting-status" }, T[m.status])),
      m.topic ? el("p", { class: "pm-topic" }, `${T.topic}: ${m.topic}`) : null,
      m.host || m.recorder ? el("p", { class: "pm-sub-left" },
        m.host ? `${T.host}: ${m.host}` : null, m.host && m.recorder ? " · " : null,
        m.recorder ? `${T.recorder}: ${m.recorder}` : null) : null,
      m.status === "cancelled" ? el("p", { class: "pm-cancelled" }, `${T.cancelled}: ${m.cancel_reason || ""}`) : null,
      m.recorded_at ? el("p", { class: "pm-recorded", id: "pm-recorded" },
        `${T.recorded_at} ${fmtTime(m.recorded_at, m.tz, { date: true })}`) : null,
      data ? null : el("div", { class: "pm-actions", id: "pm-meeting-actions" },
        admin && OPEN.has(m.status) ? [
          el("button", { id: "pm-edit-meeting", onclick: () => meetingForm(m) }, T.edit),
          el("button", { id: "pm-record-leave", onclick: () => leaveForm(found) }, T.record_leave),
          el("button", { id: "pm-cancel-meeting", onclick: () => cancelForm(m) }, T.cancel_meeting),
          m.site ? el("button", { id: "pm-show-code", onclick: () => showCode(m) }, T.checkin_code) : null,
        ] : null,
        !admin && m.status === "upcoming" ? el("button", { id: "pm-ask-leave", onclick: () => leaveForm(found) },
          T.ask_leave) : null,
        admin && m.status !== "cancelled" ? [
          el("a", { class: "pm-button", id: "pm-export-csv", href: files("csv"), download: "" }, T.export_csv),
          el("a", { class: "pm-button", id: "pm-export-xlsx", href: files("xlsx"), download: "" }, T.export_xlsx),
        ] : null),
      el("h3", {}, m.status === "recorded" ? T.attendance_recorded : T.attendance),
      el("div", { class: "pm-summary", id: "pm-attendance-counts" }, ORDER.filter((o) => found.counts[o])
        .map((o) => el("span", { class: `pm-outcome pm-o-${o}`, "data-outcome": o }, `${T["outcome_" + o]} ${found.counts[o]}`))),
      // While the meeting runs, those not there yet are 未到, not yet 缺席.
      s ? el("p", { class: "pm-sub-left", id: "pm-attendance-summary" },
        `${T.expected} ${s.expected} · ${T.attended} ${s.attended} · ${T.outcome_excused} ${s.excused}`
        + ` · ${OPEN.has(m.status) ? T.outcome_pending : T.outcome_absent} ${s.absent}`
        + (s.rate === null ? "" : ` · ${T.rate} ${percent(s.rate)}`)) : null,
      el("ul", { id: "pm-roll", class: "pm-list" }, roll.map((r) => rollRow(m, r))));
  }
  function rollRow(m, r) {
    const notes = [];
    if (r.leave && r.leave.status !== "withdrawn") {
      notes.push(`${T["leave_status_" + r.leave.status]}: ${r.leave.reason}`);
    }
    if (r.correction) {
      notes.push(`${T.correction}: ${T["outcome_" + r.correction.old]} → ${T["outcome_" + r.correction.new]}`
        + ` · ${r.correction.reason} (${r.correction.by})`);
    }
    const correctable = admin && !data && FINISHED.has(m.status);
    return el("li", { "data-member-id": r.member_id, "data-outcome": r.outcome,
      onclick: () => core.selectMember(r.member_id) },
      el("span", { class: `pm-outcome pm-o-${r.outcome}` }, T["outcome_" + r.outcome]),
      el("div", { class: "pm-stack" },
        el("span", { class: "pm-name" }, r.name),
        notes.map((n) => el("span", { class: "pm-note" }, n))),
      r.evidence ? el("span", { class: `pm-badge pm-evidence-${r.evidence}${r.evidence === "manual" ? " pm-manual" : ""}`,
        "data-evidence": r.evidence }, T["evidence_" + r.evidence]) : null,
      el("span", { class: "pm-time" }, fmtTime(r.first_checkin, m.tz, { seconds: true })),
      correctable ? el("button", { class: "pm-correct", "aria-label": `${T.correct} ${r.name}`,
        onclick: (e) => { e.stopPropagation(); correctionForm(m, r); } }, T.correct) : null);
  }

  /* The meeting's rotating check-in code, full screen for the door or a projector: a new image
   * every 30 s (a code is good for its 30 s and the next); members scan it with their phones. */
  let codeTimer = null;
  function showCode(m) {
    const image = el("img", { id: "pm-qr-image", alt: T.checkin_code, width: 320, height: 320 });
    const note = el("p", { class: "pm-qr-note" }, T.checkin_code_note);
    // A screen that slept (a tablet, a hidden tab) may have run its timer late: a fresh code
    // as soon as it is seen again.
    const awake = () => { if (!document.hidden) { clearTimeout(codeTimer); refresh(); } };
    const close = () => {
      clearTimeout(codeTimer);
      document.removeEventListener("visibilitychange", awake);
      box.remove();
    };
    const box = el("div", { class: "pm-qr-overlay", id: "pm-qr", role: "dialog", "aria-label": T.checkin_code },
      el("h2", {}, `${T.checkin_code} · ${m.title || T[m.kind]}`), image, note,
      el("button", { id: "pm-qr-close", onclick: close }, T.close));
    document.body.append(box);
    const refresh = async () => {
      try {
        const shown = await kit.api(`/meetings/${m.id}/qr`, { quiet: true });
        image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(shown.svg)}`;
        image.dataset.step = shown.step;
        codeTimer = setTimeout(refresh, Math.max(500, shown.refresh_s * 1000));
      } catch (error) {
        note.textContent = error.message;
      }
    };
    document.addEventListener("visibilitychange", awake);
    refresh();
  }

  /* The end of a meeting: 未到 turns to 缺席 at once, and the record follows its grace time. */
  let endTimer = null;
  function watchTheEnd(m) {
    clearTimeout(endTimer);
    if (data || !OPEN.has(m.status) && m.status !== "ended") return;
    const wait = m.status === "ended" ? 20000 : Math.max(1000, Date.parse(m.end) - Date.now() + 1000);
    endTimer = setTimeout(() => {
      if (state.meeting && state.meeting.meeting.id === m.id && !$("pm-meeting").hidden) {
        selectMeeting(m.id, true).catch(() => {});
      }
    }, Math.min(wait, 2 ** 31 - 1));
  }
  let timer = null;
  function refreshSoon() {
    if (!state.meeting || $("pm-meeting").hidden) return;
    clearTimeout(timer);
    timer = setTimeout(() => selectMeeting(state.meeting.meeting.id, true).catch(() => {}), 400);
  }
  for (const type of ["presence", "checkin", "visit_ended"]) core.onEvent(type, refreshSoon);
  // The meeting task tells when a meeting starts, ends and is recorded.
  core.onEvent("meeting", (event) => {
    const title = event.title || T[event.kind];
    core.feedNote("meeting", event.time || (event.state === "started" ? event.start : event.end), event.tz,
      `${T[`meeting_${event.state}`] || event.state}: ${title}`);
    if (state.meeting && state.meeting.meeting.id === event.meeting_id && !$("pm-meeting").hidden) {
      selectMeeting(event.meeting_id, true).catch(() => {});
    } else if (!$("pm-meetings").hidden && !$("pm-tab-meetings").hidden) {
      loadMeetings().catch(() => {});
    }
  });

  /* ---- Forms. ---- */
  function field(label, input, hint) {
    return el("label", { class: "pm-field" }, el("span", {}, label), input,
      hint ? el("small", { class: "pm-hint" }, hint) : null);
  }
  function select(id, options, value, extra) {
    return el("select", { id, name: id, ...(extra || {}) }, options.map(([v, text]) =>
      el("option", { value: v, selected: String(v) === String(value) }, text)));
  }
  /** A form in the tab's form panel; ``submit`` returns a promise, its failure is shown in
   * the form with the API's reason. */
  function showForm(id, title, body, submit, back) {
    const error = el("p", { class: "pm-form-error", role: "alert", hidden: true });
    const button = el("button", { type: "submit", class: "pm-primary" }, T.save);
    const form = el("form", { id, class: "pm-form", novalidate: false, onsubmit: async (e) => {
      e.preventDefault();
      error.hidden = true;
      button.disabled = true;
      try {
        await submit(form);
      } catch (failure) {
        error.textContent = failure.message;
        error.hidden = false;
      } finally {
        button.disabled = false;
      }
    } },
      el("h2", {}, title), body, error,
      el("div", { class: "pm-actions" }, button,
        el("button", { type: "button", onclick: back }, T.cancel)));
    put("pm-form", form);
    core.showPanel("meetings", "pm-form");
    const first = form.querySelector("input, select, textarea");
    if (first && !core.phone.matches) first.focus();
    return form;
  }
  const quiet = { quiet: true };

  const organisations = core.organisations;
  /** Sites where an organisation meets: its own subtree's and its parent's. */
  async function sitesFor(org) {
    const ids = [org.id];
    if (org.parent_id) ids.push(org.parent_id);
    const seen = new Map();
    for (const id of ids) {
      try {
        const found = await kit.api(`/sites?org_id=${id}&limit=200`, quiet);
        for (const f of found.features) seen.set(f.id, { id: f.id, name: f.properties.name, tz: f.properties.tz });
      } catch (error) { /* the parent may lie outside the caller's scope */ }
    }
    return [...seen.values()];
  }
  async function membersOf(orgId) {
    const found = await kit.api(`/members?org_id=${orgId}&active=true&limit=1000`, quiet);
    return found.items;
  }
  function zoneOptions() {
    return [["", T.default_zone], ...Object.keys(T).filter((k) => k.startsWith("tz:") && k !== "tz:Etc/UTC")
      .map((k) => [k.slice(3), `${k.slice(3)} (${T[k]})`])];
  }

  /** Schedule (``meeting`` null) or edit a meeting. */
  async function meetingForm(meeting) {
    const orgs = await organisations();
    const chosenOrg = meeting ? meeting.org_id
      : (state.org && orgs.some(([id]) => id === state.org.org.id) ? state.org.org.id
        : (core.me.org_id && orgs.some(([id]) => id === core.me.org_id) ? core.me.org_id : orgs[0][0]));
    const local = meeting ? { start: kit.localInputs(meeting.start, meeting.tz), end: kit.localInputs(meeting.end, meeting.tz) } : null;
    const inputs = {
      kind: select("pm-f-kind", KINDS.map((k) => [k, T[k]]), meeting ? meeting.kind : "BRANCH_COMMITTEE_MEETING"),
      org: select("pm-f-org", orgs.map(([id, label]) => [id, label]), chosenOrg, { disabled: Boolean(meeting) }),
      site: el("select", { id: "pm-f-site" }),
      tz: select("pm-f-tz", zoneOptions(), ""),
      date: el("input", { type: "date", id: "pm-f-date", required: true,
        value: local ? local.start.date : kit.today() }),
      start: el("input", { type: "time", id: "pm-f-start", required: true, value: local ? local.start.time : "15:00" }),
      end: el("input", { type: "time", id: "pm-f-end", required: true, value: local ? local.end.time : "16:30" }),
      title: el("input", { id: "pm-f-title", maxlength: 200, value: meeting ? meeting.title : "" }),
      topic: el("textarea", { id: "pm-f-topic", maxlength: 2000, rows: 2 }, meeting ? meeting.topic || "" : ""),
      host: el("select", { id: "pm-f-host" }),
      recorder: el("select", { id: "pm-f-recorder" }),
    };
    const zone = el("span", { class: "pm-zone", id: "pm-f-zone" });
    const tzField = field(T.time_zone, inputs.tz);
    let sites = [];
    function showZone() {
      const site = sites.find((x) => String(x.id) === inputs.site.value);
      tzField.hidden = Boolean(site);
      zone.textContent = site ? kit.zoneName(site.tz) : (inputs.tz.value ? kit.zoneName(inputs.tz.value) : T.default_zone);
    }
    async function fillForOrg() {
      const org = orgs.find(([id]) => String(id) === inputs.org.value)[2];
      sites = await sitesFor(org);
      const people = await membersOf(org.id);
      inputs.site.replaceChildren(...[["", T.no_site], ...sites.map((x) => [x.id, x.name])].map(([v, text]) =>
        el("option", { value: v }, text)));
      const siteId = meeting ? meeting.site_id : (sites.length ? sites[0].id : "");
      inputs.site.value = siteId === null ? "" : String(siteId);
      for (const [key, chosen] of [["host", meeting && meeting.host_member_id], ["recorder", meeting && meeting.recorder_member_id]]) {
        inputs[key].replaceChildren(...[["", "—"], ...people.map((p) => [p.id, p.name])].map(([v, text]) =>
          el("option", { value: v }, text)));
        inputs[key].value = chosen ? String(chosen) : "";
      }
      showZone();
    }
    inputs.org.addEventListener("change", fillForOrg);
    inputs.site.addEventListener("change", showZone);
    inputs.tz.addEventListener("change", showZone);
    const deleting = meeting && meeting.status === "upcoming" ? el("button", {
      type: "button", class: "pm-danger", id: "pm-delete-meeting", onclick: async (e) => {
        if (e.target.dataset.confirm !== "1") {
          e.target.dataset.confirm = "1";
          e.target.textContent = T.confirm_delete;
          return;
        }
        await kit.api(`/meetings/${meeting.id}`, { method: "DELETE" });
        kit.notice(T.meeting_deleted);
        core.showPanel("meetings", "pm-meetings");
        loadMeetings();
      },
    }, T.delete_meeting) : null;
    showForm("pm-meeting-form", meeting ? T.edit_meeting : T.schedule, [
      field(T.kind, inputs.kind), field(T.organisation, inputs.org), field(T.site, inputs.site), tzField,
      field(T.date, inputs.date),
      el("div", { class: "pm-field-row" }, field(T.start, inputs.start), field(T.end, inputs.end), zone),
      field(T.title_field, inputs.title), field(T.topic, inputs.topic),
      el("div", { class: "pm-field-row" }, field(T.host, inputs.host), field(T.recorder, inputs.recorder)),
      deleting,
    ], async () => {
      const body = {
        kind: inputs.kind.value,
        site_id: inputs.site.value ? Number(inputs.site.value) : null,
        title: inputs.title.value.trim(),
        topic: inputs.topic.value.trim(),
        start: `${inputs.date.value}T${inputs.start.value}:00`,
        end: `${inputs.date.value}T${inputs.end.value}:00`,
        host_member_id: inputs.host.value ? Number(inputs.host.value) : null,
        recorder_member_id: inputs.recorder.value ? Number(inputs.recorder.value) : null,
      };
      if (!body.site_id && inputs.tz.value) body.tz = inputs.tz.value;
      let saved;
      if (meeting) {
        const before = {
          kind: meeting.kind, site_id: meeting.site_id, title: meeting.title, topic: meeting.topic || "",
          start: `${local.start.date}T${local.start.time}:00`, end: `${local.end.date}T${local.end.time}:00`,
          host_member_id: meeting.host_member_id, recorder_member_id: meeting.recorder_member_id,
        };
        const changed = Object.fromEntries(Object.entries(body).filter(([k, v]) => before[k] !== v));
        saved = await kit.api(`/meetings/${meeting.id}`, { method: "PATCH", json: changed, quiet: true });
      } else {
        saved = await kit.api("/meetings", { method: "POST", json: { org_id: Number(inputs.org.value), ...body }, quiet: true });
      }
      kit.notice(meeting ? T.meeting_saved : T.meeting_scheduled);
      range.from = null;
      Object.assign(range, widen(saved));
      await selectMeeting(saved.id);
    }, () => (meeting ? core.showPanel("meetings", "pm-meeting") : core.showPanel("meetings", "pm-meetings")));
    await fillForOrg();
  }
  /** The list's range, widened to show ``meeting``. */
  function widen(meeting) {
    const day = kit.localInputs(meeting.start, kit.browserZone).date;
    const current = range.from ? { ...range } : defaultRange();
    return { from: day < current.from ? day : current.from, to: day > current.to ? day : current.to };
  }

  function cancelForm(m) {
    const reason = el("textarea", { id: "pm-f-reason", required: true, maxlength: 500, rows: 2 });
    showForm("pm-cancel-form", `${T.cancel_meeting}: ${m.title || T[m.kind]}`, [field(T.reason, reason)], async () => {
      await kit.api(`/meetings/${m.id}/cancel`, { method: "POST", json: { reason: reason.value.trim() }, quiet: true });
      kit.notice(T.meeting_cancelled);
      await selectMeeting(m.id);
    }, () => core.showPanel("meetings", "pm-meeting"));
  }

  /** A secretary records a member's leave (approved at once); a member asks for their own. */
  function leaveForm(found) {
    const m = found.meeting;
    // Anyone on the roll without leave already (before the meeting nobody's status is final).
    const who = admin ? select("pm-f-member", found.roll
      .filter((r) => !(r.leave && ["approved", "requested"].includes(r.leave.status)))
      .map((r) => [r.member_id, r.name]), "") : null;
    const reason = el("textarea", { id: "pm-f-reason", required: true, maxlength: 500, rows: 2 });
    showForm("pm-leave-form", `${admin ? T.record_leave : T.ask_leave}: ${m.title || T[m.kind]}`, [
      who ? field(T.member, who) : null, field(T.reason, reason),
    ], async () => {
      const body = { reason: reason.value.trim() };
      if (who) body.member_id = Number(who.value);
      await kit.api(`/meetings/${m.id}/leave`, { method: "POST", json: body, quiet: true });
      kit.notice(admin ? T.leave_recorded : T.leave_requested);
      await selectMeeting(m.id);
    }, () => core.showPanel("meetings", "pm-meeting"));
  }

  /** 补签: a member's status after the meeting, with a reason, beside the automatic one. */
  function correctionForm(m, r) {
    const status = select("pm-f-status", CORRECTABLE.filter((s) => s !== r.outcome)
      .map((s) => [s, T["outcome_" + s]]), "present");
    const reason = el("textarea", { id: "pm-f-reason", required: true, maxlength: 500, rows: 2 });
    showForm("pm-correction-form", `${T.correct}: ${r.name}`, [
      el("p", { class: "pm-sub-left" }, `${T.now_status}: ${T["outcome_" + r.outcome]}`
        + (r.automatic && r.automatic !== r.outcome ? ` (${T.automatic}: ${T["outcome_" + r.automatic]})` : "")),
      field(T.new_status, status), field(T.reason, reason),
    ], async () => {
      await kit.api(`/meetings/${m.id}/corrections`, { method: "POST", quiet: true,
        json: { member_id: r.member_id, status: status.value, reason: reason.value.trim() } });
      kit.notice(T.corrected);
      await selectMeeting(m.id);
    }, () => core.showPanel("meetings", "pm-meeting"));
  }

  /* ---- Recurring plans ("支委会, monthly, first Tuesday 15:00"). ---- */
  const WEEKDAYS = [0, 1, 2, 3, 4, 5, 6];
  function ruleText(p) {
    const nth = p.nth === null || p.nth === undefined ? null : T[`nth_${p.nth}`];
    const day = p.day_of_month ? T.day_of_month_n.replace("{n}", p.day_of_month)
      : `${nth || ""}${T[`weekday_${p.weekday}`]}`;
    const quarter = p.frequency === "quarterly" && p.month_of_quarter
      ? T.month_of_quarter_n.replace("{n}", p.month_of_quarter) : "";
    return `${T[`every_${p.frequency}`]}${quarter}${p.frequency === "weekly" ? T[`weekday_${p.weekday}`] : day} ${p.time} ${kit.zoneName(p.tz)}`;
  }
  async function showPlans() {
    const found = await kit.api("/meeting-plans?limit=200");
    put("pm-form",
      el("button", { class: "pm-back", onclick: () => core.showPanel("meetings", "pm-meetings") }, `‹ ${T.back}`),
      el("h2", {}, T.plans),
      el("div", { class: "pm-actions" },
        el("button", { id: "pm-new-plan", class: "pm-primary", onclick: planForm }, `＋ ${T.new_plan}`)),
      found.items.length ? el("ul", { class: "pm-list", id: "pm-plan-list" }, found.items.map((p) => el("li", {
        "data-plan-id": p.id, "data-active": String(p.active),
      },
        el("div", { class: "pm-stack" },
          el("span", { class: "pm-name" }, `${p.title || T[p.kind]} · ${p.org_name}`),
          el("span", { class: "pm-sub-left" }, ruleText(p)),
          p.next_meetings.length ? el("span", { class: "pm-note" },
            `${T.next_meetings}: ${p.next_meetings.slice(0, 3).map((n) => fmtTime(n.start, p.tz, { date: true, zone: false })).join(", ")}`
            + ` ${kit.zoneName(p.tz)}`) : null),
        p.active ? el("button", { class: "pm-stop-plan", onclick: async () => {
          await kit.api(`/meeting-plans/${p.id}/stop`, { method: "POST" });
          kit.notice(T.plan_stopped);
          showPlans();
        } }, T.stop_plan) : el("span", { class: "pm-status" }, T.stopped)))) : el("p", {}, T.no_plans));
    core.showPanel("meetings", "pm-form");
  }
  async function planForm() {
    const orgs = await organisations();
    const chosenOrg = state.org && orgs.some(([id]) => id === state.org.org.id) ? state.org.org.id : orgs[0][0];
    const inputs = {
      kind: select("pm-p-kind", KINDS.map((k) => [k, T[k]]), "BRANCH_COMMITTEE_MEETING"),
      org: select("pm-p-org", orgs.map(([id, label]) => [id, label]), chosenOrg),
      site: el("select", { id: "pm-p-site" }),
      frequency: select("pm-p-frequency", ["weekly", "monthly", "quarterly"].map((f) => [f, T[`every_${f}`]]), "monthly"),
      by: select("pm-p-by", [["weekday", T.by_weekday], ["day", T.by_day]], "weekday"),
      nth: select("pm-p-nth", [1, 2, 3, 4, -1].map((n) => [n, T[`nth_${n}`]]), 1),
      weekday: select("pm-p-weekday", WEEKDAYS.map((d) => [d, T[`weekday_${d}`]]), 1),
      day: el("input", { type: "number", id: "pm-p-day", min: 1, max: 31, value: 1 }),
      month: select("pm-p-month", [1, 2, 3].map((n) => [n, T.month_of_quarter_n.replace("{n}", n)]), 1),
      time: el("input", { type: "time", id: "pm-p-time", required: true, value: "15:00" }),
      duration: el("input", { type: "number", id: "pm-p-duration", min: 1, max: 1440, value: 90 }),
      title: el("input", { id: "pm-p-title", maxlength: 200 }),
      until: el("input", { type: "date", id: "pm-p-until" }),
    };
    const nthField = field(T.nth, inputs.nth);
    const weekdayField = field(T.weekday, inputs.weekday);
    const dayField = field(T.day_of_month, inputs.day);
    const monthField = field(T.month_of_quarter, inputs.month);
    const byField = field(T.rule, inputs.by);
    function showRule() {
      const f = inputs.frequency.value;
      const byDay = f !== "weekly" && inputs.by.value === "day";
      byField.hidden = f === "weekly";
      nthField.hidden = f === "weekly" || byDay;
      weekdayField.hidden = byDay;
      dayField.hidden = !byDay;
      monthField.hidden = f !== "quarterly";
    }
    async function fillSites() {
      const org = orgs.find(([id]) => String(id) === inputs.org.value)[2];
      const sites = await sitesFor(org);
      inputs.site.replaceChildren(...[["", T.no_site], ...sites.map((x) => [x.id, x.name])].map(([v, text]) =>
        el("option", { value: v }, text)));
      inputs.site.value = sites.length ? String(sites[0].id) : "";
    }
    for (const key of ["frequency", "by"]) inputs[key].addEventListener("change", showRule);
    inputs.org.addEventListener("change", fillSites);
    showForm("pm-plan-form", T.new_plan, [
      field(T.kind, inputs.kind), field(T.organisation, inputs.org), field(T.site, inputs.site),
      field(T.frequency, inputs.frequency), byField, monthField, nthField, weekdayField, dayField,
      el("div", { class: "pm-field-row" }, field(T.start, inputs.time), field(T.duration_min, inputs.duration)),
      field(T.title_field, inputs.title), field(T.until, inputs.until),
    ], async () => {
      const f = inputs.frequency.value;
      const byDay = f !== "weekly" && inputs.by.value === "day";
      const body = {
        org_id: Number(inputs.org.value), site_id: inputs.site.value ? Number(inputs.site.value) : null,
        kind: inputs.kind.value, title: inputs.title.value.trim(), frequency: f, time: inputs.time.value,
        duration_min: Number(inputs.duration.value),
      };
      if (byDay) body.day_of_month = Number(inputs.day.value);
      else {
        body.weekday = Number(inputs.weekday.value);
        if (f !== "weekly") body.nth = Number(inputs.nth.value);
      }
      if (f === "quarterly") body.month_of_quarter = Number(inputs.month.value);
      if (inputs.until.value) body.until = inputs.until.value;
      await kit.api("/meeting-plans", { method: "POST", json: body, quiet: true });
      kit.notice(T.plan_saved);
      await showPlans();
    }, showPlans);
    showRule();
    await fillSites();
  }

  core.selectMeeting = selectMeeting;
  core.loadMeetings = loadMeetings;
  window.partymap.selectMeeting = selectMeeting;
});
