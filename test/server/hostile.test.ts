/**
 * The server against hostile or careless clients (issue 13): what an attacker tried, as tests.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { decode, encode } from 'cborg';
import CRC32 from 'crc-32';
import { HEADER_BYTES } from '../../src/ckks/index.ts';
import { ClinicianClient } from '../../src/client/clinician.ts';
import { checkResult, interpret, ResultError } from '../../src/client/results.ts';
import { MemoryStore } from '../../src/client/store.ts';
import { LocalUser } from '../../src/client/user.ts';
import { FAST_KDF_FOR_TESTS } from '../../src/client/vault.ts';
import { submissionId } from '../../src/ledger/contract-client.ts';
import { cohortUploads } from '../../src/models/cohort.ts';
import type { ApiResult } from '../../src/protocol/api.ts';
import { fromBase64 } from '../../src/protocol/bytes.ts';
import { encodeCanonical } from '../../src/protocol/canonical-cbor.ts';
import { checkId } from '../../src/protocol/fields.ts';
import { importPrivateKey } from '../../src/protocol/identity.ts';
import { type Params, peekRequest, signRequest } from '../../src/protocol/request.ts';
import { itemHash, type SharedResult } from '../../src/protocol/shared-item.ts';
import { Committer } from '../../src/server/committer.ts';
import { startServer } from '../../src/server/server.ts';
import { exited, freePort, spawnServer } from '../../src/server/spawn.ts';
import { tempDir, twoModels } from '../ledger/fixtures.ts';
import { TestClient } from './client.ts';

test('SHUTDOWN: SIGTERM ends within seconds while a client holds /v1/events open', async () => {
  const port = await freePort();
  const child = await spawnServer(await tempDir('sigterm'), port, []);
  using user = await LocalUser.create({ userId: 'sam', modelId: 'early-warning', layout: 'packed' });
  const client = new TestClient(`http://127.0.0.1:${port}`, user);
  assert.equal((await client.register()).status, 201);
  const path = '/v1/events';
  const stream = await fetch(`http://127.0.0.1:${port}${path}`, {
    headers: { authorization: await user.authorization('GET', path) },
  });
  assert.equal(stream.status, 200);
  const reader = stream.body?.getReader();
  await reader?.read(); // ": connected"
  const started = Date.now();
  child.kill('SIGTERM');
  await exited(child);
  const took = Date.now() - started;
  assert.ok(took < 10_000, `the server took ${took} ms to stop`);
  // The stream was ended by the server, not left hanging.
  const rest = await reader?.read().catch(() => ({ done: true }));
  assert.equal(rest?.done, true);
});

test('REGISTRATION RACE: two registrations of one new id with different keys: one 201, the other 409', async (t) => {
  const server = await startServer({ dataDir: await tempDir('race'), port: 0, log: false });
  t.after(() => server.close());
  using a = await LocalUser.create({ userId: 'twin', modelId: 'early-warning', layout: 'packed' });
  using b = await LocalUser.create({ userId: 'twin', modelId: 'early-warning', layout: 'packed' });
  const replies = await Promise.all([a, b].map((u) => new TestClient(server.url, u).register()));
  const statuses = replies.map((r) => r.status).sort();
  assert.deepEqual(statuses, [201, 409], JSON.stringify(replies.map((r) => r.body)));
  const loser = replies.find((r) => r.status === 409) as { body: { code: string } };
  assert.equal(loser.body.code, 'USER_EXISTS');
});

test('IDS: control characters and ids too long for a Fabric state key are refused where they are read', () => {
  assert.throws(() => checkId('mal\u0000ory', 'userId'), /userId: text has a control character/);
  assert.throws(() => checkId('a\u0085b', 'userId'), /control character/);
  // 128 four-byte emoji: 256 UTF-16 units (within MAX_ID_LENGTH), 1,536 characters once encoded.
  assert.throws(() => checkId('😀'.repeat(128), 'userId'), /1536 characters once percent-encoded/);
  checkId('😀'.repeat(64), 'userId');
  checkId('a'.repeat(256), 'userId');
});

test('START REFUSED: a busy port and a data folder in use are named in one line, without a stack trace', async () => {
  const port = await freePort();
  const dir = await tempDir('busy');
  const first = await spawnServer(dir, port, []);
  try {
    const noStack = (e: Error) => !/\n\s+at /.test(e.message);
    await assert.rejects(spawnServer(await tempDir('other'), port, []), (e: Error) => {
      assert.match(e.message, /pmhe server start: port \d+ on 127\.0\.0\.1 is in use/);
      assert.ok(noStack(e), e.message);
      return true;
    });
    await assert.rejects(spawnServer(dir, await freePort(), []), (e: Error) => {
      assert.match(e.message, /another pmhe server uses/);
      assert.ok(noStack(e), e.message);
      return true;
    });
  } finally {
    first.kill('SIGTERM');
    await exited(first);
  }
});

test('LATE ISSUE: an upload sent without its issue request is issued later through POST /v1/submissions/:id/issue', async (t) => {
  const server = await startServer({ dataDir: await tempDir('late'), port: 0, log: false });
  t.after(() => server.close());
  using user = await LocalUser.create({ userId: 'lou', modelId: 'early-warning', layout: 'packed' });
  const client = new TestClient(server.url, user);
  assert.equal((await client.register()).status, 201);
  const [u] = cohortUploads(user.plan, { readings: 1, seed: 17 });
  const { envelope } = await user.upload(u?.readings ?? [], u?.profile);
  const id = submissionId(envelope);
  assert.equal((await client.submit([{ envelope }])).status, 202);
  for (let i = 0; i < 100; i++) {
    const { body } = await client.get<{ state: string }>(`/v1/submissions/${id}`);
    if (body.state === 'received') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const request = fromBase64((await user.request('issue', { submissions: [id] })).args?.[0] ?? '');
  const late = await client.raw('POST', `/v1/submissions/${id}/issue`, encode({ issue: request }));
  assert.equal(late.status, 202, JSON.stringify(late.body));
  const [result] = await client.waitForResults(1, 30_000);
  assert.equal(result?.submissionId, id);
  const again = await client.raw('POST', `/v1/submissions/${id}/issue`, encode({ issue: request }));
  assert.deepEqual([again.status, (again.body as { code: string }).code], [409, 'ALREADY_REQUESTED']);
  const other = fromBase64((await user.request('issue', { submissions: ['0'.repeat(64)] })).args?.[0] ?? '');
  const missing = await client.raw(
    'POST',
    `/v1/submissions/${'0'.repeat(64)}/issue`,
    encode({ issue: other }),
  );
  assert.equal(missing.status, 404);
});

test('ONE NONCE SPACE: an envelope reusing the nonce of an earlier issue request is refused at intake (409 REPLAY), not acknowledged', async (t) => {
  const server = await startServer({ dataDir: await tempDir('nonces'), port: 0, log: false });
  t.after(() => server.close());
  using user = await LocalUser.create({ userId: 'nia', modelId: 'early-warning', layout: 'packed' });
  const client = new TestClient(server.url, user);
  assert.equal((await client.register()).status, 201);
  const [u] = cohortUploads(user.plan, { readings: 1, seed: 19 });
  const first = await user.upload(u?.readings ?? [], u?.profile);
  assert.equal((await client.submit([first])).status, 202);
  const issueNonce = peekRequest(first.issue as Uint8Array).nonce;
  const reusing = await user.sign(user.encrypt(u?.readings ?? [], u?.profile), { nonce: issueNonce });
  const reply = await client.submit([{ envelope: reusing }]);
  assert.deepEqual([reply.status, (reply.body as unknown as { code: string }).code], [409, 'REPLAY']);
});

/** A ciphertext file with its SEAL members edited, then compressed and wrapped again (sizes, CRC). */
function rewrapped(file: Uint8Array, edit: (members: Buffer) => void): Uint8Array {
  const seal = file.subarray(HEADER_BYTES);
  const members = Buffer.from(zlib.zstdDecompressSync(seal.subarray(16)));
  edit(members);
  const compressed = zlib.zstdCompressSync(members);
  const out = new Uint8Array(HEADER_BYTES + 16 + compressed.length);
  out.set(file.subarray(0, HEADER_BYTES + 16));
  out.set(compressed, HEADER_BYTES + 16);
  const view = new DataView(out.buffer);
  view.setBigUint64(HEADER_BYTES + 8, BigInt(16 + compressed.length), true);
  view.setUint32(8, 16 + compressed.length, true);
  view.setUint32(12, CRC32.buf(out.subarray(HEADER_BYTES)) >>> 0, true);
  return out;
}

