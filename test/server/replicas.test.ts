/**
 * Several server replicas on one PostgreSQL database and one ledger (issue 18), in one process:
 * three replicas share the committer's work through row claims (FOR UPDATE SKIP LOCKED) and
 * announce results to each other (LISTEN/NOTIFY). Clients are spread across them; a replica
 * stops mid-stream and a new one starts; submissions a dead replica had claimed are taken once
 * its lease lapses. Every acknowledged upload gets exactly one result, none is sent twice, and
 * a client listening on one replica hears of results the others made.
 *
 * Not here yet: replicas as separate processes (the embedded ledger belongs to one process; a
 * SIGKILLed replica needs the ledger reachable from the others: Fabric, or the owner serving it).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { PmheClient } from '../../src/client/app.ts';
import { FolderStore } from '../../src/client/node/folder-store.ts';
import { FAST_KDF_FOR_TESTS } from '../../src/client/vault.ts';
import { simulatePerson } from '../../src/device/index.ts';
import { EmbeddedLedger } from '../../src/ledger/embedded.ts';
import type { Ledger } from '../../src/ledger/ledger.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { tempDir } from '../ledger/fixtures.ts';
import { postgresBin, startPostgres } from './postgres.ts';

const PASSPHRASE = 'replicas share one database';

/** The one ledger, as each replica gets it: a replica that stops must not close it for the others. */
function sharedLedger(ledger: EmbeddedLedger): Ledger {
  return new Proxy(ledger, {
    get: (target, name) => {
      if (name === 'close') return async () => undefined;
      const value = Reflect.get(target, name, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as unknown as Ledger;
}

test('REPLICAS: three servers on one PostgreSQL and one ledger: work shared, nothing twice, events everywhere', {
  skip: !process.env.CI && !(await postgresBin()) && 'no PostgreSQL installed',
}, async (t) => {
  const pgServer = await startPostgres();
  const dir = await tempDir('replicas');
  const ledger = await EmbeddedLedger.open(join(dir, 'ledger'));
  const replica = (n: number) =>
    startServer({
      dataDir: join(dir, `replica-${n}`),
      databaseUrl: pgServer.url,
      ledger: sharedLedger(ledger),
      port: 0,
      log: false,
      webDir: false,
    });
  const replicas: RunningServer[] = [await replica(0), await replica(1), await replica(2)];
  // In this order: the replicas, then the ledger they share, then the database.
  t.after(async () => {
    for (const r of replicas) await r.close();
    await ledger.close();
    await pgServer.stop();
  });

  // Six people, two per replica, each uploading three readings.
  const people = await Promise.all(
    [0, 1, 2, 3, 4, 5].map(async (i) => {
      const store = new FolderStore(join(dir, `person-${i}`));
      const client = await PmheClient.init(store, {
        userId: `replica-person-${i}`,
        modelId: 'early-warning',
        layout: 'packed',
        passphrase: PASSPHRASE,
        server: replicas[i % 3]?.url ?? '',
        kdf: FAST_KDF_FOR_TESTS,
      });
      await client.register();
      return { store, client, i };
    }),
  );
  // Person 0 listens on replica 1 while uploading through replica 0.
  const heard: string[] = [];
  const listener = await PmheClient.open(people[0]?.store as FolderStore, PASSPHRASE, {
    server: replicas[1]?.url ?? '',
  });
  const listening = new AbortController();
  const events = (async () => {
    try {
      for await (const e of listener.api.events(listening.signal)) heard.push(e.resultId);
    } catch {
      // aborted
    }
  })();
  await new Promise((r) => setTimeout(r, 200));

  const day = simulatePerson({ persona: 'healthy', seed: 17, days: 1 });
  for (const { client, i } of people) await client.queue(day.slice(-3 - i, day.length - i));
  await Promise.all(people.map(({ client }) => client.flush()));
  // Replica 2 stops mid-stream; its people move to replica 0; a new replica starts.
  await replicas[2]?.close();
  replicas[2] = await replica(3);
  const moved = await Promise.all(
    people.map(async ({ store, client, i }) => {
      if (i % 3 !== 2) return client;
      client[Symbol.dispose]();
      return PmheClient.open(store, PASSPHRASE, { server: replicas[0]?.url ?? '' });
    }),
  );
  const results = await Promise.all(moved.map((c) => c.collect({ timeoutMs: 120_000 })));
  assert.deepEqual(
    results.map((r) => r.length),
    [3, 3, 3, 3, 3, 3],
    'every acknowledged upload has its result',
  );

  // Exactly one result per submission, nothing refused, nothing sent twice.
  const db = replicas[0]?.db;
  assert.ok(db);
  const submissions = await db.selectFrom('submissions').selectAll().execute();
  assert.equal(submissions.length, 18);
  assert.deepEqual(
    submissions.filter((s) => s.state !== 'issued').map((s) => `${s.id}: ${s.state} ${s.error}`),
    [],
  );
  const rows = await db.selectFrom('results').select(['id', 'submission_id']).execute();
  assert.equal(rows.length, 18);
  assert.equal(new Set(rows.map((r) => r.submission_id)).size, 18);
  const sent = submissions.map((s) => s.issue_txs.length + s.receive_txs.length);
  assert.ok(
    sent.every((n) => n === 1),
    `transactions per submission: ${sent.join(' ')}`,
  );
  const used = new Set(submissions.map((s) => s.claimed_by));
  assert.ok(used.size >= 2, `the work was shared: claimed by ${[...used].join(', ')}`);

  // Person 0 heard on replica 1 of each of their results, whichever replica made it.
  const mine = results[0]?.map((e) => e.resultId) ?? [];
  const deadline = Date.now() + 10_000;
  while (!mine.every((id) => heard.includes(id)) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(
    mine.filter((id) => !heard.includes(id)),
    [],
    'events reach a client on any replica',
  );
  // A replica that died holding claims: its submissions wait for its lease to lapse, then a
  // live replica takes them. (Committers paused while the claim is planted: nothing in flight.)
  const resumes = await Promise.all(replicas.map((r) => r.committer.pause()));
  const late = moved[5] as PmheClient;
  await late.queue(day.slice(0, 2).map((r) => ({ ...r, time: r.time + 86_400_000 })));
  await late.flush();
  const planted = await db
    .updateTable('submissions')
    .set({ claimed_by: 'a-replica-that-died', claimed_until: new Date(Date.now() + 2000) })
    .where('state', '=', 'accepted')
    .returning('id')
    .execute();
  assert.equal(planted.length, 2);
  const plantedAt = Date.now();
  for (const resume of resumes) resume();
  const taken = await late.collect({ timeoutMs: 60_000 });
  assert.equal(taken.length, 2);
  assert.ok(Date.now() - plantedAt >= 2000, 'not before the dead replica’s lease lapsed');
  const now = await db
    .selectFrom('submissions')
    .select(['claimed_by', 'state'])
    .where(
      'id',
      'in',
      planted.map((r) => r.id),
    )
    .execute();
  assert.ok(
    now.every((r) => r.state === 'issued' && r.claimed_by !== 'a-replica-that-died'),
    JSON.stringify(now),
  );

  listening.abort();
  await events;
  listener[Symbol.dispose]();
  for (const c of moved) c[Symbol.dispose]();
});

test('REPLICAS: one rate allowance per user across replicas (counted in PostgreSQL)', {
  skip: !process.env.CI && !(await postgresBin()) && 'no PostgreSQL installed',
}, async (t) => {
  const pgServer = await startPostgres();
  const dir = await tempDir('replica-limits');
  const ledger = await EmbeddedLedger.open(join(dir, 'ledger'));
  const replicas: RunningServer[] = [];
  t.after(async () => {
    for (const r of replicas) await r.close();
    await ledger.close();
    await pgServer.stop();
  });
  for (const n of [0, 1]) {
    replicas.push(
      await startServer({
        dataDir: join(dir, `replica-${n}`),
        databaseUrl: pgServer.url,
        ledger: sharedLedger(ledger),
        port: 0,
        log: false,
        webDir: false,
        limits: { ratePerMinute: 4 },
      }),
    );
  }
  using client = await PmheClient.init(new FolderStore(join(dir, 'person')), {
    userId: 'limited',
    modelId: 'early-warning',
    layout: 'packed',
    passphrase: PASSPHRASE,
    server: replicas[0]?.url ?? '',
    kdf: FAST_KDF_FOR_TESTS,
  });
  await client.register();
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) {
    const base = replicas[i % 2]?.url ?? '';
    const auth = await client.user.authorization('GET', '/v1/users/me');
    statuses.push((await fetch(`${base}/v1/users/me`, { headers: { authorization: auth } })).status);
  }
  assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429], 'four a minute, whichever replica answers');
});
