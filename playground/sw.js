// Offline support: the page, the package and the .wasm are cached on first load and served from
// the cache afterwards (network first, so a rebuilt package is picked up when online).
const CACHE = 'firn-playground-v1';
const ASSETS = ['./', 'index.html', 'style.css', 'app.js', 'locate.js', 'pkg/index.js', 'pkg/api.js', 'pkg/firn_wasm.js', 'pkg/firn_wasm_bg.wasm'];

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(ASSETS)).then(() => self.skipWaiting()));
});
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));
self.addEventListener('fetch', (e) => {
  if (e.request.method !== 'GET') return;
  e.respondWith(
    fetch(e.request)
      .then((res) => {
        const copy = res.clone();
        caches.open(CACHE).then((c) => c.put(e.request, copy));
        return res;
      })
      .catch(() => caches.match(e.request)),
  );
});
