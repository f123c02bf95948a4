/**
 * docs/protocol.md's test vectors (§15) cannot drift: they are recomputed here with the
 * project's own code (scripts/protocol-vectors.ts) and compared with the document byte for
 * byte, and the project's verifiers accept them.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { decode } from 'cborg';
import {
  computeVectors,
  markdownBlock,
  parseVectorBlocks,
  VECTOR_INPUTS,
} from '../../scripts/protocol-vectors.ts';
import { describe as describeFile, unwrap } from '../../src/ckks/format.ts';
import { getPreset } from '../../src/ckks/presets.ts';
import { AUTH_SCHEME } from '../../src/protocol/api.ts';
import { fromBase64, fromHex, sha256Hex } from '../../src/protocol/bytes.ts';
import { verifySubmission } from '../../src/protocol/envelope.ts';
import { listParam, textParam, verifyRequest } from '../../src/protocol/request.ts';

const DOC = new URL('../../docs/protocol.md', import.meta.url);

test('every vector in docs/protocol.md is what the code computes, and only those', async () => {
  const doc = parseVectorBlocks(await readFile(DOC, 'utf8'));
  const vectors = await computeVectors();
  for (const vector of vectors) {
    const written = doc.get(vector.name);
    assert.ok(written !== undefined, `docs/protocol.md lacks the vector; add:\n${markdownBlock(vector)}`);
    assert.equal(
      written,
      vector.value,
      `vector ${vector.name} differs; the code gives:\n${markdownBlock(vector)}`,
    );
  }
  assert.deepEqual(
    [...doc.keys()].sort(),
    vectors.map((v) => v.name).sort(),
    'the document has a vector the code does not make',
  );
});

test('the vectors verify with the project’s own checks', async () => {
  const v = new Map((await computeVectors()).map((x) => [x.name, x.value]));
  const bytes = (name: string) => fromHex(v.get(name) as string);
  const now = VECTOR_INPUTS.timestamp;
  const publicKey = bytes('public-key');

  const setup = await verifyRequest(bytes('setup-signed'), { op: 'setup', publicKey, now });
  assert.equal(textParam(setup, 'galoisKeys'), sha256Hex(fromHex(VECTOR_INPUTS.galoisKeys)));

  const file = bytes('ciphertext-file');
  assert.deepEqual(describeFile(file), {
    kind: 'ciphertext',
    preset: getPreset('secure-4096'),
    flags: 1,
    payloadBytes: 16,
  });
  assert.equal(
    Buffer.from(unwrap(file, { kind: 'ciphertext', preset: getPreset('secure-4096') }).payload).toString(
      'hex',
    ),
    VECTOR_INPUTS.fakePayload,
  );

  const envelope = bytes('envelope');
  const submission = await verifySubmission(envelope, {
    publicKey,
    template: { id: 'early-warning-packed', version: 1 },
    now,
    nonceSeen: () => false,
  });
  assert.equal(submission.userId, VECTOR_INPUTS.userId);
  assert.equal(sha256Hex(envelope), v.get('submission-id'));

  const issue = await verifyRequest(bytes('issue-signed'), { op: 'issue', publicKey, now });
  assert.deepEqual(listParam(issue, 'submissions'), [v.get('submission-id')]);

  // The bodies decode to what the routes expect; the headers sign method, path and body hash.
  const register = decode(bytes('register-body'), { useMaps: false }) as { setup: Uint8Array };
  assert.equal(Buffer.from(register.setup).toString('hex'), v.get('setup-signed'));
  const [item] = decode(bytes('submit-body'), { useMaps: false }) as { envelope: Uint8Array }[];
  assert.equal(Buffer.from(item?.envelope ?? []).toString('hex'), v.get('envelope'));
  const calls = [
    ['authorization-post', 'POST', '/v1/submissions', sha256Hex(bytes('submit-body'))],
    ['authorization-get', 'GET', VECTOR_INPUTS.getPath, sha256Hex(new Uint8Array(0))],
  ] as const;
  for (const [name, method, path, body] of calls) {
    const header = v.get(name) as string;
    assert.ok(header.startsWith(`${AUTH_SCHEME} `));
    const r = await verifyRequest(fromBase64(header.slice(AUTH_SCHEME.length + 1)), {
      op: 'http',
      publicKey,
      now,
    });
    assert.deepEqual([r.params.method, r.params.path, r.params.body], [method, path, body]);
  }
});
