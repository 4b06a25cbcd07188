#!/usr/bin/env node
// Serves the playground and the built package (wasm/pkg, as /pkg/) over http://127.0.0.1.
// `npm run playground` from the repo root (build the package first: `npm run build`).
// ES modules with wasm cannot load from file://, hence this small server (no dependencies).
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = join(here, '..', 'wasm', 'pkg');
const types = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml',
  '.ts': 'text/plain; charset=utf-8', '.md': 'text/plain; charset=utf-8', '.ndjson': 'application/fhir+ndjson',
};

function resolvePath(urlPath) {
  const p = decodeURIComponent(urlPath.split('?')[0]);
  const [root, rel] = p.startsWith('/pkg/') ? [pkgDir, p.slice(5)] : [here, p === '/' ? 'index.html' : p.slice(1)];
  const full = normalize(join(root, rel));
  return full === root || full.startsWith(root + sep) ? full : null;
}

/** Starts the server; resolves to {server, url}. Port 0 picks a free one. */
export function startServer(port = 0, host = '127.0.0.1') {
  const server = createServer(async (req, res) => {
    if (req.url === '/favicon.ico') return res.writeHead(204).end();
    const file = resolvePath(req.url);
    try {
      if (!file || !(await stat(file)).isFile()) throw new Error('not found');
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  return new Promise((resolve) => server.listen(port, host, () => {
    resolve({ server, url: `http://${host}:${server.address().port}/` });
  }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.PORT ?? process.argv[2] ?? 8080);
  const { url } = await startServer(port);
  console.log(`Firn playground: ${url}  (package from ${pkgDir})`);
}
