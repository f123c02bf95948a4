import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalUser, type SubmitItem } from '../../src/client/user.ts';
import { submissionId } from '../../src/ledger/contract-client.ts';
import { cohortUploads } from '../../src/models/cohort.ts';
import { exited, freePort, spawnServer } from '../../src/server/spawn.ts';
import { tempDir } from '../ledger/fixtures.ts';
import { TestClient } from './client.ts';
import { postgresBin, startPostgres } from './postgres.ts';

for (const database of ['pglite', 'postgresql'] as const) {
  test(`FAULT (${database}): the server is SIGKILLed three times under load; every acknowledged submission is committed exactly once`, {
    skip: database === 'postgresql' && !process.env.CI && !(await postgresBin()),
  }, async () => {
    const pg = database === 'postgresql' ? await startPostgres() : undefined;
    const dataDir = await tempDir('fault');
    const port = await freePort();
    const args = pg ? ['--database-url', pg.url] : [];
    let child = await spawnServer(dataDir, port, args);
    using user = await LocalUser.create({ userId: 'judy', modelId: 'early-warning', layout: 'packed' });
    const client = new TestClient(`http://127.0.0.1:${port}`, user);
    assert.equal((await client.register()).status, 201);
    const uploads = cohortUploads(user.plan, { readings: 16, seed: 2 });
    const acknowledged = new Set<string>();
    let kills = 0;
    let round = 0;
    while (kills < 3) {
      // Four clients upload for a while; the server dies under them at a random moment.
      const killAt = 300 + Math.floor(Math.random() * 900);
      const started = Date.now();
      let dead = false;
      const killer = setTimeout(() => {
        dead = true;
        child.kill('SIGKILL');
      }, killAt);
      const pending: SubmitItem[] = [];
      await Promise.all(
        [0, 1, 2, 3].map(async (w) => {
          for (let i = 0; !dead && Date.now() - started < 5_000; i++) {
            const u = uploads[(round * 7 + w * 3 + i) % uploads.length];
            const item = await user.upload(u?.readings ?? [], u?.profile);
            try {
              const reply = await client.submit([item]);
              if (reply.status === 202) acknowledged.add(submissionId(item.envelope));
              else assert.fail(`unexpected ${reply.status}: ${JSON.stringify(reply.body)}`);
            } catch {
              pending.push(item); // connection refused or reset: the client will retry it
            }
          }
        }),
      );
      clearTimeout(killer);
      await exited(child);
      kills++;
      round++;
      child = await spawnServer(dataDir, port, args);
      // Retry what got no answer: accepted now, or accepted before the crash (then refused as a replay).
      for (const item of pending) {
        const reply = await client.submit([item]);
        assert.ok(
          reply.status === 202 || (reply.body as { code?: string }).code === 'REPLAY',
          JSON.stringify(reply.body),
        );
        acknowledged.add(submissionId(item.envelope));
      }
    }
    assert.ok(acknowledged.size >= 10, `only ${acknowledged.size} acknowledged`);
    const results = await client.waitForResults(acknowledged.size, 60_000);
    const counts = new Map<string, number>();
    for (const r of results) counts.set(r.submissionId, (counts.get(r.submissionId) ?? 0) + 1);
    for (const id of acknowledged)
      assert.equal(counts.get(id), 1, `submission ${id}: ${counts.get(id) ?? 0} results`);
    child.kill('SIGTERM');
    await exited(child);
    await pg?.stop();
  });
}
