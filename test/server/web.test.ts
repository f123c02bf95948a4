import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { APP_CSP, serveWebApp } from '../../src/server/web.ts';
import { tempDir } from '../ledger/fixtures.ts';

const INDEX = '<!doctype html><title>PMHE test app</title><p id="marker">the browser client</p>\n';

describe('the browser client at /', () => {
  let server: RunningServer;
  let dataDir: string;
  let webDir: string;

  before(async () => {
    dataDir = await tempDir('web-server');
    webDir = await tempDir('web-dist');
    await writeFile(join(webDir, 'index.html'), INDEX);
    await mkdir(join(webDir, 'assets'));
    await writeFile(join(webDir, 'assets', 'main-AbCd1234.js'), 'console.log(1);\n');
    server = await startServer({ dataDir, port: 0, log: false, webDir, simulationWorkers: 1 });
  });

  after(async () => {
    await server?.close();
    for (const dir of [dataDir, webDir]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('/ serves index.html with the app’s Content-Security-Policy', async () => {
    const res = await fetch(`${server.url}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(await res.text(), INDEX);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.equal(csp, APP_CSP);
    for (const directive of [
      "script-src 'self' 'wasm-unsafe-eval'",
      "worker-src 'self'",
      "connect-src 'self'",
      "object-src 'none'",
    ]) {
      assert.ok(csp.split('; ').includes(directive), `${directive} in ${csp}`);
    }
    assert.doesNotMatch(csp, /'unsafe-eval'|'unsafe-inline'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('cache-control'), 'no-cache');
  });

  test('hashed assets are cached for good; missing files are 404', async () => {
    const asset = await fetch(`${server.url}/assets/main-AbCd1234.js`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
    assert.ok(asset.headers.get('content-security-policy'));
    assert.equal((await fetch(`${server.url}/assets/nothing.js`)).status, 404);
  });

  test('the API and /docs still answer', async () => {
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
    const catalogue = await fetch(`${server.url}/v1/catalogue`);
    assert.equal(catalogue.status, 200);
    assert.ok(((await catalogue.json()) as { models: unknown[] }).models.length > 0);
    const docs = await fetch(`${server.url}/docs/`);
    assert.equal(docs.status, 200);
    // Swagger UI keeps its own headers: the app's CSP would break its inline scripts.
    assert.equal(docs.headers.get('content-security-policy'), null);
    assert.equal((await fetch(`${server.url}/v1/no-such-route`)).status, 404);
  });

  test('without a built app, / says how to build it', async () => {
    const app = Fastify({ logger: false });
    await serveWebApp(app, join(webDir, 'not-built'));
    const res = await app.inject({ url: '/' });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /npm run web:build/);
    assert.equal(res.headers['content-security-policy'], APP_CSP);
    await app.close();
  });
});
