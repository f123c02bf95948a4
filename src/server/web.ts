/**
 * The browser client (web/, built by `npm run web:build` into web/dist) served at `/` next to
 * the API. Every file of the app goes out with a Content-Security-Policy that lets the page run
 * only its own scripts, compile its own WebAssembly (node-seal), start workers from its own
 * origin and talk to this server only. The API and /docs (Swagger UI, which needs inline
 * scripts) are left as they were.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** web/dist of this checkout. */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../web/dist', import.meta.url));

export const APP_CSP = [
  "default-src 'self'",
  // 'wasm-unsafe-eval': WebAssembly compilation only (node-seal), not eval of JavaScript.
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  // The page and its worker talk to this server only.
  "connect-src 'self'",
  "img-src 'self' data: blob:",
  "style-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const APP_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': APP_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-frame-options': 'DENY',
});

const setAppHeaders = (reply: FastifyReply) => {
  for (const [name, value] of Object.entries(APP_HEADERS)) reply.header(name, value);
};

const NOT_BUILT = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>PMHE server</title></head>
<body>
<h1>PMHE server</h1>
<p>The browser client is not built. Run <code>npm run web:build</code> and restart the server
(or give <code>--web-dir</code>).</p>
<p>The API is at <a href="/v1/catalogue">/v1</a>, its documentation at <a href="/docs">/docs</a>.</p>
</body>
</html>
`;

/**
 * Serves `dir` at `/` (hashed files under /assets cached for a year, index.html revalidated), or,
 * when `dir` holds no index.html, a page at `/` saying how to build the app.
 */
export async function serveWebApp(app: FastifyInstance, dir: string): Promise<void> {
  if (!existsSync(join(dir, 'index.html'))) {
    app.get('/', { schema: { hide: true } }, async (_request, reply) => {
      setAppHeaders(reply);
      return reply.type('text/html; charset=utf-8').send(NOT_BUILT);
    });
    return;
  }
  await app.register(fastifyStatic, {
    root: dir,
    prefix: '/',
    index: 'index.html',
    schemaHide: true,
    // Source maps and anything else are files like the rest; dotfiles never.
    dotfiles: 'ignore',
    cacheControl: false,
    setHeaders: (reply, path) => {
      setAppHeaders(reply);
      reply.header(
        'cache-control',
        /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
}
