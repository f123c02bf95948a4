/**
 * The conformance client (test/conformance/client.ts, written from docs/protocol.md alone)
 * against the document's test vectors and against the real server: register with its own keys,
 * upload one real-time reading with its issue request, wait for the result event, fetch Z,
 * decrypt it with its own CKKS secret key and compare with the plaintext model.
 *
 * Only the harness imports the project (to start the server in-process on loopback).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import {
  authorization,
  Ckks,
  cborDecode,
  cborEncode,
  envelope,
  Http,
  hex,
  identity,
  issueRequest,
  KIND,
  news2,
  nonce,
  PRESETS,
  pmhcUnwrap,
  pmhcWrap,
  presetOf,
  type Reading,
  requestBytes,
  sha256,
  signedRequest,
  submissionBytes,
  submissionId,
  type Template,
  tupleVectors,
  unhex,
} from './client.ts';

const DOC = new URL('../../docs/protocol.md', import.meta.url);

/** §15's blocks: "```hex <name>" or "```text <name>", hex possibly wrapped. */
async function documentVectors(): Promise<Map<string, string>> {
  const text = await readFile(DOC, 'utf8');
  const found = new Map<string, string>();
  for (const m of text.matchAll(/^```(hex|text) ([a-z0-9-]+)\n([\s\S]*?)\n```$/gm)) {
    found.set(m[2] as string, m[1] === 'hex' ? (m[3] as string).replace(/\s+/g, '') : (m[3] as string));
  }
  return found;
}

describe('conformance client: the document is enough', () => {
  test('it rebuilds every test vector of §15 byte for byte from the fixed inputs', async () => {
    const doc = await documentVectors();
    const want = (name: string) => {
      const value = doc.get(name);
      assert.ok(value, `docs/protocol.md has no vector "${name}"`);
      return value;
    };
    // §15's fixed inputs.
    const alice = identity(
      'alice',
      unhex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'),
    );
    const timestamp = 1767225600000;
    const galoisKeys = unhex('67616c6f6973');
    assert.equal(hex(alice.publicKey), want('public-key'));

    const setupFields = {
      op: 'setup',
      nonce: unhex('000102030405060708090a0b0c0d0e0f'),
      timestamp,
      params: {
        modelId: 'early-warning',
        layout: 'packed',
        presetId: 'secure-4096',
        publicKey: alice.publicKey,
        galoisKeys: sha256(galoisKeys),
      },
    };
    assert.equal(hex(requestBytes(alice, setupFields)), want('setup-request'));
    const setup = signedRequest(alice, setupFields);
    assert.equal(hex(setup), want('setup-signed'));

    const ciphertext = pmhcWrap(
      'ciphertext',
      PRESETS['secure-4096'],
      unhex('000102030405060708090a0b0c0d0e0f'),
      1,
    );
    assert.equal(hex(ciphertext), want('ciphertext-file'));
    const submission = {
      modelId: 'early-warning',
      presetId: 'secure-4096',
      template: { id: 'early-warning-packed', version: 1 },
      nonce: unhex('101112131415161718191a1b1c1d1e1f'),
      timestamp,
      ciphertexts: [ciphertext],
    };
    assert.equal(hex(submissionBytes(alice, submission)), want('submission'));
    const env = envelope(alice, submission);
    assert.equal(hex(env), want('envelope'));
    const id = submissionId(env);
    assert.equal(id, want('submission-id'));
    const issue = issueRequest(alice, id, { nonce: unhex('202122232425262728292a2b2c2d2e2f'), timestamp });
    assert.equal(hex(issue), want('issue-signed'));

    assert.equal(hex(cborEncode({ setup, galoisKeys })), want('register-body'));
    const submitBody = cborEncode([{ envelope: env, issue }]);
    assert.equal(hex(submitBody), want('submit-body'));
    const fixed = (n: string) => ({ nonce: unhex(n), timestamp });
    assert.equal(
      authorization(alice, 'POST', '/v1/submissions', submitBody, fixed('303132333435363738393a3b3c3d3e3f')),
      want('authorization-post'),
    );
    assert.equal(
      authorization(
        alice,
        'GET',
        '/v1/results?limit=10',
        undefined,
        fixed('404142434445464748494a4b4c4d4e4f'),
      ),
      want('authorization-get'),
    );

    // Its own decoder reads them back, and refuses what §1 refuses.
    const opened = cborDecode(env) as { v: number; submission: Uint8Array };
    assert.equal(opened.v, 1);
    assert.equal(hex(opened.submission), want('submission'));
    assert.throws(() => cborDecode(unhex('a2617601617601')), /out of order or repeated/);
    assert.throws(() => cborDecode(unhex('1817')), /longer than necessary/);
    assert.throws(() => cborDecode(unhex('9f01ff')), /additional information 31/);
    assert.equal(
      hex(pmhcUnwrap(ciphertext, 'ciphertext', PRESETS['secure-4096'])),
      '000102030405060708090a0b0c0d0e0f',
    );
  });
});

