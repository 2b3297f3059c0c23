// Service worker: keeps the app shell, the last area's tiles and the active booking so the
// page opens offline. Network first everywhere (fresh data when online), cache as fallback.
const VERSION = 'wattsup-v2';
const SHELL = [
  '/', '/index.html', '/driver.css', '/recharger-101.html', '/manifest.webmanifest',
  '/js/app.js', '/js/api.js', '/js/account.js', '/js/booking.js', '/js/config.js', '/js/dom.js',
  '/js/filters.js', '/js/i18n.js', '/js/r101.js', '/js/icons.js', '/js/map.js', '/js/session.js', '/js/sheet.js',
  '/js/support.js',
  '/vendor/maplibre-gl/maplibre-gl.js', '/vendor/maplibre-gl/maplibre-gl.css',
  '/offline/outlines.geojson', '/icons/icon.svg', '/icons/icon-192.png',
];
const TILE_CACHE = 'wattsup-tiles';
const MAX_TILES = 400;

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(VERSION).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (e) => {
  e.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== VERSION && k !== TILE_CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

async function trim(cache) {
  const keys = await cache.keys();
  for (const k of keys.slice(0, Math.max(0, keys.length - MAX_TILES))) await cache.delete(k);
}

async function networkFirst(req, cacheName, { trimTiles = false } = {}) {
  const cache = await caches.open(cacheName);
  try {
    const res = await fetch(req);
    if (res.ok) {
      cache.put(req, res.clone());
      if (trimTiles) trim(cache);
    }
    return res;
  } catch (err) {
    const nav = req.mode === 'navigate';
    const hit = (await cache.match(req, { ignoreSearch: nav })) || (nav && await cache.match('/'));
    if (hit) return hit;
    throw err;
  }
}

self.addEventListener('fetch', (e) => {
  const req = e.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== location.origin) return;
  if (url.pathname.startsWith('/tiles/')) {
    e.respondWith(networkFirst(req, TILE_CACHE, { trimTiles: true }));
  } else if (url.pathname === '/api/reservations/current') {
    e.respondWith(networkFirst(req, VERSION));
  } else if (!url.pathname.startsWith('/api/') && !url.pathname.startsWith('/admin')) {
    e.respondWith(networkFirst(req, VERSION));
  }
});
