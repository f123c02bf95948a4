import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { encode } from 'cborg';
import pino from 'pino';
import { ClinicianClient } from '../../src/client/clinician.ts';
import { MemoryStore } from '../../src/client/store.ts';
import { LocalUser } from '../../src/client/user.ts';
import { FAST_KDF_FOR_TESTS, Vault } from '../../src/client/vault.ts';
import { BlockStore } from '../../src/ledger/block-store.ts';
import { WorldState } from '../../src/ledger/world-state.ts';
import type { ApiResult } from '../../src/protocol/api.ts';
import { fromBase64 } from '../../src/protocol/bytes.ts';
import { boxKeyPair, hpke, itemHash, type SharedResult } from '../../src/protocol/shared-item.ts';
import type { VitalReading } from '../../src/protocol/vitals.ts';
import { openDatabase } from '../../src/server/db/database.ts';
import { startServer } from '../../src/server/server.ts';
import { tempDir } from '../ledger/fixtures.ts';
import { encodings, keyNeedles, readingNeedles } from '../secrecy-needles.ts';
import { TestClient } from './client.ts';
import { postgresBin, startPostgres } from './postgres.ts';

async function filesUnder(dir: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(await readFile(join(entry.parentPath, entry.name)));
  }
  return out;
}

const SHARED_LABEL = 'a distinctive shared diagnosis 7f3a9c';
const SHARED_VALUE = 0.1234567890123;

for (const database of ['pglite', 'postgresql'] as const) {
  test(`SECRECY (${database}): no secret key (a person's or a clinician's), no plaintext reading and no shared diagnosis reaches the database, the ledger or the logs`, {
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

    // A clinician registers; ivy grants and shares the result's diagnosis, sealed to them.
    const clinicianStore = new MemoryStore();
    const clinician = await ClinicianClient.init(clinicianStore, {
      clinicianId: 'dr-secret',
      name: 'Dr Secret',
      passphrase: 'the clinician passphrase',
      server: server.url,
      kdf: FAST_KDF_FOR_TESTS,
    });
    await clinician.register();
    const grantRequest = await user.request('grant', {
      clinicianId: 'dr-secret',
      boxKey: clinician.boxKey,
      models: ['chd-risk'],
      from: 0,
      until: Date.now() + 3_600_000,
    });
    const grant = encode({ request: fromBase64(grantRequest.args?.[0] ?? '') });
    assert.equal((await client.raw('POST', '/v1/grants', grant)).status, 201);
    const shared: SharedResult = {
      v: 1,
      userId: 'ivy',
      clinicianId: 'dr-secret',
      resultId: result.id,
      txId: result.txId,
      blockNumber: result.blockNumber,
      submissionId: summary?.submissionId ?? '',
      modelId: 'chd-risk',
      layout: 'packed',
      readAt: 0,
      recordedAt: result.timestamp,
      values: { risk: SHARED_VALUE },
      diagnosis: { model: 'chd-risk', label: SHARED_LABEL, level: 'low', borderline: false, findings: [] },
    };
    const item = await user.sealForClinician(shared, clinician.boxKey);
    const shareRequest = await user.request('share', {
      clinicianId: 'dr-secret',
      resultId: result.id,
      item: itemHash(item),
    });
    const body = encode({ request: fromBase64(shareRequest.args?.[0] ?? ''), item });
    assert.equal((await client.raw('POST', '/v1/shares', body)).status, 201);
    const inbox = await clinician.inbox();
    assert.equal(inbox.items[0]?.diagnosis.label, SHARED_LABEL, 'the clinician read it');
    const clinicianVault = await Vault.open(clinicianStore, 'the clinician passphrase');
    const boxSeed = clinicianVault.clinician?.boxSeed ?? new Uint8Array(0);
    const boxPrivate = new Uint8Array(
      await hpke.kem.serializePrivateKey((await boxKeyPair(boxSeed)).privateKey),
    );
    await server.close();

    const haystacks: [string, Buffer[]][] = [];
    haystacks.push(['logs', [Buffer.from(logs)]]);
    assert.ok(logs.includes('"msg"'), 'the logs were captured');
    haystacks.push(['database files', await filesUnder(pg ? pg.dataDir : join(dataDir, 'db'))]);
    const { db } = await openDatabase(pg ? { url: pg.url } : { dataDir: join(dataDir, 'db') });
    const rows: Buffer[] = [];
    for (const table of ['users', 'submissions', 'results', 'http_nonces', 'grants', 'shares'] as const) {
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
      // The clinician's private keys: Ed25519 seed, X25519 seed and key (32 bytes each, whole).
      ['the clinician’s Ed25519 seed', encodings(clinicianVault.identitySeed)],
      ['the clinician’s X25519 seed', encodings(boxSeed)],
      ['the clinician’s X25519 private key', encodings(boxPrivate)],
      // What was shared: sealed, so neither the diagnosis nor its value is readable server-side.
      ['the shared diagnosis', [Buffer.from(SHARED_LABEL)]],
      ['the shared value', readingNeedles(SHARED_VALUE)],
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