/** A fresh ciphertext whose SEAL scale is multiplied by `factor`, properly wrapped. */
function rescaled(file: Uint8Array, factor: number): Uint8Array {
  return rewrapped(file, (bytes) => {
    // The scale (a double, a power of two) sits in the metadata before the polynomials.
    const at = Array.from({ length: 200 }, (_, i) => i).find((i) => {
      const v = bytes.readDoubleLE(i);
      return v >= 2 ** 20 && v <= 2 ** 60 && Number.isInteger(Math.log2(v));
    });
    assert.ok(at !== undefined, 'the scale is in the metadata');
    bytes.writeDoubleLE(bytes.readDoubleLE(at) * factor, at);
  });
}

/**
 * One coefficient near the end with a bit cleared (it stays below its modulus). Any preset's
 * primes have at least 21 bits, so about every other coefficient has bit 20 set. (Bit 50 was
 * used before: at secure-4096, whose primes have 40 and 29 bits, no coefficient has it, and the
 * test failed when no other word near the end did either: once in CI, once in 7 runs here.)
 */
function bitCleared(file: Uint8Array): Uint8Array {
  return rewrapped(file, (bytes) => {
    // Where the coefficients' 8-byte words start depends on what SEAL writes after them: every
    // alignment is tried, and only a word that looks like a coefficient (below 2^40) is touched.
    for (let shift = 0; shift < 8; shift++) {
      let coefficients = 0;
      for (let at = bytes.length - 8 * 1000 - shift; at + 8 <= bytes.length; at += 8) {
        if (bytes.readBigUInt64LE(at) < 1n << 40n) coefficients++;
      }
      if (coefficients < 900) continue; // not this alignment
      for (let at = bytes.length - 8 * 1000 - shift; at + 8 <= bytes.length; at += 8) {
        const word = bytes.readBigUInt64LE(at);
        if (word < 1n << 40n && word & (1n << 20n)) {
          bytes.writeBigUInt64LE(word & ~(1n << 20n), at);
          return;
        }
      }
    }
    assert.fail('no coefficient with bit 20 set');
  });
}

