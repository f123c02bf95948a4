/**
 * Three `pmhe server start` processes on one PostgreSQL database and one embedded ledger (issue
 * 18): the first owns the ledger and serves it (--serve-ledger), the others use it
 * (--ledger-url). Clients are spread across the three; one replica is SIGKILLed mid-stream and
 * started again. Every acknowledged upload gets exactly one result, and a client whose events
 * stream is on another replica hears of each of its results.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { PmheClient } from '../../src/client/app.ts';
import { FolderStore } from '../../src/client/node/folder-store.ts';
import { FAST_KDF_FOR_TESTS } from '../../src/client/vault.ts';
import { simulatePerson } from '../../src/device/index.ts';
import { exited, freePort, spawnServer } from '../../src/server/spawn.ts';
import { tempDir } from '../ledger/fixtures.ts';
import { postgresBin, startPostgres } from './postgres.ts';

const PASSPHRASE = 'replicas as processes';
const TOKEN = 'a-ledger-token-for-the-test';

test('REPLICA PROCESSES: three servers, one SIGKILLed mid-stream and restarted; every upload one result, events on any replica', {
  skip: !process.env.CI && !(await postgresBin()) && 'no PostgreSQL installed',
}, async (t) => {
  const pgServer = await startPostgres();
  const dir = await tempDir('replica-processes');
  const children: ChildProcess[] = [];
  t.after(async () => {
    for (const c of children) {
      c.kill('SIGTERM');
      await exited(c);
    }
    await pgServer.stop();
  });
  const env = { DATABASE_URL: pgServer.url, PMHE_LEDGER_TOKEN: TOKEN, PMHE_CLAIM_LEASE_MS: '3000' };
  const start = async (n: number, extra: string[]) => {
    const port = await freePort();
    const child = await spawnServer(join(dir, `replica-${n}`), port, ['--no-web', ...extra], { env });
    children.push(child);
    return { url: `http://127.0.0.1:${port}`, child };
  };
  const owner = await start(0, ['--serve-ledger']);
  const urls = [owner.url, (await start(1, ['--ledger-url', owner.url])).url];
  const third = await start(2, ['--ledger-url', owner.url]);
  urls.push(third.url);

  const people = await Promise.all(
    [0, 1, 2, 3, 4, 5].map(async (i) => {
      const store = new FolderStore(join(dir, `person-${i}`));
      const client = await PmheClient.init(store, {
        userId: `process-person-${i}`,
        modelId: 'early-warning',
        layout: 'packed',
        passphrase: PASSPHRASE,
        server: urls[i % 3] ?? '',
        kdf: FAST_KDF_FOR_TESTS,
      });
      await client.register();
      return { store, client, i };
    }),
  );
  // Person 0 uploads through replica 0 and listens on replica 1.
  const heard: string[] = [];
  const listener = await PmheClient.open(people[0]?.store as FolderStore, PASSPHRASE, {
    server: urls[1] ?? '',
  });
  const listening = new AbortController();
  const events = (async () => {
    try {
      for await (const e of listener.api.events(listening.signal)) heard.push(e.resultId);
    } catch {
      // aborted
    }
  })();
  await new Promise((r) => setTimeout(r, 300));

  const day = simulatePerson({ persona: 'healthy', seed: 23, days: 1 });
  for (const { client, i } of people) await client.queue(day.slice(-3 - i, day.length - i));
  const flushed = await Promise.all(people.map(({ client }) => client.flush()));
  assert.deepEqual(
    flushed.map((f) => f.sent),
    [3, 3, 3, 3, 3, 3],
    'every upload acknowledged',
  );
  // Mid-stream: replica 2 dies with whatever it had claimed, and is started again.
  third.child.kill('SIGKILL');
  await exited(third.child);
  const restarted = await start(3, ['--ledger-url', owner.url]);
  const moved = await Promise.all(
    people.map(async ({ store, client, i }) => {
      if (i % 3 !== 2) return client;
      client[Symbol.dispose]();
      return PmheClient.open(store, PASSPHRASE, { server: restarted.url });
    }),
  );
  const results = await Promise.all(moved.map((c) => c.collect({ timeoutMs: 120_000 })));
  assert.deepEqual(
    results.map((r) => r.length),
    [3, 3, 3, 3, 3, 3],
    'every acknowledged upload has its result',
  );

  const db = new pg.Client({ connectionString: pgServer.url });
  await db.connect();
  try {
    const { rows } = await db.query<{ state: string; n: string }>(
      'select state, count(*) as n from submissions group by state',
    );
    assert.deepEqual(
      rows.map((r) => [r.state, Number(r.n)]),
      [['issued', 18]],
    );
    const per = await db.query<{ n: string }>(
      'select count(*) as n from results group by submission_id having count(*) > 1',
    );
    assert.equal(per.rowCount, 0, 'exactly one result per submission');
    const sends = await db.query<{ extra: string }>(
      'select coalesce(sum(cardinality(issue_txs) + cardinality(receive_txs) - 1), 0) as extra from submissions',
    );
    t.diagnostic(`transactions sent again after the kill: ${sends.rows[0]?.extra}`);
  } finally {
    await db.end();
  }
  const mine = results[0]?.map((e) => e.resultId) ?? [];
  const deadline = Date.now() + 10_000;
  while (!mine.every((id) => heard.includes(id)) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(
    mine.filter((id) => !heard.includes(id)),
    [],
    'events reach a client on another replica',
  );
  listening.abort();
  await events;
  listener[Symbol.dispose]();
  for (const c of moved) c[Symbol.dispose]();
  // A replica with the wrong ledger token is told so at its first ledger call.
  const port = await freePort();
  const wrong = await spawnServer(join(dir, 'wrong'), port, ['--no-web', '--ledger-url', owner.url], {
    env: { ...env, PMHE_LEDGER_TOKEN: 'not-the-token' },
  });
  children.push(wrong);
  const ready = await fetch(`http://127.0.0.1:${port}/ready`);
  assert.equal(ready.status, 503);
  assert.match(
    ((await ready.json()) as { checks: { ledger: string } }).checks.ledger,
    /refused the ledger token/,
  );
});
