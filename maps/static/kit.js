/* partymap dashboard: the helpers every part of the page shares.
 *
 * partymapKit(cfg) gives: the page's words (T), DOM builders (el, put), times in a site's own
 * time zone with the zone named ("22:40 北京时间", "17:32 EAT"), conversions between a zone's
 * wall-clock time and UTC (for forms), and api(): every request of the page goes through it, so
 * a slow answer shows the spinner, a failure shows its reason, and a lapsed login shows the form.
 */
"use strict";

function partymapKit(cfg) {
  const T = cfg.labels;
  const $ = (id) => document.getElementById(id);
  const ACTIVATE_KEYS = new Set(["Enter", " "]);

  /** An element; a clickable row (li, div, tr, span) becomes keyboard-reachable: it takes
   * focus, reads as a button and answers Enter and Space like a click. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    let clickable = false;
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) {
        node.addEventListener(k.slice(2), v);
        if (k === "onclick") clickable = true;
      } else if (k === "style") node.style.cssText = v;
      else if (k === "value" && "value" in node) node.value = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    if (clickable && ["li", "div", "tr", "span"].includes(tag)) {
      if (!node.hasAttribute("tabindex")) node.tabIndex = 0;
      if (!node.hasAttribute("role")) node.setAttribute("role", "button");
      node.addEventListener("keydown", (e) => {
        if (e.target === node && ACTIVATE_KEYS.has(e.key)) {
          e.preventDefault();
          node.click();
        }
      });
    }
    for (const child of children.flat(Infinity)) {
      if (child !== null && child !== undefined && child !== false) {
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
      }
    }
    return node;
  }
  /** Replace the contents of element ``id``; null, undefined and false children are skipped. */
  const put = (id, ...children) => $(id).replaceChildren(
    ...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));

  /* ---- Times: always in a named zone. ---- */
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const partsFormat = new Map();
  /** The wall-clock fields of ``date`` in ``tz``: {year, month, day, hour, minute, second}. */
  function wall(date, tz) {
    const zone = tz || browserZone;
    if (!partsFormat.has(zone)) {
      partsFormat.set(zone, new Intl.DateTimeFormat("en-US", {
        timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit",
      }));
    }
    const out = {};
    for (const p of partsFormat.get(zone).formatToParts(date)) out[p.type] = p.value;
    return out;
  }
  /** How the page names a zone: its own words for the zones partymap knows (maps/labels.py),
   * else the browser's short name (GMT+3). */
  function zoneName(tz, at) {
    const zone = tz || browserZone;
    if (T["tz:" + zone]) return T["tz:" + zone];
    try {
      const part = new Intl.DateTimeFormat(cfg.language, { timeZone: zone, timeZoneName: "short" })
        .formatToParts(at || new Date()).find((p) => p.type === "timeZoneName");
      return part ? part.value : zone;
    } catch (error) {
      return zone;
    }
  }
  /** ``iso`` as wall-clock time in ``tz`` (the browser's when null) with the zone named.
   * opts: date (month-day), year (with the year), seconds, zone (false: leave the name off). */
  function fmtTime(iso, tz, opts) {
    if (!iso) return "";
    const o = typeof opts === "boolean" ? { date: opts } : (opts || {});
    const at = new Date(iso);
    const w = wall(at, tz);
    let text = `${w.hour}:${w.minute}` + (o.seconds ? `:${w.second}` : "");
    if (o.year) text = `${w.year}-${w.month}-${w.day} ${text}`;
    else if (o.date) text = `${w.month}-${w.day} ${text}`;
    return o.zone === false ? text : `${text} ${zoneName(tz, at)}`;
  }
  /** The date (YYYY-MM-DD) and time (HH:MM) of ``iso`` on the wall clocks of ``tz``. */
  function localInputs(iso, tz) {
    const w = wall(new Date(iso), tz);
    return { date: `${w.year}-${w.month}-${w.day}`, time: `${w.hour}:${w.minute}` };
  }
  /** The instant (ISO 8601, UTC) when the wall clocks of ``tz`` read ``date`` ``time``. */
  function zonedToIso(date, time, tz) {
    const [y, mo, d] = date.split("-").map(Number);
    const [h, mi] = time.split(":").map(Number);
    const target = Date.UTC(y, mo - 1, d, h, mi);
    let guess = target;
    // Two rounds settle the zone's offset, also next to a daylight-saving change.
    for (let k = 0; k < 2; k += 1) {
      const w = wall(new Date(guess), tz);
      const shown = Date.UTC(+w.year, +w.month - 1, +w.day, +w.hour, +w.minute, +w.second);
      guess += target - shown;
    }
    return new Date(guess).toISOString().replace(".000Z", "Z");
  }
  /** Today's date (YYYY-MM-DD) in ``tz``. */
  function today(tz) {
    return localInputs(new Date().toISOString(), tz).date;
  }

  /* ---- Notices, the spinner, requests. ---- */
  let noticeTimer = null;
  /** A message over the map; errors stay until the next one or a click, others fade. */
  function notice(text, kind) {
    const box = $("pm-notice");
    box.textContent = text;
    box.dataset.kind = kind || "info";
    box.hidden = false;
    clearTimeout(noticeTimer);
    if (kind !== "error") noticeTimer = setTimeout(() => { box.hidden = true; }, 8000);
  }
  $("pm-notice").addEventListener("click", () => { $("pm-notice").hidden = true; });

  const SPINNER_AFTER_MS = 300;
  let pending = 0;
  let spinnerTimer = null;
  function busy(delta) {
    pending += delta;
    if (pending > 0 && spinnerTimer === null) {
      spinnerTimer = setTimeout(() => { $("pm-busy").hidden = false; }, SPINNER_AFTER_MS);
    } else if (pending === 0) {
      clearTimeout(spinnerTimer);
      spinnerTimer = null;
      $("pm-busy").hidden = true;
    }
  }

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }
  async function reason(response) {
    try {
      const body = await response.json();
      if (typeof body.detail === "string") return body.detail;
      if (Array.isArray(body.detail)) {
        return body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
      }
    } catch (error) { /* not JSON: the status says it */ }
    return `HTTP ${response.status}`;
  }
  const TOKEN_KEY = "partymap_token";
  const kit = {
    T, $, el, put, fmtTime, zoneName, localInputs, zonedToIso, today, notice, busy, ApiError,
    browserZone,
    onUnauthorised: () => {},
    token: () => sessionStorage.getItem(TOKEN_KEY),
    setToken: (token) => {
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      else sessionStorage.removeItem(TOKEN_KEY);
    },
  };
  /** A request to the API. The login cookie serves reads; writes carry the bearer token of
   * this tab's login. opts: method, json (a body to send as JSON), form (URLSearchParams),
   * raw (the Response itself, e.g. a file), quiet (no notice on failure). */
  kit.api = async function api(path, opts) {
    const o = opts || {};
    const method = o.method || "GET";
    const headers = {};
    let body;
    if (o.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(o.json);
    } else if (o.form) {
      body = o.form;
    }
    const token = kit.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    busy(1);
    try {
      let response;
      try {
        response = await fetch(cfg.api + path, { method, headers, body, credentials: "same-origin" });
      } catch (error) {
        throw new ApiError(0, T.network_error);
      }
      if (response.status === 401) {
        kit.setToken(null);
        kit.onUnauthorised();
        throw new ApiError(401, T.login_needed);
      }
      if (!response.ok) throw new ApiError(response.status, await reason(response));
      if (o.raw) return response;
      return response.status === 204 ? null : await response.json();
    } catch (error) {
      if (!o.quiet && error.status !== 401) notice(`${T.request_failed}: ${error.message}`, "error");
      throw error;
    } finally {
      busy(-1);
    }
  };
  return kit;
}
