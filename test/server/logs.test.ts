/**
 * Structured logs with request ids (issue 18): every answer carries X-Request-Id (the proxy's,
 * when it is a sane token, else a new UUID), and every log line of that request names it (reqId) as
 * JSON, so an operator finds a person's report in the log.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { startServer } from '../../src/server/server.ts';
import { tempDir } from '../ledger/fixtures.ts';

test('LOGS: JSON lines, each with the request id (reqId) the answer carries back', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const server = await startServer({
    dataDir: await tempDir('logs'),
    port: 0,
    log: pino({ level: 'info' }, sink),
    webDir: false,
  });
  t.after(() => server.close());
  const given = await fetch(`${server.url}/health`, { headers: { 'x-request-id': 'proxy-7f3a.1' } });
  assert.equal(given.headers.get('x-request-id'), 'proxy-7f3a.1');
  const made = await fetch(`${server.url}/v1/nowhere`, { headers: { 'x-request-id': 'x'.repeat(200) } });
  assert.equal(made.status, 404);
  const id = made.headers.get('x-request-id') ?? '';
  assert.match(id, /^[0-9a-f-]{36}$/, 'an id too long is replaced by a new one');
  const none = await fetch(`${server.url}/health`, {
    headers: { authorization: 'PMHE-Ed25519 c2lnbmVkLXJlcXVlc3Q=' },
  });
  assert.match(none.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  await new Promise((r) => setTimeout(r, 50));
  for (const requestId of ['proxy-7f3a.1', id]) {
    const mine = lines.filter((l) => l.reqId === requestId);
    assert.ok(mine.length >= 2, `${requestId}: ${mine.length} lines (request and response)`);
    assert.ok(mine.some((l) => (l.res as { statusCode?: number } | undefined)?.statusCode !== undefined));
  }
  assert.ok(!JSON.stringify(lines).includes('c2lnbmVkLXJlcXVlc3Q='), 'no Authorization header is logged');
});