test('ALTERED SCALE: a ciphertext at another scale, within bounds, is refused at intake (422 LAYOUT), not left to fail in the contract', async (t) => {
  const server = await startServer({ dataDir: await tempDir('scale'), port: 0, log: false });
  t.after(() => server.close());
  using user = await LocalUser.create({ userId: 'sal', modelId: 'early-warning', layout: 'packed' });
  const client = new TestClient(server.url, user);
  assert.equal((await client.register()).status, 201);
  const [u] = cohortUploads(user.plan, { readings: 1, seed: 23 });
  const [ciphertext] = user.encrypt(u?.readings ?? [], u?.profile);
  const altered = await user.uploadOf([rescaled(ciphertext as Uint8Array, 1 + 2 ** -20)]);
  const reply = await client.submit([altered]);
  assert.equal(reply.status, 422, JSON.stringify(reply.body));
  const body = reply.body as unknown as { code: string; message: string };
  assert.equal(body.code, 'LAYOUT');
  assert.match(body.message, /submissions\[0\]: ciphertexts\[0\]: scale 2\^\S+; .* exactly 2\^\d+/);
  // The same reading at its own scale still goes through, and gets its result.
  const honest = await user.upload(u?.readings ?? [], u?.profile);
  assert.equal((await client.submit([honest])).status, 202);
  const [result] = await client.waitForResults(1, 30_000);
  assert.equal(result?.submissionId, submissionId(honest.envelope));
});

