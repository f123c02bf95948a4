/**
 * /metrics is the operator's (issue 18): behind a bearer token on the API's port (the token kept
 * in the data folder, readable by its owner only), or on an address of its own and then not on
 * the API's port; the gauges the alerting rules read (ops/prometheus/pmhe-alerts.yml) are there,
 * and a ledger that does not answer is a value (pmhe_ledger_up 0), not a failed scrape.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { EmbeddedLedger } from '../../src/ledger/embedded.ts';
import { LedgerError } from '../../src/ledger/errors.ts';
import type { Ledger } from '../../src/ledger/ledger.ts';
import { startServer } from '../../src/server/server.ts';
import { tempDir } from '../ledger/fixtures.ts';

const ALERTED = [
  'pmhe_submissions_backlog',
  'pmhe_committer_total',
  'pmhe_ledger_up',
  'pmhe_worker_restarts',
  'pmhe_data_dir_free_bytes',
  'pmhe_data_dir_size_bytes',
  'pmhe_http_request_seconds_count',
];

test('METRICS: behind a bearer token on the API port; the gauges the alerts read are there', async (t) => {
  const dataDir = await tempDir('metrics');
  const server = await startServer({ dataDir, port: 0, log: false, webDir: false });
  t.after(() => server.close());
  const tokenFile = join(dataDir, 'metrics-token');
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600, 'the token is readable by its owner only');
  assert.equal(readFileSync(tokenFile, 'utf8').trim(), server.metrics.token);
  for (const authorization of [undefined, 'Bearer wrong', `Basic ${server.metrics.token}`]) {
    const reply = await fetch(server.metrics.url, authorization ? { headers: { authorization } } : {});
    assert.equal(reply.status, 401, String(authorization));
    assert.equal(((await reply.json()) as { code: string }).code, 'UNAUTHENTICATED');
  }
  await fetch(`${server.url}/health`); // one request for the histogram
  const reply = await fetch(server.metrics.url, {
    headers: { authorization: `Bearer ${server.metrics.token}` },
  });
  assert.equal(reply.status, 200);
  const text = await reply.text();
  for (const name of ALERTED) assert.match(text, new RegExp(`^${name}(\\{[^}]*\\})? `, 'm'), name);
  assert.match(text, /^pmhe_ledger_up 1$/m);
  assert.ok(Number(/^pmhe_data_dir_free_bytes (\S+)$/m.exec(text)?.[1]) > 0);
});

test('METRICS: on an address of its own, without a token, and not on the API port', async (t) => {
  const server = await startServer({
    dataDir: await tempDir('metrics-own'),
    port: 0,
    log: false,
    webDir: false,
    metricsAddress: { host: '127.0.0.1', port: 0 },
  });
  t.after(() => server.close());
  assert.equal(server.metrics.token, undefined);
  assert.notEqual(new URL(server.metrics.url).port, new URL(server.url).port);
  assert.equal((await fetch(`${server.url}/metrics`)).status, 404);
  const reply = await fetch(server.metrics.url);
  assert.equal(reply.status, 200);
  assert.match(await reply.text(), /^pmhe_ledger_height \d+$/m);
  assert.equal((await fetch(server.metrics.url.replace('/metrics', '/v1/catalogue'))).status, 404);
});

test('METRICS: a ledger that does not answer is pmhe_ledger_up 0, and the scrape still succeeds', async (t) => {
  const dataDir = await tempDir('metrics-down');
  const ledger = await EmbeddedLedger.open(join(dataDir, 'ledger'));
  let down = false;
  // The same ledger, with its height failing while `down` (as a Fabric peer that went away).
  const flaky = new Proxy(ledger, {
    get(target, name, receiver) {
      if (name === 'height' && down)
        return () => Promise.reject(new LedgerError('UNAVAILABLE', 'the peer does not answer'));
      const value = Reflect.get(target, name, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as Ledger;
  const server = await startServer({ dataDir, port: 0, log: false, webDir: false, ledger: flaky });
  t.after(() => server.close());
  const scrape = async () =>
    (
      await fetch(server.metrics.url, { headers: { authorization: `Bearer ${server.metrics.token}` } })
    ).text();
  assert.match(await scrape(), /^pmhe_ledger_up 1$/m);
  down = true;
  assert.match(await scrape(), /^pmhe_ledger_up 0$/m);
  down = false;
});
