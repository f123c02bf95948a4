import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { encode } from 'cborg';
import { sql } from 'kysely';
import { LocalUser } from '../../src/client/user.ts';
import type { IssuedResult } from '../../src/ledger/contract-client.ts';
import { cohortUploads } from '../../src/models/cohort.ts';
import { runClear, tupleVectors } from '../../src/models/runtime.ts';
import { type ApiResult, AUTH_SCHEME } from '../../src/protocol/api.ts';
import { sha256Hex, toBase64 } from '../../src/protocol/bytes.ts';
import { signRequest } from '../../src/protocol/request.ts';
import { reclaimSpace } from '../../src/server/db/database.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { tempDir } from '../ledger/fixtures.ts';
import { TestClient } from './client.ts';
import { type PostgresServer, postgresBin, startPostgres } from './postgres.ts';

const asIssued = (r: ApiResult): IssuedResult => ({ result: r as unknown as IssuedResult['result'], z: r.z });

for (const database of ['pglite', 'postgresql'] as const) {
  describe(`server on ${database}`, {
    skip: database === 'postgresql' && !process.env.CI && !(await postgresBin()),
  }, () => {
    let pg: PostgresServer | undefined;
    let server: RunningServer;
    let dataDir: string;
    let alice: TestClient;
    let bob: TestClient;

    const start = async () =>
      startServer({
        dataDir,
        port: 0,
        log: false,
        ...(pg ? { databaseUrl: pg.url } : {}),
        limits: { bodyBytes: 4 * 1024 * 1024 },
      });

    before(async () => {
      if (database === 'postgresql') pg = await startPostgres();
      dataDir = await tempDir('server');
      server = await start();
      alice = new TestClient(
        server.url,
        await LocalUser.create({ userId: 'alice', modelId: 'early-warning', layout: 'packed' }),
      );
      bob = new TestClient(
        server.url,
        await LocalUser.create({ userId: 'bob', modelId: 'early-warning', layout: 'paper' }),
      );
      for (const c of [alice, bob]) assert.equal((await c.register()).status, 201);
    });

    after(async () => {
      await server.close();
      await pg?.stop();
    });

    test('a session: catalogue, upload with issue, result event, Z decrypts to the clear model', async () => {
      const catalogue = (
        await alice.get<{ models: { id: string; templates: { id: string }[] }[] }>('/v1/catalogue')
      ).body;
      assert.ok(
        catalogue.models
          .find((m) => m.id === 'early-warning')
          ?.templates.some((t) => t.id === 'early-warning-packed'),
      );
      const events = await fetch(`${server.url}/v1/events`, {
        headers: { authorization: await alice.user.authorization('GET', '/v1/events') },
      });
      assert.equal(events.status, 200);
      const uploads = cohortUploads(alice.user.plan, { readings: 3, seed: 4 });
      const items = await Promise.all(uploads.map((u) => alice.user.upload(u.readings, u.profile)));
      const accepted = await alice.submit(items);
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      assert.deepEqual(
        accepted.body.submissions.map((s) => s.state),
        ['accepted', 'accepted', 'accepted'],
      );
      // The first result arrives as a server-sent event.
      const reader = (events.body as ReadableStream<Uint8Array>).getReader();
      let text = '';
      while (!text.includes('event: result')) text += new TextDecoder().decode((await reader.read()).value);
      await reader.cancel();
      const results = await alice.waitForResults(3);
      assert.equal(results.length, 3);
      for (const summary of results) {
        const { body: result } = await alice.get<ApiResult>(`/v1/results/${summary.id}`);
        const i = accepted.body.submissions.findIndex((s) => s.id === result.submissionId);
        const upload = uploads[i];
        assert.ok(upload);
        const q = alice.user.decrypt(asIssued(result));
        const clear = runClear(
          alice.user.plan,
          tupleVectors(alice.user.plan, upload.readings, upload.profile),
        );
        assert.ok(Math.abs((q.total?.[0] as number) - (clear.total?.[0] as number)) < 0.05);
        assert.equal(result.txId, summary.id);
        const status = await alice.get<{ state: string; blockNumber: number; txId: string }>(
          `/v1/submissions/${result.submissionId}`,
        );
        assert.equal(status.body.state, 'issued');
        // One ordered transaction per real-time reading: the issue that carried the envelope.
        const receipt = await server.ledger.getTransaction(status.body.txId);
        assert.deepEqual([receipt.function, receipt.blockNumber], ['issue', status.body.blockNumber]);
        assert.equal(status.body.txId, result.txId);
        assert.ok((await server.ledger.getTransaction(result.txId)).blockNumber === result.blockNumber);
      }
      const later = await alice.get<{ results: unknown[] }>(`/v1/results?after=${results[1]?.id}`);
      assert.equal(later.body.results.length, 1);
    });

    test('bad input: each refusal is a precise 4xx, the server keeps serving, nothing accepted is lost', async () => {
      const [upload] = cohortUploads(bob.user.plan, { readings: 1, seed: 9 });
      assert.ok(upload);
      const good = await bob.user.upload(upload.readings, upload.profile);
      assert.equal((await bob.submit([good])).status, 202);
      const expect = async (
        reply: Promise<{ status: number; body: unknown }>,
        status: number,
        code: string,
      ) => {
        const r = await reply;
        assert.equal(r.status, status, JSON.stringify(r.body));
        assert.equal((r.body as { code: string }).code, code, JSON.stringify(r.body));
      };
      const body = encode([good]);
      await expect(bob.raw('POST', '/v1/submissions', new Uint8Array([0xff, 0x00, 0x13])), 400, 'MALFORMED');
      await expect(bob.raw('POST', '/v1/submissions', encode({ not: 'a list' })), 400, 'BAD_FIELD');
      await expect(bob.submit([good]), 409, 'REPLAY');
      const fresh = await bob.user.upload(upload.readings, upload.profile);
      const truncated = { ...fresh, envelope: fresh.envelope.subarray(0, fresh.envelope.length - 100) };
      await expect(bob.submit([truncated]), 400, 'MALFORMED');
      const tampered = new Uint8Array(fresh.envelope);
      tampered[tampered.length - 50] = (tampered[tampered.length - 50] as number) ^ 1;
      await expect(bob.submit([{ envelope: tampered }]), 401, 'BAD_SIGNATURE');
      await expect(
        bob.submit([{ envelope: (await alice.user.upload(upload.readings)).envelope }]),
        403,
        'FORBIDDEN',
      );
      const stale = await bob.user.upload(upload.readings, upload.profile, Date.now() - 3_600_000);
      await expect(bob.submit([stale]), 401, 'STALE');
      const otherIssue = await bob.user.upload(upload.readings, upload.profile);
      await expect(bob.submit([{ envelope: fresh.envelope, issue: otherIssue.issue }]), 400, 'BAD_FIELD');
      // Correctly signed, wrong inside: foreign preset, wrong template version, broken ciphertext.
      using foreign = await LocalUser.create({
        userId: 'x',
        modelId: 'early-warning',
        layout: 'paper',
        presetId: 'paper-p1',
      });
      const foreignCts = foreign.encrypt(upload.readings, upload.profile);
      await expect(bob.submit([{ envelope: await bob.user.sign(foreignCts) }]), 422, 'CKKS_FOREIGN_PRESET');
      await expect(
        bob.submit([{ envelope: await bob.user.sign(foreignCts, { presetId: 'paper-p1' }) }]),
        409,
        'WRONG_TEMPLATE',
      );
      const mine = bob.user.encrypt(upload.readings, upload.profile);
      const template = { id: bob.user.plan.template.id, version: bob.user.plan.template.version + 1 };
      await expect(
        bob.submit([{ envelope: await bob.user.sign(mine, { template }) }]),
        409,
        'WRONG_TEMPLATE_VERSION',
      );
      const broken = mine.map((c, i) => (i === 0 ? c.subarray(0, c.length - 9) : c));
      await expect(bob.submit([{ envelope: await bob.user.sign(broken) }]), 422, 'CKKS_TRUNCATED');
      await expect(bob.submit([{ envelope: await bob.user.sign(mine.slice(1)) }]), 422, 'LAYOUT');
      // Authentication: missing, replayed, for another path or body, from a stranger.
      await expect(bob.raw('GET', '/v1/results', undefined, { auth: false }), 401, 'UNAUTHENTICATED');
      const header = await bob.user.authorization('GET', '/v1/results');
      assert.equal((await bob.raw('GET', '/v1/results', undefined, { authorization: header })).status, 200);
      await expect(bob.raw('GET', '/v1/results', undefined, { authorization: header }), 409, 'REPLAY');
      const elsewhere = await bob.user.authorization('GET', '/v1/catalogue');
      await expect(
        bob.raw('GET', '/v1/results', undefined, { authorization: elsewhere }),
        401,
        'BAD_SIGNATURE',
      );
      const otherBody = await bob.user.authorization('POST', '/v1/submissions', new Uint8Array([1]));
      await expect(
        bob.raw('POST', '/v1/submissions', body, { authorization: otherBody }),
        401,
        'BAD_SIGNATURE',
      );
      using stranger = await LocalUser.create({
        userId: 'mallory',
        modelId: 'early-warning',
        layout: 'paper',
      });
      await expect(new TestClient(server.url, stranger).get('/v1/results'), 401, 'UNAUTHENTICATED');
      // A registered id signed with another key gets the very same answer: no oracle for ids.
      using forger = await LocalUser.create({ userId: 'bob', modelId: 'early-warning', layout: 'paper' });
      await expect(new TestClient(server.url, forger).get('/v1/results'), 401, 'UNAUTHENTICATED');
      // Base64 is read strictly: Node's lenient decoder would skip spaces and "!!!".
      const signedGet = await bob.user.authorization('GET', '/v1/results');
      for (const bad of [
        signedGet.replace(' ', '  '),
        `${signedGet}!!!`,
        signedGet.replace(/\+/g, '-').replace(/\//g, '_'),
      ]) {
        if (bad === signedGet) continue;
        await expect(
          bob.raw('GET', '/v1/results', undefined, { authorization: bad }),
          401,
          'UNAUTHENTICATED',
        );
      }
      // A user id holding U+0000 (PostgreSQL's text refuses it): a precise 400, never a 500.
      const signed = Buffer.from(
        (await stranger.authorization('GET', '/v1/results')).split(' ')[1] ?? '',
        'base64',
      );
      const at = signed.indexOf(Buffer.from('mallory'));
      signed[at + 3] = 0; // "mal\0ory": the same length, the signature no longer matters
      await expect(
        bob.raw('GET', '/v1/results', undefined, {
          authorization: `PMHE-Ed25519 ${signed.toString('base64')}`,
        }),
        400,
        'BAD_FIELD',
      );
      // Someone else's data.
      const [aliceResult] = await alice.waitForResults(1);
      await expect(bob.get(`/v1/results/${aliceResult?.id}`), 404, 'NOT_FOUND');
      await expect(bob.get('/v1/results/not-an-id'), 400, 'BAD_FIELD');
      // Oversized body (the test server allows 4 MiB).
      await expect(bob.raw('POST', '/v1/submissions', new Uint8Array(5 * 1024 * 1024)), 413, 'OVERSIZED');
      await expect(
        bob.raw('POST', '/v1/users', encode({ setup: new Uint8Array(10) }), { auth: false }),
        400,
        'MALFORMED',
      );
      // Still serving, and bob's good upload went through to a result.
      assert.equal((await fetch(`${server.url}/health`)).status, 200);
      const results = await bob.waitForResults(1);
      assert.ok(results.length >= 1);
    });

    test('restart: a server closed mid-stream and started again loses nothing and duplicates nothing', async () => {
      const uploads = cohortUploads(bob.user.plan, { readings: 12, seed: 21 });
      const before = (await bob.waitForResults(0)).length;
      const accepted: string[] = [];
      for (const [i, u] of uploads.entries()) {
        const reply = await bob.submit([await bob.user.upload(u.readings, u.profile)]);
        assert.equal(reply.status, 202);
        accepted.push(...reply.body.submissions.map((s) => s.id));
        if (i === 5) {
          await server.close();
          server = await start();
          for (const c of [alice, bob]) Object.assign(c, { base: server.url });
        }
      }
      const results = await bob.waitForResults(before + accepted.length);
      const bySubmission = new Map<string, number>();
      for (const r of results) bySubmission.set(r.submissionId, (bySubmission.get(r.submissionId) ?? 0) + 1);
      for (const id of accepted) assert.equal(bySubmission.get(id), 1, `submission ${id}`);
      const ready = await fetch(`${server.url}/ready`);
      assert.equal(ready.status, 200);

      // The ledger is the record: no committed envelope and no copy of Z stays in the database.
      const rows = await server.db
        .selectFrom('submissions')
        .select(['state', 'envelope', 'error'])
        .where('id', 'in', accepted)
        .execute();
      assert.deepEqual(
        rows.map((r) => [r.state, r.envelope, r.error]),
        accepted.map(() => ['issued', null, null]),
      );
      // PGlite runs no autovacuum: the server vacuums, and VACUUM works there.
      await reclaimSpace(server.db, server.database);
      if (server.database === 'pglite') {
        // PostgreSQL's 128 MB of shared buffers would sit in PGlite's memory, resident.
        const { rows: shown } = await sql<{ shared_buffers: string }>`show shared_buffers`.execute(server.db);
        assert.equal(shown[0]?.shared_buffers, '16MB');
      }
      const columns = await server.db.introspection.getTables();
      const resultColumns = columns.find((t) => t.name === 'results')?.columns.map((c) => c.name);
      assert.ok(resultColumns && !resultColumns.includes('payload'), `results columns: ${resultColumns}`);
      // A result from before the restart: this server never cached it, so it comes from the ledger.
      const queries = server.committer.results.queries;
      const first = results.find((r) => r.submissionId === accepted[0]);
      const { status, body } = await bob.get<ApiResult>(`/v1/results/${first?.id}`);
      assert.equal(status, 200);
      assert.equal(server.committer.results.queries, queries + 1);
      const q = bob.user.decrypt(asIssued(body));
      const u = uploads[0] as (typeof uploads)[number];
      const clear = runClear(bob.user.plan, tupleVectors(bob.user.plan, u.readings, u.profile));
      assert.ok(Math.abs((q.total?.[0] as number) - (clear.total?.[0] as number)) < 0.05);
    });
  });
}

describe('server limits', () => {
  test('rate limits: per address before any check, per user only once signed (429); slow clients cut off (408); OpenAPI', async () => {
    const server = await startServer({
      dataDir: await tempDir('limits'),
      port: 0,
      log: false,
      limits: { ratePerMinute: 5, addressRatePerMinute: 80, requestTimeoutMs: 1000 },
    });
    try {
      using user = await LocalUser.create({ userId: 'kim', modelId: 'early-warning', layout: 'paper' });
      const client = new TestClient(server.url, user);
      assert.equal((await client.register()).status, 201);
      // An attacker signs with their own key but claims kim's id: refused, and kim is not locked out.
      using forger = await LocalUser.create({ userId: 'kim', modelId: 'early-warning', layout: 'paper' });
      for (let i = 0; i < 25; i++)
        assert.equal((await new TestClient(server.url, forger).get('/v1/results')).status, 401);
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await client.get('/v1/results')).status);
      assert.deepEqual(statuses, [200, 200, 200, 200, 200]);
      const limited = await client.get<{ code: string; message: string }>('/v1/results');
      assert.deepEqual([limited.status, limited.body.code], [429, 'RATE_LIMITED']);
      assert.match(limited.body.message, /for this user/);
      // Another user is not limited by kim's requests.
      using other = await LocalUser.create({ userId: 'lee', modelId: 'early-warning', layout: 'paper' });
      assert.equal((await new TestClient(server.url, other).register()).status, 201);

      // A client that announces a body and never sends it.
      const { hostname, port } = new URL(server.url);
      const reply = await new Promise<string>((resolve) => {
        const socket = connect({ host: hostname, port: Number(port) }, () => {
          socket.write(
            'POST /v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: application/cbor\r\nContent-Length: 1000\r\n\r\n',
          );
        });
        let text = '';
        socket.on('data', (d) => (text += d));
        socket.on('close', () => resolve(text));
      });
      assert.match(reply, /^HTTP\/1\.1 408/);
      assert.match(reply, /"code":"REQUEST_TIMEOUT"/);
      // Headers past Node's limit (16 KiB), and a route that does not exist: each with a code.
      const huge = await fetch(`${server.url}/health`, { headers: { 'x-pad': 'a'.repeat(20_000) } });
      assert.deepEqual(
        [huge.status, ((await huge.json()) as { code: string }).code],
        [431, 'HEADERS_TOO_LARGE'],
      );
      const missing = await fetch(`${server.url}/v1/nothing-here`, { method: 'DELETE' });
      assert.deepEqual(
        [missing.status, ((await missing.json()) as { code: string }).code],
        [404, 'NOT_FOUND'],
      );
      assert.equal((await fetch(`${server.url}/health`)).status, 200);

      const openapi = (await (await fetch(`${server.url}/docs/json`)).json()) as {
        paths: Record<string, unknown>;
      };
      assert.ok(
        ['/v1/users', '/v1/submissions', '/v1/results/{id}', '/v1/catalogue'].every(
          (p) => p in openapi.paths,
        ),
      );
      // A claimed id that changes with every request does not escape the address's limit.
      const key = (await crypto.subtle.generateKey('Ed25519', false, ['sign', 'verify'])) as CryptoKeyPair;
      const rotating: number[] = [];
      for (let i = 0; i < 60; i++) {
        const signed = await signRequest(
          {
            op: 'http',
            userId: `x${i}`,
            nonce: crypto.getRandomValues(new Uint8Array(16)),
            timestamp: Date.now(),
            params: { method: 'GET', path: '/v1/results', body: sha256Hex(new Uint8Array(0)) },
          },
          key.privateKey,
        );
        const reply = await fetch(`${server.url}/v1/results`, {
          headers: { authorization: `${AUTH_SCHEME} ${toBase64(signed)}` },
        });
        rotating.push(reply.status);
      }
      assert.ok(rotating.includes(429), `statuses: ${rotating.join(',')}`);
    } finally {
      await server.close();
    }
  });
});
