/* partymap member page: a member's meetings, check-ins, attendance and leave, on their phone.
 *
 * The login token and this phone's identifier stay in localStorage (the page is an installed
 * app); a check-in that cannot reach the server is kept in a queue there and sent when the
 * connection is back, with the positions' own times. Opening a meeting's QR code lands on
 * /m/?meeting=…&step=…&code=…: the code is kept through a login and then sent.
 */
"use strict";

(() => {
  const cfg = window.PARTYMAP_MEMBER;
  const W = cfg.words;
  const $ = (id) => document.getElementById(id);
  const TOKEN = "partymap_member_token";
  const PHONE = "partymap_phone";
  const QUEUE = "partymap_checkin_queue";
  const QR = "partymap_qr";
  let me = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c !== null && c !== undefined && c !== false) {
        node.append(c instanceof Node ? c : document.createTextNode(String(c)));
      }
    }
    return node;
  }

  let toastTimer = null;
  function toast(message, kind) {
    const box = $("pm-toast");
    box.textContent = message;
    box.className = `pm-toast pm-${kind || "info"}`;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 8000);
  }

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const hex = Array.from(crypto.getRandomValues(new Uint8Array(16)),
      (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  function phoneId() {
    let id = localStorage.getItem(PHONE);
    if (!id) {
      id = `phone:${uuid()}`;
      localStorage.setItem(PHONE, id);
    }
    return id;
  }

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  async function api(path, opts) {
    const o = opts || {};
    const headers = {};
    let body;
    if (o.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(o.json);
    } else if (o.form) {
      body = o.form;
    }
    const token = localStorage.getItem(TOKEN);
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(cfg.api + path, { method: o.method || "GET", headers, body });
    } catch (error) {
      throw new ApiError(0, W.offline);
    }
    if (response.status === 401 && !o.login) {
      localStorage.removeItem(TOKEN);
      showLogin();
      throw new ApiError(401, W.login);
    }
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try {
        const b = await response.json();
        if (typeof b.detail === "string") message = b.detail;
        else if (Array.isArray(b.detail)) message = b.detail.map((d) => d.msg).join("; ");
      } catch (error) { /* the status says it */ }
      throw new ApiError(response.status, message);
    }
    return response.status === 204 ? null : response.json();
  }

  /* ---- Times, in the meeting's own zone. ---- */
  function when(iso, tz) {
    return new Intl.DateTimeFormat(cfg.lang, {
      timeZone: tz || undefined, month: "2-digit", day: "2-digit", hour: "2-digit",
      minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
    }).format(new Date(iso));
  }

  /* ---- Login. ---- */
  function showLogin(message) {
    $("pm-logout").hidden = true;
    const form = el("form", { class: "pm-card pm-login", id: "pm-login" },
      message ? el("p", { class: "pm-warn" }, message) : null,
      el("label", {}, W.username, el("input", { name: "username", autocomplete: "username", required: true })),
      el("label", {}, W.password, el("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
      el("button", { type: "submit", class: "pm-primary" }, W.login));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = new FormData(form);
      try {
        const got = await api("/auth/token", {
          method: "POST", login: true,
          form: new URLSearchParams({ username: data.get("username"), password: data.get("password") }),
        });
        localStorage.setItem(TOKEN, got.access_token);
        start();
      } catch (error) {
        toast(error.message, "error");
      }
    });
    $("pm-main").replaceChildren(form);
  }

  /* ---- Check-ins: the phone's position, or the meeting's code; queued when offline. ---- */
  function collectFixes(wanted, waitMs) {
    return new Promise((resolve, reject) => {
      const fixes = [];
      let late = false;
      const finish = () => {
        clearTimeout(timer);
        navigator.geolocation.clearWatch(watch);
        resolve(fixes);
      };
      const watch = navigator.geolocation.watchPosition((p) => {
        const time = new Date(p.timestamp).toISOString();
        if (fixes.some((f) => f.time === time)) return;
        const c = p.coords;
        const fix = { time, lat: c.latitude, lon: c.longitude, accuracy_m: c.accuracy };
        if (Number.isFinite(c.speed) && c.speed !== null) fix.speed_mps = c.speed;
        if (Number.isFinite(c.heading) && c.heading !== null) fix.course_deg = c.heading;
        if (Number.isFinite(c.altitude) && c.altitude !== null) fix.alt_m = c.altitude;
        fixes.push(fix);
        if (fixes.length >= wanted || late) finish();
      }, (error) => {
        clearTimeout(timer);
        navigator.geolocation.clearWatch(watch);
        if (fixes.length) resolve(fixes);
        else reject(error);
      }, { enableHighAccuracy: true, maximumAge: 0, timeout: 20000 });
      const timer = setTimeout(() => { if (fixes.length) finish(); else late = true; }, waitMs);
    });
  }

  function queued() { return JSON.parse(localStorage.getItem(QUEUE) || "[]"); }
  function setQueued(items) { localStorage.setItem(QUEUE, JSON.stringify(items)); }

  async function send(item) {
    const path = `/meetings/${item.meeting_id}/checkins/${item.kind}`;
    return api(path, { method: "POST", json: item.body });
  }

  async function submit(item) {
    if (navigator.onLine === false) {
      setQueued([...queued(), item]);
      toast(W.queued, "warn");
      return false;
    }
    try {
      const done = await send(item);
      toast(`${item.kind === "qr" ? W.qr_done : W.checked_in} · ${W[`evidence_${done.evidence}`]} · ${when(done.at)}`, "ok");
      return true;
    } catch (error) {
      if (error.status === 0) {
        setQueued([...queued(), item]);
        toast(W.queued, "warn");
      } else if (error.status !== 401) {
        toast(`${W.failed}: ${error.message}`, "error");
      }
      return false;
    }
  }

  async function flushQueue() {
    const items = queued();
    if (!items.length || navigator.onLine === false) return;
    const left = [];
    for (const item of items) {
      try {
        await send(item);
        toast(W.sent_queued, "ok");
      } catch (error) {
        if (error.status === 0 || error.status === 401 || error.status === 429) left.push(item);
        else toast(`${W.failed}: ${error.message}`, "error");
      }
    }
    setQueued(left);
    if (me) render();
  }

  async function phoneCheckin(meeting, button) {
    if (!navigator.geolocation) {
      toast(W.no_geolocation, "error");
      return;
    }
    button.disabled = true;
    button.textContent = W.checking_in;
    try {
      const fixes = await collectFixes(3, 4000);
      const item = { kind: "phone", meeting_id: meeting.id, body: { phone_id: phoneId(), fixes } };
      await submit(item);
    } catch (error) {
      toast(error.code === 1 ? W.geo_denied : `${W.failed}: ${error.message}`, "error");
    } finally {
      render();
    }
  }

  async function qrCheckin() {
    const held = sessionStorage.getItem(QR);
    if (!held) return;
    sessionStorage.removeItem(QR);
    const q = JSON.parse(held);
    await submit({ kind: "qr", meeting_id: q.meeting, body: { phone_id: phoneId(), step: q.step, code: q.code } });
  }

  /* ---- Leave. ---- */
  async function askLeave(meeting) {
    const reason = window.prompt(W.leave_reason);
    if (!reason) return;
    try {
      await api(`/meetings/${meeting.id}/leave`, { method: "POST", json: { reason } });
      toast(W.leave_sent, "ok");
    } catch (error) {
      if (error.status !== 401) toast(error.message, "error");
    }
    render();
  }

  /* ---- The page. ---- */
  function meetingCard(m, extra) {
    return el("li", { class: "pm-meeting", "data-meeting": m.id },
      el("div", { class: "pm-kind" }, W[`kind_${m.kind}`] || m.kind, m.title ? ` · ${m.title}` : ""),
      m.topic ? el("div", { class: "pm-topic" }, m.topic) : null,
      el("div", { class: "pm-where" }, when(m.start, m.tz), m.site_name ? ` · ${m.site_name}` : ""),
      extra);
  }

  async function render() {
    const now = Date.now();
    const [live, early, coming, mine, leave, history] = await Promise.all([
      api("/meetings?status=in_progress&limit=20"),
      api(`/meetings?status=upcoming&limit=20&end=${encodeURIComponent(new Date(now + 3600e3).toISOString())}`),
      api("/meetings?status=upcoming&limit=20"),
      api("/meeting-checkins?limit=50"),
      api("/leave?limit=100"),
      api(`/members/${me.member_id}/attendance?limit=20`),
    ]);
    const checked = new Map(mine.items.map((c) => [c.meeting_id, c]));
    const leaveOf = new Map(leave.items.map((l) => [l.meeting_id, l]));
    const open = [...live.items,
      ...early.items.filter((m) => Date.parse(m.start) - m.early_s * 1000 <= now)];
    const nowCards = open.map((m) => {
      const c = checked.get(m.id);
      let action;
      if (c) action = el("p", { class: "pm-done" }, `${W.checked_in} · ${W[`evidence_${c.evidence}`]} · ${when(c.at, m.tz)}`);
      else if (m.site_id) {
        const button = el("button", { class: "pm-primary pm-checkin", type: "button" }, W.checkin);
        button.addEventListener("click", () => phoneCheckin(m, button));
        action = button;
      }
      return meetingCard(m, action);
    });
    const openIds = new Set(open.map((m) => m.id));
    const comingCards = coming.items.filter((m) => !openIds.has(m.id)).map((m) => {
      const l = leaveOf.get(m.id);
      const action = l && l.status !== "withdrawn"
        ? el("p", { class: `pm-leave pm-${l.status}` }, W[`leave_${l.status}`])
        : el("button", { type: "button", class: "pm-leave-ask", onclick: () => askLeave(m) }, W.leave);
      return meetingCard(m, action);
    });
    const n = queued().length;
    $("pm-main").replaceChildren(
      el("section", { class: "pm-card", id: "pm-phone" },
        el("p", { class: `pm-phone pm-${me.phone.state}` }, W[`phone_${me.phone.state}`] || me.phone.state),
        el("p", { class: "pm-note" }, W.privacy),
        n ? el("p", { class: "pm-warn", id: "pm-queued" }, `${W.queued} (${n})`) : null),
      el("section", { class: "pm-card", id: "pm-now" }, el("h2", {}, W.now),
        nowCards.length ? el("ul", {}, nowCards) : el("p", { class: "pm-note" }, W.no_meeting_now),
        el("p", { class: "pm-note" }, W.scan_hint)),
      el("section", { class: "pm-card", id: "pm-coming" }, el("h2", {}, W.coming),
        comingCards.length ? el("ul", {}, comingCards) : el("p", { class: "pm-note" }, W.none)),
      el("section", { class: "pm-card", id: "pm-checkins" }, el("h2", {}, W.checkins),
        mine.items.length ? el("ul", {}, mine.items.map((c) => el("li", {},
          `${when(c.at)} · ${W[`evidence_${c.evidence}`]}`))) : el("p", { class: "pm-note" }, W.none)),
      el("section", { class: "pm-card", id: "pm-history" }, el("h2", {}, W.history),
        history.items.length ? el("ul", {}, history.items.map((h) => el("li", {},
          `${when(h.start, h.tz)} · ${W[`kind_${h.kind}`] || h.kind} · `,
          el("b", { class: `pm-status pm-${h.status}` }, W[`status_${h.status}`] || h.status),
          h.evidence ? ` · ${W[`evidence_${h.evidence}`]}` : ""))) : el("p", { class: "pm-note" }, W.none)),
    );
  }

  async function start() {
    try {
      const who = await api("/auth/me");
      if (who.role !== "member" || !who.member_id) {
        localStorage.removeItem(TOKEN);
        showLogin(W.members_only);
        return;
      }
      const phone = await api("/me/phone", { method: "POST", json: { phone_id: phoneId() } });
      me = { ...who, phone };
      $("pm-logout").hidden = false;
      await qrCheckin();
      await flushQueue();
      await render();
    } catch (error) {
      if (error.status !== 401) toast(error.message, "error");
    }
  }

  function keepCode() {
    const q = new URLSearchParams(window.location.search);
    if (q.has("meeting") && q.has("step") && q.has("code")) {
      sessionStorage.setItem(QR, JSON.stringify({
        meeting: Number(q.get("meeting")), step: Number(q.get("step")), code: q.get("code"),
      }));
      window.history.replaceState(null, "", window.location.pathname);
    }
  }

  function network() {
    $("pm-net").textContent = navigator.onLine === false ? W.offline : "";
  }

  $("pm-logout").addEventListener("click", async () => {
    try { await api("/auth/logout", { method: "POST" }); } catch (error) { /* gone anyway */ }
    localStorage.removeItem(TOKEN);
    me = null;
    showLogin();
  });
  window.addEventListener("online", async () => {
    network();
    await flushQueue();
    if (!me && localStorage.getItem(TOKEN)) start();  // opened offline: draw the page now
  });
  window.addEventListener("offline", network);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" }).catch(() => {});
  }
  keepCode();
  network();
  if (localStorage.getItem(TOKEN)) start();
  else showLogin();
})();