describe('conformance client against the real server', () => {
  let server: RunningServer;
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pmhe-conformance-'));
    server = await startServer({
      dataDir,
      port: 0,
      log: false,
      webDir: false,
      simulationWorkers: 1,
      validationWorkers: 1,
    });
  });

  after(async () => {
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /**
   * One user, one real-time reading: §8 setup with the evaluation keys of §8's table, §12.3 upload
   * with its issue request, §12.8 event (polling §12.4 as the fallback), §12.6 result, §11 decrypt.
   */
  async function session(
    userId: string,
    layout: 'packed' | 'paper',
    reading: Reading,
    tolerance: Record<string, number>,
  ) {
    const who = identity(userId);
    const http = new Http(server.url, who);

    // §12.1: the catalogue gives the template (elements, preset, result schema).
    const catalogue = await http.call<{ models: { id: string; templates: Template[] }[] }>(
      'GET',
      '/v1/catalogue',
      undefined,
      false,
    );
    assert.equal(catalogue.status, 200);
    const template = catalogue.body.models
      .find((m) => m.id === 'early-warning')
      ?.templates.find((t) => t.layout === layout);
    assert.ok(template, `no early-warning template for ${layout}`);
    assert.equal(template.preset, 'secure-4096');
    const preset = presetOf(template.preset);
    const ckks = await Ckks.create(preset);

    // §8: early-warning needs Galois keys for steps 1, 2, 4, 8 in the packed layout, nothing in paper.
    const keys: { galoisKeys?: Uint8Array } =
      layout === 'packed' ? { galoisKeys: ckks.galoisKeys([1, 2, 4, 8]) } : {};
    const setup = signedRequest(who, {
      op: 'setup',
      nonce: nonce(),
      timestamp: Date.now(),
      params: {
        modelId: 'early-warning',
        layout,
        presetId: preset.id,
        publicKey: who.publicKey,
        ...(keys.galoisKeys ? { galoisKeys: sha256(keys.galoisKeys) } : {}),
      },
    });
    const registered = await http.call<{ userId: string; template: Template; presetId: string }>(
      'POST',
      '/v1/users',
      cborEncode({ setup, ...keys }),
      false,
    );
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    assert.equal(registered.body.userId, userId);
    assert.equal(registered.body.template.id, template.id);

    // §9: one reading → tuple vectors → seeded symmetric ciphertexts at Δ.
    const vectors = tupleVectors(template, reading);
    assert.equal(vectors.length, layout === 'packed' ? 1 : template.elements.length);
    const env = envelope(who, {
      modelId: 'early-warning',
      presetId: preset.id,
      template: { id: template.id, version: template.version },
      nonce: nonce(),
      timestamp: Date.now(),
      ciphertexts: vectors.map((v) => ckks.encrypt(v)),
    });
    const id = submissionId(env);
    const item = { envelope: env, issue: issueRequest(who, id) };

    // §12.8 first, so the event cannot be missed.
    const stop = new AbortController();
    const events = http.events(id, stop.signal);
    events.result.catch(() => undefined);
    await events.opened;

    const accepted = await http.call<{ submissions: { id: string; state: string }[] }>(
      'POST',
      '/v1/submissions',
      cborEncode([item]),
    );
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    assert.deepEqual(
      accepted.body.submissions.map((s) => [s.id, s.state]),
      [[id, 'accepted']],
    );

    // The same upload again: refused as a replay, in §13's error shape.
    const again = await http.call<{ statusCode: number; code: string; error: string; message: string }>(
      'POST',
      '/v1/submissions',
      cborEncode([item]),
    );
    assert.equal(again.status, 409);
    assert.deepEqual(Object.keys(again.body).sort(), ['code', 'error', 'message', 'statusCode']);
    assert.equal(again.body.code, 'REPLAY');
    assert.equal(again.body.statusCode, 409);

    const timer = setTimeout(() => stop.abort(), 30_000);
    let resultId = await events.result;
    clearTimeout(timer);
    stop.abort();
    // Polling (§12.4) as the fallback the document allows.
    while (resultId === undefined) {
      const s = await http.call<{ state: string; resultId: string | null }>('GET', `/v1/submissions/${id}`);
      if (s.body.state === 'rejected') assert.fail(JSON.stringify(s.body));
      resultId = s.body.resultId ?? undefined;
      if (!resultId) await new Promise((r) => setTimeout(r, 200));
    }

    const status = await http.call<{ state: string; resultId: string; txId: string }>(
      'GET',
      `/v1/submissions/${id}`,
    );
    assert.equal(status.status, 200);
    assert.equal(status.body.state, 'issued');
    assert.equal(status.body.resultId, resultId);

    const list = await http.call<{ results: { id: string; submissionId: string }[] }>(
      'GET',
      '/v1/results?limit=10',
    );
    assert.deepEqual(
      list.body.results.map((r) => [r.id, r.submissionId]),
      [[resultId, id]],
    );

    // §11: the result, its ciphertexts checked against their hashes, then decrypted.
    const result = await http.call<{
      id: string;
      submissionId: string;
      modelId: string;
      presetId: string;
      layout: string;
      submissions: string[];
      outputs: { submission: number; name: string; perReading: boolean; blob: string }[];
      results: { name: string; output: number; slot: number }[];
      z: Record<string, string>;
    }>('GET', `/v1/results/${resultId}`);
    assert.equal(result.status, 200);
    const r = result.body;
    assert.equal(r.submissionId, id);
    assert.deepEqual(r.submissions, [id]);
    assert.deepEqual([r.modelId, r.layout, r.presetId], ['early-warning', layout, preset.id]);
    const expected = news2(reading);
    const mine = r.outputs.filter((o) => o.submission === 0);
    assert.equal(mine.length, r.results.length);
    for (const slot of r.results) {
      const output = mine[slot.output];
      assert.ok(output, `no output ${slot.output}`);
      assert.equal(output.name, slot.name);
      const bytes = new Uint8Array(Buffer.from(r.z[output.blob] as string, 'base64'));
      assert.equal(sha256(bytes), output.blob);
      assert.equal(bytes[5], KIND.ciphertext);
      const value = ckks.decrypt(bytes, slot.slot + 1)[slot.slot] as number;
      const want = expected[slot.name as keyof typeof expected];
      assert.ok(
        Math.abs(value - want) <= (tolerance[slot.name] as number),
        `${layout} ${slot.name}: decrypted ${value}, the plaintext model says ${want}`,
      );
    }

    // §13: someone else's id is 404, in the same shape.
    const missing = await http.call<{ code: string }>('GET', `/v1/results/${'0'.repeat(64)}`);
    assert.deepEqual([missing.status, missing.body.code], [404, 'NOT_FOUND']);
  }

  // Tolerances: §10.4.
  test('packed: Galois keys, one ciphertext, Z decrypts to NEWS2 within 0.02', async () => {
    const tolerance = { rrScore: 0.02, sbpScore: 0.02, hrScore: 0.02, total: 0.02 };
    await session('conformance-packed', 'packed', { x: 115, y: 80, z: 105, w: 22 }, tolerance);
  });

  test('paper: no evaluation keys, one ciphertext per element, Z decrypts within 0.0002 (total 0.0005)', async () => {
    const tolerance = { rrScore: 0.0002, sbpScore: 0.0002, hrScore: 0.0002, total: 0.0005 };
    await session('conformance-paper', 'paper', { x: 45, y: 70, z: 95, w: 8 }, tolerance);
  });
});
