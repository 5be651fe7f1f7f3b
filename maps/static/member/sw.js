/* partymap member page: keep the page's shell for offline use (the API is never cached).
 * Network first, so a new version shows at once when online; the cache answers offline. */
"use strict";
const SHELL = "partymap-member-1";
const FILES = ["/m/", "/m/app.js", "/m/member.css", "/m/manifest.webmanifest",
  "/m/icon-192.png", "/m/icon-512.png"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== SHELL).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin
      || !url.pathname.startsWith("/m/")) return;
  const key = url.pathname === "/m/" ? "/m/" : url.pathname;
  event.respondWith(fetch(event.request).then((response) => {
    if (response.ok) {
      const copy = response.clone();
      caches.open(SHELL).then((c) => c.put(key, copy));
    }
    return response;
  }).catch(() => caches.match(key, { ignoreSearch: true })));
});
