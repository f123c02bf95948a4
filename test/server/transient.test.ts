/**
 * Transient ledger failures lose nothing: with Org2's peer committing 1.5 s late, and Org2's
 * chaincode restarted in mid-stream (cold caches), every acknowledged reading gets exactly one
 * result; the retries are counted in /metrics by reason.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalUser } from '../../src/client/user.ts';
import { submissionId } from '../../src/ledger/contract-client.ts';
import type { EmbeddedLedger } from '../../src/ledger/embedded.ts';
import { cohortUploads } from '../../src/models/cohort.ts';
import { startServer } from '../../src/server/server.ts';
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
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /pmhe_committer_retries\{reason="MISMATCH"\} [1-9]/);
});
