/**
 * Several models under one identity on the project's Fabric dev network (`npm run test:fabric`):
 * the contract's identity and per-model subscription records, each model's own evaluation keys,
 * and `unsubscribe` (a world-state delete) endorsed by both organisations, through the server.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as fabric from '../scripts/fabric/network.ts';
import { ApiError } from '../src/client/api-client.ts';
import { PmheClient } from '../src/client/app.ts';
import { FolderStore } from '../src/client/node/folder-store.ts';
import { FAST_KDF_FOR_TESTS } from '../src/client/vault.ts';
import { simulatePerson } from '../src/device/index.ts';
import { registerPatiently } from './flow.ts';
import { startPmheServer } from './server.ts';

const PASSPHRASE = 'several models on fabric';

test('several models under one identity on Fabric: each evaluated with its own keys; one unsubscribed', {
  skip:
    !fabric.isUp() &&
    `no Fabric network in ${fabric.NETWORK_FILE} (npm run fabric:up, or npm run test:fabric)`,
  timeout: 10 * 60_000,
}, async () => {
  const net = fabric.readNetwork();
  const dir = await mkdtemp(join(tmpdir(), 'pmhe-fabric-models-'));
  const server = await startPmheServer({
    dataDir: join(dir, 'server'),
    log: join(net.dir, 'logs', `pmhe-server-models-${Date.now()}.log`),
    fabric: net.connectionFile,
  });
  try {
    using client = await PmheClient.init(new FolderStore(join(dir, 'client')), {
      userId: `models-${Date.now()}`,
      modelId: 'early-warning',
      layout: 'packed',
      passphrase: PASSPHRASE,
      server: server.url,
      kdf: FAST_KDF_FOR_TESTS,
    });
    await registerPatiently(client);
    const profile = { age: 58, bmi: 26, cholesterol: 225, smoker: 1 };
    const chd = await client.addModel('chd-risk', 'packed', PASSPHRASE, profile);
    await client.register(undefined, ['chd-risk']);
    const readings = simulatePerson({ persona: 'healthy', seed: 12, days: 1 }).slice(-3);
    await client.queue(readings);
    assert.equal((await client.flush()).sent, 6);
    const entries = await client.collect({ timeoutMs: 180_000 });
    assert.deepEqual(entries.map((e) => e.modelId).sort(), [
      'chd-risk',
      'chd-risk',
      'chd-risk',
      'early-warning',
      'early-warning',
      'early-warning',
    ]);
    const stale = await chd.upload(readings.slice(0, 1), profile);
    const ended = await client.removeModel('chd-risk', PASSPHRASE);
    assert.match(ended.txId ?? '', /^[0-9a-f]{64}$/);
    assert.deepEqual(
      (await client.api.me()).subscriptions.map((s) => s.modelId),
      ['early-warning'],
    );
    await assert.rejects(
      client.api.submit([stale]),
      (e: unknown) => e instanceof ApiError && e.code === 'NOT_SUBSCRIBED',
    );
    await client.queue(readings.map((r) => ({ ...r, time: r.time + 3_600_000 })));
    assert.equal((await client.flush()).sent, 3);
    const after = await client.collect({ timeoutMs: 180_000 });
    assert.deepEqual(
      after.map((e) => e.modelId),
      ['early-warning', 'early-warning', 'early-warning'],
    );
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