test('POISONED BATCH: one envelope the contract refuses in a receive of ten is rejected alone; the nine go in one transaction', async (t) => {
  const server = await startServer({ dataDir: await tempDir('poison'), port: 0, log: false });
  t.after(() => server.close());
  using user = await LocalUser.create({ userId: 'pia', modelId: 'early-warning', layout: 'packed' });
  const client = new TestClient(server.url, user);
  assert.equal((await client.register()).status, 201);
  for (let i = 0; i < 100 && (await server.committer.backlog()) > 0; i++) await sleep(50);
  await server.committer.stop(); // hold what intake acknowledges, to poison one after intake
  const ids: string[] = [];
  for (const u of cohortUploads(user.plan, { readings: 10, seed: 29 })) {
    const { envelope } = await user.upload(u.readings, u.profile);
    assert.equal((await client.submit([{ envelope }])).status, 202);
    ids.push(submissionId(envelope));
  }
  // The stored envelope of the fourth now carries a signature that does not verify.
  const row = await server.db
    .selectFrom('submissions')
    .select('envelope')
    .where('id', '=', ids[3] as string)
    .executeTakeFirstOrThrow();
  const opened = decode(row.envelope as Uint8Array) as {
    v: number;
    signature: Uint8Array;
    submission: Uint8Array;
  };
  const signature = Uint8Array.from(opened.signature);
  signature[0] = (signature[0] as number) ^ 1;
  await server.db
    .updateTable('submissions')
    .set({ envelope: encodeCanonical({ ...opened, signature }) })
    .where('id', '=', ids[3] as string)
    .execute();
  const height = await server.ledger.height();
  const committer = new Committer(server.db, server.ledger, { log: () => undefined });
  committer.start();
  t.after(() => committer.stop());
  for (let i = 0; i < 600 && (await committer.backlog()) > 0; i++) await sleep(50);
  const rows = await server.db.selectFrom('submissions').select(['id', 'state', 'error']).execute();
  const state = new Map(rows.map((r) => [r.id, r]));
  for (const [i, id] of ids.entries()) {
    assert.equal(state.get(id)?.state, i === 3 ? 'rejected' : 'received', `${i}: ${state.get(id)?.error}`);
  }
  assert.match(state.get(ids[3] as string)?.error ?? '', /^BAD_SIGNATURE: signature: does not verify/);
  assert.equal((await server.ledger.height()) - height, 1, 'the nine healthy envelopes in one block');
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const code = (reply: { status: number; body: unknown }) => [
  reply.status,
  (reply.body as { code?: string }).code,
];

test('QUOTAS: submissions and bytes per user per day, evaluation-key bytes and registrations per address (429 QUOTA_EXCEEDED, nothing accepted lost)', async (t) => {
  const server = await startServer({
    dataDir: await tempDir('quotas'),
    port: 0,
    log: false,
    limits: { submissionsPerDay: 3, registrationsPerAddressPerDay: 3 },
  });
  t.after(() => server.close());
  using user = await LocalUser.create({ userId: 'quinn', modelId: 'early-warning', layout: 'packed' });
  const client = new TestClient(server.url, user);
  assert.equal((await client.register()).status, 201);
  const uploads = cohortUploads(user.plan, { readings: 4, seed: 31 });
  const items = await Promise.all(uploads.map((u) => user.upload(u.readings, u.profile)));
  assert.equal((await client.submit(items.slice(0, 2))).status, 202);
  // Two more would make four: refused whole, naming the quota; the two accepted stay.
  const over = await client.submit(items.slice(2, 4));
  assert.deepEqual(code(over), [429, 'QUOTA_EXCEEDED']);
  assert.match(
    (over.body as unknown as { message: string }).message,
    /submissions: 2 in the last 24 hours plus 2 would pass the quota of 3/,
  );
  assert.equal((await client.submit(items.slice(2, 3))).status, 202);
  assert.equal((await client.waitForResults(3, 60_000)).length, 3);
  // Registrations from this address: quinn (1), quinn again (2), a third user (3), a fourth: refused.
  assert.equal((await client.register()).status, 201);
  for (const [userId, expected] of [
    ['quade', 201],
    ['quill', 429],
  ] as const) {
    using other = await LocalUser.create({ userId, modelId: 'early-warning', layout: 'packed' });
    const reply = await new TestClient(server.url, other).register();
    assert.equal(reply.status, expected, JSON.stringify(reply.body));
  }

  // Evaluation keys larger than one setup may carry: 413 before the ledger is asked.
  const huge = { ...(decode(await user.registration()) as object), galoisKeys: new Uint8Array(10 * 2 ** 20) };
  const oversized = await client.raw('POST', '/v1/users', encode(huge), { auth: false });
  assert.deepEqual(code(oversized), [413, 'OVERSIZED']);
  assert.match((oversized.body as { message: string }).message, /more than the \d+ a setup may carry/);
  // A second server: bytes per day just under two uploads, evaluation-key bytes under two setups.
  const setup = decode(await user.registration()) as { relinKeys?: Uint8Array; galoisKeys?: Uint8Array };
  const keyBytes = (setup.relinKeys?.length ?? 0) + (setup.galoisKeys?.length ?? 0);
  const tight = await startServer({
    dataDir: await tempDir('quotas-bytes'),
    port: 0,
    log: false,
    limits: {
      keyBytesPerDay: Math.floor(1.5 * keyBytes),
      bytesPerDay: (items[0]?.envelope.length ?? 0) + (items[1]?.envelope.length ?? 0) - 1,
    },
  });
  t.after(() => tight.close());
  const second = new TestClient(tight.url, user);
  assert.equal((await second.register()).status, 201);
  const again = await second.register();
  assert.deepEqual(code(again), [429, 'QUOTA_EXCEEDED']);
  assert.match(
    (again.body as { message: string }).message,
    /evaluation-key bytes: \d+ in the last 24 hours plus \d+ would pass the quota of \d+/,
  );
  assert.equal((await second.submit(items.slice(0, 1))).status, 202);
  const bytes = await second.submit(items.slice(1, 2));
  assert.deepEqual(code(bytes), [429, 'QUOTA_EXCEEDED']);
  assert.match(
    (bytes.body as unknown as { message: string }).message,
    /"quinn", bytes: \d+ in the last 24 hours/,
  );
});

test('ENROLMENT: new users need an operator-issued, single-use, expiring code; registered users re-register without one', async (t) => {
  const server = await startServer({
    dataDir: await tempDir('enrol'),
    port: 0,
    log: false,
    registration: 'enrolment',
    adminToken: 'operator-secret',
  });
  t.after(() => server.close());
  const health = (await (await fetch(`${server.url}/health`)).json()) as { checks: { registration: string } };
  assert.equal(health.checks.registration, 'enrolment');
  const enrol = (hours: number, token = 'operator-secret') =>
    fetch(`${server.url}/v1/enrolments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ hours }),
    });
  assert.equal((await enrol(1, 'guess')).status, 401);
  using eve = await LocalUser.create({ userId: 'eve', modelId: 'early-warning', layout: 'packed' });
  assert.deepEqual(code(await new TestClient(server.url, eve).register()), [403, 'ENROLMENT_REQUIRED']);
  const issued = await enrol(24);
  assert.equal(issued.status, 201);
  const { token } = (await issued.json()) as { token: string };
  using ada = await LocalUser.create({ userId: 'ada', modelId: 'early-warning', layout: 'packed' });
  const ok = await new TestClient(server.url, ada).register(token);
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.deepEqual(code(await new TestClient(server.url, eve).register(token)), [403, 'ENROLMENT_INVALID']);
  assert.deepEqual(code(await new TestClient(server.url, eve).register('pmhe-enrol-made-up')), [
    403,
    'ENROLMENT_INVALID',
  ]);
  assert.equal((await new TestClient(server.url, ada).register()).status, 201, 'ada is enrolled already');
  const brief = (await (await enrol(0.0001)).json()) as { token: string };
  await sleep(600);
  assert.deepEqual(code(await new TestClient(server.url, eve).register(brief.token)), [
    403,
    'ENROLMENT_INVALID',
  ]);
  // The codes are kept only as hashes.
  const stored = await server.db.selectFrom('enrolments').select('token_hash').execute();
  assert.ok(stored.every((r) => r.token_hash !== token && /^[0-9a-f]{64}$/.test(r.token_hash)));
});

/** A server and a user registered on it, with the nonce their setup request used. */
async function registeredWithNonce(folder: string, userId: string) {
  const server = await startServer({ dataDir: await tempDir(folder), port: 0, log: false });
  const user = await LocalUser.create({ userId, modelId: 'early-warning', layout: 'packed' });
  const client = new TestClient(server.url, user);
  const body = await user.registration();
  const setupNonce = peekRequest((decode(body) as { setup: Uint8Array }).setup).nonce;
  assert.equal((await client.raw('POST', '/v1/users', body, { auth: false })).status, 201);
  return { server, user, client, setupNonce };
}

test('SETUP NONCE: an envelope reusing the nonce of the setup request is refused at intake (409 REPLAY)', async (t) => {
  const { server, user, client, setupNonce } = await registeredWithNonce('setup-nonce', 'sen');
  t.after(() => server.close());
  t.after(() => user[Symbol.dispose]());
  const [u] = cohortUploads(user.plan, { readings: 1, seed: 43 });
  const reusing = await user.sign(user.encrypt(u?.readings ?? [], u?.profile), { nonce: setupNonce });
  assert.deepEqual(code(await client.submit([{ envelope: reusing }])), [409, 'REPLAY']);
});

test('ISSUE AGAIN: a stored submission whose issue request the contract refused can be asked again; an unknown `after` is 404', async (t) => {
  const { server, user, client, setupNonce } = await registeredWithNonce('issue-again', 'ian');
  t.after(() => server.close());
  t.after(() => user[Symbol.dispose]());
  await server.committer.stop();
  const [u] = cohortUploads(user.plan, { readings: 1, seed: 47 });
  const item = await user.upload(u?.readings ?? [], u?.profile);
  const id = submissionId(item.envelope);
  assert.equal((await client.submit([item])).status, 202);
  // Stored behind intake's back: a request the contract refuses (its nonce is the setup's).
  const key = await importPrivateKey(await user.exportIdentitySeed());
  const refused = await signRequest(
    { op: 'issue', userId: 'ian', nonce: setupNonce, timestamp: Date.now(), params: { submissions: [id] } },
    key,
  );
  await server.db.updateTable('submissions').set({ issue_request: refused }).where('id', '=', id).execute();
  const committer = new Committer(server.db, server.ledger, { log: () => undefined });
  committer.start();
  t.after(() => committer.stop());
  let state: { state: string; error: string | null } = { state: '', error: null };
  for (let i = 0; i < 200 && !state.error; i++) {
    state = (await client.get<typeof state>(`/v1/submissions/${id}`)).body;
    await sleep(50);
  }
  assert.equal(state.state, 'received');
  assert.match(state.error ?? '', /REPLAY/);
  const again = fromBase64((await user.request('issue', { submissions: [id] })).args?.[0] ?? '');
  const reply = await client.raw('POST', `/v1/submissions/${id}/issue`, encode({ issue: again }));
  assert.equal(reply.status, 202, JSON.stringify(reply.body));
  committer.wake();
  const [result] = await client.waitForResults(1, 30_000);
  assert.equal(result?.submissionId, id);
  assert.deepEqual(code(await client.get(`/v1/results?after=${'ab'.repeat(32)}`)), [404, 'NOT_FOUND']);
});

test('NO ENUMERATION: a header claiming a registered id with another op, unsigned, is the same 401 as for an unknown id', async (t) => {
  const server = await startServer({ dataDir: await tempDir('enumerate'), port: 0, log: false });
  t.after(() => server.close());
  using user = await LocalUser.create({ userId: 'reg', modelId: 'early-warning', layout: 'packed' });
  assert.equal((await new TestClient(server.url, user).register()).status, 201);
  const forged = await crypto.subtle.generateKey('Ed25519', false, ['sign', 'verify']);
  const answers: unknown[] = [];
  for (const userId of ['reg', 'nobody']) {
    const signed = await signRequest(
      {
        op: 'issue',
        userId,
        nonce: crypto.getRandomValues(new Uint8Array(16)),
        timestamp: Date.now(),
        params: { submissions: ['0'.repeat(64)] },
      },
      (forged as CryptoKeyPair).privateKey,
    );
    const reply = await fetch(`${server.url}/v1/results`, {
      headers: { authorization: `PMHE-Ed25519 ${Buffer.from(signed).toString('base64')}` },
    });
    const body = (await reply.json()) as { code: string; message: string };
    answers.push([reply.status, body.code, body.message]);
  }
  assert.deepEqual(answers[0], answers[1]);
  assert.equal((answers[0] as unknown[])[0], 401);
});

test("GARBAGE IN: ciphertexts under another key, or altered and re-wrapped, cannot be told from real ones (IND-CPA); the owner's client refuses the Z they give", async (t) => {
  const server = await startServer({ dataDir: await tempDir('garbage'), port: 0, log: false });
  t.after(() => server.close());
  using alice = await LocalUser.create({ userId: 'alice', modelId: 'early-warning', layout: 'packed' });
  using mallory = await LocalUser.create({ userId: 'mallory', modelId: 'early-warning', layout: 'packed' });
  const client = new TestClient(server.url, alice);
  assert.equal((await client.register()).status, 201);
  const [u] = cohortUploads(alice.plan, { readings: 1, seed: 53 });
  const readings = u?.readings ?? [];
  const foreign = await alice.uploadOf(mallory.encrypt(readings, u?.profile));
  const [own] = alice.encrypt(readings, u?.profile);
  const altered = await alice.uploadOf([bitCleared(own as Uint8Array)]);
  // Semantic security: without the secret key a ciphertext under another key, or with a
  // coefficient changed, is as likely as any other. Intake and contract take them...
  assert.equal((await client.submit([foreign, altered])).status, 202);
  const results = await client.waitForResults(2, 60_000);
  assert.equal(results.length, 2);
  // ...and the only party who can tell, the owner, refuses to read them as a diagnosis.
  for (const summary of results) {
    const { body } = await client.get<ApiResult>(`/v1/results/${summary.id}`);
    const issued = checkResult(body, alice, summary.submissionId);
    assert.throws(
      () => interpret(alice, issued, []),
      (e: unknown) =>
        e instanceof ResultError && e.code === 'TAMPERED' && /outside its range/.test(e.message),
    );
  }
});

test('UNSUBSCRIBE: only the owner ends a subscription, once; a forged, replayed or malformed request changes nothing', async (t) => {
  const server = await startServer({ dataDir: await tempDir('unsubscribe'), port: 0, log: false });
  t.after(() => server.close());
  const [ew, chd] = await twoModels('uma');
  using _ew = ew;
  using _chd = chd;
  using mallory = await LocalUser.create({ userId: 'mallory', modelId: 'chd-risk', layout: 'packed' });
  const uma = new TestClient(server.url, ew);
  const evil = new TestClient(server.url, mallory);
  for (const c of [uma, new TestClient(server.url, chd), evil])
    assert.equal((await c.register()).status, 201);
  const models = async () =>
    ((await uma.get<{ subscriptions: { modelId: string }[] }>('/v1/users/me')).body.subscriptions ?? []).map(
      (s) => s.modelId,
    );
  assert.deepEqual(await models(), ['early-warning', 'chd-risk']);
  const requestOf = async (user: LocalUser, modelId: string) =>
    fromBase64((await user.request('unsubscribe', { modelId })).args?.[0] ?? '');
  const path = '/v1/users/me/unsubscribe';
  // Mallory, authenticated as herself, sends uma's request or her own for uma's model.
  const umaRequest = await requestOf(chd, 'chd-risk');
  const stolen = await evil.raw('POST', path, encode({ request: umaRequest }));
  assert.equal(stolen.status, 401, JSON.stringify(stolen.body)); // not verified with her key
  const missing = await evil.raw(
    'POST',
    path,
    encode({ request: await requestOf(mallory, 'early-warning') }),
  );
  assert.deepEqual([missing.status, (missing.body as { code: string }).code], [409, 'NOT_SUBSCRIBED']);
  const junk = await uma.raw('POST', path, encode({ request: new Uint8Array([1, 2, 3]) }));
  assert.ok(junk.status >= 400 && junk.status < 500, `junk: ${junk.status}`);
  const wrongOp = await uma.raw(
    'POST',
    path,
    encode({ request: fromBase64((await chd.request('results')).args?.[0] ?? '') }),
  );
  assert.ok(wrongOp.status >= 400 && wrongOp.status < 500, `a results request: ${wrongOp.status}`);
  assert.deepEqual(await models(), ['early-warning', 'chd-risk']);
  // The owner ends it; the same request again is a replay; another is NOT_SUBSCRIBED.
  const ended = await uma.raw('POST', path, encode({ request: umaRequest }));
  assert.equal(ended.status, 200, JSON.stringify(ended.body));
  assert.deepEqual(await models(), ['early-warning']);
  const again = await uma.raw('POST', path, encode({ request: umaRequest }));
  assert.equal(again.status, 409);
  const fresh = await uma.raw('POST', path, encode({ request: await requestOf(chd, 'chd-risk') }));
  assert.deepEqual([fresh.status, (fresh.body as { code: string }).code], [409, 'NOT_SUBSCRIBED']);
  // Mallory's own subscription is untouched.
  assert.deepEqual(
    ((await evil.get<{ subscriptions: { modelId: string }[] }>('/v1/users/me')).body.subscriptions ?? []).map(
      (s) => s.modelId,
    ),
    ['chd-risk'],
  );
});

test('CLOSE AND SHARE: only the owner closes, once; items of someone else, with another hash, or from a clinician are refused; people cannot read shares', async (t) => {
  const server = await startServer({ dataDir: await tempDir('close-share'), port: 0, log: false });
  t.after(() => server.close());
  using vic = await LocalUser.create({ userId: 'vic', modelId: 'early-warning', layout: 'packed' });
  using mallory = await LocalUser.create({ userId: 'mallory', modelId: 'early-warning', layout: 'packed' });
  const victim = new TestClient(server.url, vic);
  const evil = new TestClient(server.url, mallory);
  for (const c of [victim, evil]) assert.equal((await c.register()).status, 201);
  const doctor = await ClinicianClient.init(new MemoryStore(), {
    clinicianId: 'dr-ok',
    name: 'Dr OK',
    passphrase: 'a clinician passphrase',
    server: server.url,
    kdf: FAST_KDF_FOR_TESTS,
  });
  await doctor.register();
  const signed = async (user: LocalUser, op: 'grant' | 'share' | 'close', params: Params = {}) =>
    fromBase64((await user.request(op, params)).args?.[0] ?? '');
  const grant = await victim.raw(
    'POST',
    '/v1/grants',
    encode({
      request: await signed(vic, 'grant', {
        clinicianId: 'dr-ok',
        boxKey: doctor.boxKey,
        models: ['early-warning'],
        from: 0,
        until: Date.now() + 3_600_000,
      }),
    }),
  );
  assert.equal(grant.status, 201, JSON.stringify(grant.body));
  const [upload] = cohortUploads(vic.plan, { readings: 1, seed: 3 });
  assert.equal(
    (await victim.submit([await vic.upload(upload?.readings ?? [], upload?.profile)])).status,
    202,
  );
  const [result] = await victim.waitForResults(1);
  const resultId = result?.id ?? '';
  const shared: SharedResult = {
    v: 1,
    userId: 'vic',
    clinicianId: 'dr-ok',
    resultId,
    txId: resultId,
    blockNumber: 1,
    submissionId: result?.submissionId ?? '',
    modelId: 'early-warning',
    layout: 'packed',
    readAt: 0,
    recordedAt: 0,
    values: {},
    diagnosis: { model: 'early-warning', label: 'x', level: 'normal', borderline: false, findings: [] },
  };
  const code = (r: { status: number; body: unknown }) => [r.status, (r.body as { code?: string }).code];
  // An item sealed and signed by mallory, claiming to be vic's, with vic's own share request.
  const forged = await mallory.sealForClinician(shared, doctor.boxKey);
  const forgedShare = await victim.raw(
    'POST',
    '/v1/shares',
    encode({
      request: await signed(vic, 'share', { clinicianId: 'dr-ok', resultId, item: itemHash(forged) }),
      item: forged,
    }),
  );
  assert.deepEqual(code(forgedShare), [401, 'BAD_SIGNATURE']);
  // vic's item with a share request naming another hash.
  const item = await vic.sealForClinician(shared, doctor.boxKey);
  const otherHash = await victim.raw(
    'POST',
    '/v1/shares',
    encode({
      request: await signed(vic, 'share', { clinicianId: 'dr-ok', resultId, item: 'ab'.repeat(32) }),
      item,
    }),
  );
  assert.deepEqual(code(otherHash), [400, 'BAD_FIELD']);
  // Mallory has no grant to dr-ok: refused before the ledger.
  const hers = await mallory.sealForClinician({ ...shared, userId: 'mallory' }, doctor.boxKey);
  const noGrant = await evil.raw(
    'POST',
    '/v1/shares',
    encode({
      request: await signed(mallory, 'share', { clinicianId: 'dr-ok', resultId, item: itemHash(hers) }),
      item: hers,
    }),
  );
  assert.deepEqual(code(noGrant), [403, 'NO_GRANT']);
  assert.match((noGrant.body as { message: string }).message, /there is no grant from "mallory" to "dr-ok"/);
  // A person cannot list shares; the clinician sees only what was shared with them (nothing yet).
  assert.deepEqual(code(await victim.get('/v1/shares')), [403, 'FORBIDDEN']);
  assert.deepEqual((await doctor.inbox()).items, []);
  const ok = await victim.raw(
    'POST',
    '/v1/shares',
    encode({
      request: await signed(vic, 'share', { clinicianId: 'dr-ok', resultId, item: itemHash(item) }),
      item,
    }),
  );
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.equal((await doctor.inbox()).items.length, 1);

  // Closing: mallory sends vic's close request (her own signature on the call): not verified with her key.
  const vicClose = await signed(vic, 'close');
  const stolen = await evil.raw('POST', '/v1/users/me/close', encode({ request: vicClose }));
  assert.deepEqual(code(stolen), [401, 'BAD_SIGNATURE']);
  const junk = await victim.raw('POST', '/v1/users/me/close', encode({ request: new Uint8Array([1, 2, 3]) }));
  assert.ok(junk.status >= 400 && junk.status < 500, `junk: ${junk.status}`);
  assert.equal((await victim.get('/v1/users/me')).status, 200, 'nothing was closed');
  const closed = await victim.raw('POST', '/v1/users/me/close', encode({ request: vicClose }));
  assert.equal(closed.status, 200, JSON.stringify(closed.body));
  assert.deepEqual(code(await victim.raw('POST', '/v1/users/me/close', encode({ request: vicClose }))), [
    401,
    'UNAUTHENTICATED',
  ]);
  assert.deepEqual((await doctor.inbox()).items, [], 'what vic shared went with the account');
  assert.equal((await evil.get('/v1/users/me')).status, 200, 'mallory is untouched');
});
