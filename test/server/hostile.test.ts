/**
 * The server against hostile or careless clients (issue 13): what an attacker tried, as tests.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encode } from 'cborg';
import { LocalUser } from '../../src/client/user.ts';
import { submissionId } from '../../src/ledger/contract-client.ts';
import { cohortUploads } from '../../src/models/cohort.ts';
import { fromBase64 } from '../../src/protocol/bytes.ts';
import { checkId } from '../../src/protocol/fields.ts';
import { peekRequest } from '../../src/protocol/request.ts';
import { startServer } from '../../src/server/server.ts';
import { exited, freePort, spawnServer } from '../../src/server/spawn.ts';
import { tempDir } from '../ledger/fixtures.ts';
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
