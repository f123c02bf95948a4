/**
 * Transient ledger failures lose nothing: with Org2's peer committing 1.5 s late, and Org2's
 * chaincode restarted in mid-stream (cold caches), every acknowledged reading gets exactly one
 * result; the retries are counted in /metrics by reason.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalUser } from '../../src/client/user.ts';
import { submissionId } from '../../src/ledger/contract-client.ts';
import { EmbeddedLedger } from '../../src/ledger/embedded.ts';
import { LedgerError } from '../../src/ledger/errors.ts';
import type { Ledger, Prepared } from '../../src/ledger/ledger.ts';
import { cohortUploads } from '../../src/models/cohort.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { tempDir } from '../ledger/fixtures.ts';
import { TestClient } from './client.ts';

test('TRANSIENT: a lagging organisation and a chaincode restart delay readings, never lose or duplicate them', async (t) => {
  const server = await startServer({
    dataDir: await tempDir('transient'),
    port: 0,
    log: false,
    simulationWorkers: 1,
    endorsers: [{ mspid: 'Org1MSP' }, { mspid: 'Org2MSP', lagMs: 1500 }],
  });
  t.after(() => server.close());
  using user = await LocalUser.create({ userId: 'tara', modelId: 'early-warning', layout: 'packed' });
  const client = new TestClient(server.url, user);
  assert.equal((await client.register()).status, 201);
  // At once: Org2 has not committed the setup yet, so it refuses what Org1 endorses.
  const uploads = cohortUploads(user.plan, { readings: 8, seed: 11 });
  const ids: string[] = [];
  for (const [i, u] of uploads.entries()) {
    const item = await user.upload(u.readings, u.profile);
    const reply = await client.submit([item]);
    assert.equal(reply.status, 202, JSON.stringify(reply.body));
    ids.push(submissionId(item.envelope));
    if (i === 3) await (server.ledger as EmbeddedLedger).restartChaincode(1);
  }
  const results = await client.waitForResults(ids.length, 60_000);
  const counts = new Map<string, number>();
  for (const r of results) counts.set(r.submissionId, (counts.get(r.submissionId) ?? 0) + 1);
  for (const id of ids) assert.equal(counts.get(id), 1, `submission ${id}: ${counts.get(id) ?? 0} results`);
  for (const id of ids) {
    const { body } = await client.get<{ state: string; error?: string }>(`/v1/submissions/${id}`);
    assert.equal(body.state, 'issued', JSON.stringify(body));
  }
  const metrics = await scrape(server);
  assert.match(metrics, /pmhe_committer_retries\{reason="MISMATCH"\} [1-9]/);
});

/**
 * The real embedded ledger behind a fault injector: the next `faults.left` transactions sent fail
 * as Fabric's gateway reports an unreachable chaincode server (MISMATCH), nothing ordered.
 */
function flaky(ledger: EmbeddedLedger, faults: { left: number }): Ledger {
  return new Proxy(ledger, {
    get(target, name) {
      if (name !== 'prepare') {
        const value = Reflect.get(target, name, target);
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return async (name: string, proposal: Parameters<Ledger['prepare']>[1]): Promise<Prepared> => {
        const prepared = await target.prepare(name, proposal);
        return {
          txId: prepared.txId,
          submit: () =>
            faults.left-- > 0
              ? Promise.reject(
                  new LedgerError('MISMATCH', 'could not launch chaincode pmhe_org2: connection refused'),
                )
              : prepared.submit(),
        };
      };
    },
  }) as Ledger;
}

test('BACKOFF: nine transient failures delay only the submissions they hit, by their own count (not 30 s for everyone)', async (t) => {
  const dataDir = await tempDir('backoff');
  const ledger = await EmbeddedLedger.open(`${dataDir}/ledger-flaky`, { workers: 1 });
  const faults = { left: 2 };
  const server = await startServer({ dataDir, port: 0, log: false, ledger: flaky(ledger, faults) });
  t.after(() => server.close());
  using user = await LocalUser.create({ userId: 'bea', modelId: 'early-warning', layout: 'packed' });
  const client = new TestClient(server.url, user);
  // Registration meets two failures, and retries them itself.
  assert.equal((await client.register()).status, 201);
  assert.equal(faults.left, -1, 'registration was tried three times');
  faults.left = 9;
  const uploads = cohortUploads(user.plan, { readings: 12, seed: 13 });
  const started = Date.now();
  const items = await Promise.all(uploads.map((u) => user.upload(u.readings, u.profile)));
  assert.equal((await client.submit(items)).status, 202);
  const results = await client.waitForResults(items.length, 20_000);
  const elapsed = Date.now() - started;
  assert.equal(results.length, items.length);
  // A global doubling delay would have reached 0.5 s × 2⁸ (capped at 30 s) after nine failures.
  assert.ok(elapsed < 12_000, `all results after ${elapsed} ms`);
  const metrics = await scrape(server);
  const retried = Number(/pmhe_committer_retries\{reason="MISMATCH"\} (\d+)/.exec(metrics)?.[1] ?? 0);
  assert.ok(retried >= 1 && retried <= 9, `${retried} retries counted`);
});

/** The server's /metrics, with its bearer token. */
async function scrape(server: RunningServer): Promise<string> {
  const reply = await fetch(server.metrics.url, {
    headers: { authorization: `Bearer ${server.metrics.token}` },
  });
  assert.equal(reply.status, 200);
  return reply.text();
}
