import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { LocalUser } from '../../src/client/user.ts';
import { BlockStore } from '../../src/ledger/block-store.ts';
import { WorldState } from '../../src/ledger/world-state.ts';
import type { ApiResult } from '../../src/protocol/api.ts';
import type { VitalReading } from '../../src/protocol/vitals.ts';
import { openDatabase } from '../../src/server/db/database.ts';
import { startServer } from '../../src/server/server.ts';
import { tempDir } from '../ledger/fixtures.ts';
import { keyNeedles, readingNeedles } from '../secrecy-needles.ts';
import { TestClient } from './client.ts';
import { postgresBin, startPostgres } from './postgres.ts';

async function filesUnder(dir: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(await readFile(join(entry.parentPath, entry.name)));
  }
  return out;
}

for (const database of ['pglite', 'postgresql'] as const) {
  test(`SECRECY (${database}): no secret key and no plaintext reading reaches the database, the ledger or the logs`, {
    skip: database === 'postgresql' && !process.env.CI && !(await postgresBin()),
  }, async () => {
    const pg = database === 'postgresql' ? await startPostgres() : undefined;
    const dataDir = await tempDir('secrecy');
    let logs = '';
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logs += chunk;
        done();
      },
    });
    const server = await startServer({
      dataDir,
      port: 0,
      log: pino({ level: 'debug' }, sink),
      ...(pg ? { databaseUrl: pg.url } : {}),
    });
    using user = await LocalUser.create({
      userId: 'ivy',
      modelId: 'chd-risk',
      layout: 'packed',
      presetId: 'paper-p2',
    });
    const client = new TestClient(server.url, user);
    assert.equal((await client.register()).status, 201);
    // Distinctive plaintexts: values no server-side bytes could hold by chance.
    const readings: VitalReading[] = [
      { time: 0, x: 97.31415926535, y: 83.27182818284, z: 141.41421356237, w: 17.32050807568 },
    ];
    const profile = { age: 47.1234567891, bmi: 27.9876543219, cholesterol: 233.3333333331, smoker: 1 };
    const items = await Promise.all([0, 1, 2].map(() => user.upload(readings, profile)));
    assert.equal((await client.submit(items)).status, 202);
    const [summary] = await client.waitForResults(3);
    const { body: result } = await client.get<ApiResult>(`/v1/results/${summary?.id}`);
    assert.ok(result.z && Object.keys(result.z).length > 0, 'the session produced an encrypted result');
    await server.close();

    const haystacks: [string, Buffer[]][] = [];
    haystacks.push(['logs', [Buffer.from(logs)]]);
    assert.ok(logs.includes('"msg"'), 'the logs were captured');
    haystacks.push(['database files', await filesUnder(pg ? pg.dataDir : join(dataDir, 'db'))]);
    const { db } = await openDatabase(pg ? { url: pg.url } : { dataDir: join(dataDir, 'db') });
    const rows: Buffer[] = [];
    for (const table of ['users', 'submissions', 'results', 'http_nonces'] as const) {
      for (const row of await db.selectFrom(table).selectAll().execute()) {
        for (const value of Object.values(row))
          rows.push(value instanceof Uint8Array ? Buffer.from(value) : Buffer.from(JSON.stringify(value)));
      }
    }
    await db.destroy();
    await pg?.stop();
    haystacks.push(['database rows', rows]);
    haystacks.push(['ledger files', await filesUnder(join(dataDir, 'ledger'))]);
    const ledgerValues: Buffer[] = [];
    const store = await BlockStore.open(join(dataDir, 'ledger', 'blocks'));
    for await (const block of store.blocks())
      ledgerValues.push(...block.transactions.map((t) => Buffer.from(t)));
    await store.close();
    const state = await WorldState.open(join(dataDir, 'ledger', 'state'));
    for await (const [key, { value }] of state.entries())
      ledgerValues.push(Buffer.from(key), Buffer.from(value));
    await state.close();
    haystacks.push(['ledger blocks and state', ledgerValues]);

    const secret = user.exportSecretKey();
    const needles: [string, Buffer[]][] = [
      ['the CKKS secret key', keyNeedles(secret)],
      ...[...Object.values(readings[0] as VitalReading).slice(1), ...Object.values(profile).slice(0, 3)].map(
        (v): [string, Buffer[]] => [`the reading ${v}`, readingNeedles(v as number)],
      ),
    ];
    let searched = 0;
    for (const [where, blobs] of haystacks) {
      for (const blob of blobs) {
        searched += blob.length;
        for (const [what, list] of needles) {
          for (const needle of list) assert.equal(blob.indexOf(needle), -1, `${what} found in the ${where}`);
        }
      }
    }
    assert.ok(searched > 1_000_000, `searched ${searched} bytes`);
    // The search would find them: the ciphertexts are there, and a planted key is found.
    const planted = Buffer.concat([Buffer.from('xx'), Buffer.from(secret).subarray(0, 200)]);
    assert.ok(
      keyNeedles(secret).some((n) => planted.indexOf(n) >= 0),
      'the needles would find a leak',
    );
  });
}
