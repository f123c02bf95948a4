import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { test } from 'node:test';
import { decode, encode, rfc8949EncodeOptions, type Token } from 'cborg';
import {
  encodeSubmission,
  ProtocolError,
  type ProtocolErrorCode,
  type Submission,
  signSubmission,
  type VerifyOptions,
  verifySubmission,
} from '../../src/protocol/envelope.ts';
import {
  derivePublicKey,
  exportPrivateKey,
  exportPublicKey,
  generateIdentity,
  importPrivateKey,
  importPublicKey,
  sign,
  verify,
} from '../../src/protocol/identity.ts';

const NOW = 1_700_000_000_000;
const TEMPLATE = { id: 'early-warning', version: 2 };

const alice = await generateIdentity();
const alicePublic = await exportPublicKey(alice.publicKey);
const bob = await generateIdentity();

const submission = (over: Partial<Submission> = {}): Submission => ({
  userId: 'alice',
  template: { ...TEMPLATE },
  modelId: 'logistic-v1',
  presetId: 'paper-p1',
  nonce: Uint8Array.from({ length: 16 }, (_, i) => i + 1),
  timestamp: NOW,
  ciphertexts: [Uint8Array.of(1, 2, 3, 4), Uint8Array.from({ length: 100 }, (_, i) => i)],
  ...over,
});

const options = (over: Partial<VerifyOptions> = {}): VerifyOptions => ({
  publicKey: alicePublic,
  template: TEMPLATE,
  now: NOW,
  nonceSeen: () => false,
  ...over,
});

/** Awaits a rejection and checks its code and message, showing the actual error when they differ. */
async function refused(promise: Promise<unknown>, code: ProtocolErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof ProtocolError, `expected a ProtocolError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

const refuse = (
  envelope: Uint8Array,
  code: ProtocolErrorCode,
  pattern: RegExp,
  over?: Partial<VerifyOptions>,
) => refused(verifySubmission(envelope, options(over)), code, pattern);

// ---- building blocks for hand-made (hostile) inputs -------------------------------------------

const ascii = (text: string) => new TextEncoder().encode(text);
const hex = (text: string) => Uint8Array.from(text.match(/../g) ?? [], (h) => Number.parseInt(h, 16));
const concat = (...parts: (Uint8Array | number[])[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

/** The submission as it goes on the wire, as a plain object to be altered and re-encoded. */
const wire = (s: Submission = submission()): Record<string, unknown> => ({
  v: 1,
  nonce: s.nonce,
  userId: s.userId,
  modelId: s.modelId,
  presetId: s.presetId,
  template: { ...s.template },
  timestamp: s.timestamp,
  ciphertexts: s.ciphertexts,
});

const canonical = (value: unknown) => encode(value, rfc8949EncodeOptions);

/** Signs arbitrary payload bytes with a valid signature, so only the check under test can refuse. */
async function seal(payload: Uint8Array, envelope: Record<string, unknown> = {}): Promise<Uint8Array> {
  const signature = await sign(alice.privateKey, payload);
  return canonical({ v: 1, signature, submission: payload, ...envelope });
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error('needle not found');
}

/** Offset of the value that follows the text key `key` (keys here are under 24 bytes). */
const valueAt = (bytes: Uint8Array, key: string) =>
  indexOf(bytes, concat([0x60 + key.length], ascii(key))) + 1 + key.length;

/** Replaces `remove` bytes at `at` with `insert`. */
const splice = (bytes: Uint8Array, at: number, remove: number, insert: Uint8Array | number[]) =>
  concat(bytes.subarray(0, at), insert, bytes.subarray(at + remove));

/** A copy of `bytes` with the bits of `mask` flipped at `index`. */
function flip(bytes: Uint8Array, index: number, mask: number): Uint8Array {
  const copy = bytes.slice();
  copy[index] = (copy[index] as number) ^ mask;
  return copy;
}

const canonicalPayload = () => encodeSubmission(submission());

// ---- the happy path ---------------------------------------------------------------------------

test('round trip: a signed submission verifies and comes back equal', async () => {
  const s = submission();
  const envelope = await signSubmission(s, alice.privateKey);
  assert.deepEqual(await verifySubmission(envelope, options()), s);
  // The key may also be a CryptoKey, or looked up by the claimed user id.
  assert.deepEqual(await verifySubmission(envelope, options({ publicKey: alice.publicKey })), s);
  const lookedUp: string[] = [];
  const byUser = (id: string) => {
    lookedUp.push(id);
    return id === 'alice' ? alicePublic : undefined;
  };
  assert.deepEqual(await verifySubmission(envelope, options({ publicKey: byUser })), s);
  assert.deepEqual(lookedUp, ['alice']);
  // A Node Buffer is accepted, and what comes back is plain Uint8Arrays that do not alias it.
  const buffer = Buffer.from(envelope);
  const fromBuffer = await verifySubmission(buffer, options());
  assert.deepEqual(fromBuffer, s);
  buffer.fill(0);
  assert.deepEqual(fromBuffer, s);
  // And the template may be a lookup of the current version by id.
  const current = async (id: string) => (id === TEMPLATE.id ? TEMPLATE.version : undefined);
  assert.deepEqual(await verifySubmission(envelope, options({ template: current })), s);
});

test('determinism: the same submission gives the same bytes whatever the key insertion order', async () => {
  const s = submission();
  const reordered: Submission = {
    ciphertexts: s.ciphertexts.map((c) => c.slice()),
    timestamp: s.timestamp,
    nonce: s.nonce.slice(),
    presetId: s.presetId,
    modelId: s.modelId,
    template: { version: s.template.version, id: s.template.id },
    userId: s.userId,
  };
  assert.deepEqual(encodeSubmission(reordered), encodeSubmission(s));
  // Ed25519 signatures are deterministic (RFC 8032), so whole envelopes are too.
  assert.deepEqual(
    await signSubmission(reordered, alice.privateKey),
    await signSubmission(s, alice.privateKey),
  );
  // Extra properties on the object are not signed.
  const extra = { ...s, note: 'not part of the wire format' } as Submission;
  assert.deepEqual(encodeSubmission(extra), encodeSubmission(s));
});

test('layout: keys in RFC 8949 bytewise order, version first, integers and bytes as such', () => {
  const bytes = encodeSubmission(submission());
  // a8 = map of 8; 61 76 01 = "v": 1; 65 "nonce" 50 = 16-byte string.
  assert.deepEqual(bytes.subarray(0, 11), hex('a8617601656e6f6e636550'));
  const wireOrder = [...(decode(bytes, { useMaps: true }) as Map<string, unknown>).keys()];
  assert.deepEqual(wireOrder, [
    'v',
    'nonce',
    'userId',
    'modelId',
    'presetId',
    'template',
    'timestamp',
    'ciphertexts',
  ]);
  // The timestamp is a major-type-0 integer in its shortest (8-byte) head: 1b 00 00 01 8b cf e5 68 00.
  const at = valueAt(bytes, 'timestamp');
  assert.deepEqual(bytes.subarray(at, at + 9), hex('1b0000018bcfe56800'));
});

test('the signature is plain Ed25519 over the canonical bytes (checked by node:crypto)', async () => {
  const envelope = await signSubmission(submission(), alice.privateKey);
  const { signature, submission: payload } = decode(envelope) as {
    signature: Uint8Array;
    submission: Uint8Array;
  };
  assert.deepEqual(payload, canonicalPayload());
  const x = Buffer.from(alicePublic).toString('base64url');
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
  assert.equal(nodeVerify(null, payload, publicKey, signature), true);
  // And the other way: OpenSSL's signature from the same seed is byte-identical and verifies here.
  const d = Buffer.from(await exportPrivateKey(alice.privateKey)).toString('base64url');
  const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x, d }, format: 'jwk' });
  const theirs = nodeSign(null, payload, privateKey);
  assert.deepEqual(new Uint8Array(theirs), signature);
  assert.equal(await verify(alicePublic, theirs, payload), true);
});

// RFC 8032 §7.1, TEST 1 to TEST 3: secret key (seed), public key, message, signature.
const RFC8032 = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    seed: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    publicKey: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

test('RFC 8032 test vectors through the identity helpers', async () => {
  for (const v of RFC8032) {
    const key = await importPrivateKey(hex(v.seed), true);
    assert.deepEqual(await derivePublicKey(key), hex(v.publicKey));
    assert.deepEqual(await exportPrivateKey(key), hex(v.seed));
    assert.deepEqual(await sign(key, hex(v.message)), hex(v.signature));
    assert.equal(await verify(hex(v.publicKey), hex(v.signature), hex(v.message)), true);
    const publicKey = await importPublicKey(hex(v.publicKey));
    assert.deepEqual(await exportPublicKey(publicKey), hex(v.publicKey));
    assert.equal(await verify(publicKey, hex(v.signature), concat(hex(v.message), [0])), false);
  }
});

test('identity helpers refuse keys and signatures of the wrong length', async () => {
  await refused(importPublicKey(new Uint8Array(31)), 'BAD_FIELD', /public key: expected 32 bytes, got 31/);
  await refused(importPrivateKey(new Uint8Array(33)), 'BAD_FIELD', /private key: expected 32 bytes, got 33/);
  await refused(
    verify(alicePublic, new Uint8Array(63), Uint8Array.of(1)),
    'BAD_FIELD',
    /signature: expected 64 bytes, got 63/,
  );
  await refused(
    sign(alice.publicKey, Uint8Array.of(1)),
    'BAD_FIELD',
    /private key: expected an Ed25519 private key/,
  );
  const generated = await generateIdentity();
  assert.equal(generated.privateKey.extractable, true);
});

// ---- refusals: framing --------------------------------------------------------------------------

test('truncated bytes are malformed, at every cut', async () => {
  const envelope = await signSubmission(submission(), alice.privateKey);
  for (let cut = 0; cut < envelope.length; cut++) {
    await refuse(
      envelope.subarray(0, cut),
      'MALFORMED',
      /^envelope.*(ends early|not enough data|bytes remain)/,
    );
  }
});

test('trailing bytes are malformed', async () => {
  const envelope = await signSubmission(submission(), alice.privateKey);
  await refuse(concat(envelope, [0x00]), 'MALFORMED', /envelope: 1 trailing byte after the CBOR item/);
  // Also inside the signed bytes: a valid signature over junk-suffixed bytes does not help.
  await refuse(
    await seal(concat(canonicalPayload(), [0xf6, 0xf6])),
    'MALFORMED',
    /submission: 2 trailing bytes/,
  );
});

test('oversized envelopes are refused before any decoding', async () => {
  const envelope = await signSubmission(submission(), alice.privateKey);
  const limits = { maxEnvelopeBytes: envelope.length - 1 };
  await refuse(
    envelope,
    'OVERSIZED',
    new RegExp(`envelope: ${envelope.length} bytes, more than the ${envelope.length - 1} allowed`),
    { limits },
  );
});

test('an unsupported format version is named as such, in the envelope and in the submission', async () => {
  const envelope = await seal(canonicalPayload(), { v: 2 });
  await refuse(envelope, 'UNSUPPORTED_VERSION', /envelope: format version 2 is not supported \(expected 1\)/);
  const payload = canonical({ ...wire(), v: 2, extra: 'new in v2' });
  await refuse(await seal(payload), 'UNSUPPORTED_VERSION', /submission: format version 2 is not supported/);
});

// ---- refusals: signature --------------------------------------------------------------------------

test('a bit flip in the payload breaks the signature', async () => {
  const envelope = await signSubmission(submission(), alice.privateKey);
  // The submission is the envelope's last field and a ciphertext its last byte: flip it.
  const flipped = flip(envelope, envelope.length - 1, 0x01);
  await refuse(flipped, 'BAD_SIGNATURE', /signature: does not verify for user "alice"/);
});

test('a bit flip in the signature breaks it', async () => {
  const envelope = await signSubmission(submission(), alice.privateKey);
  const at = valueAt(envelope, 'signature') + 2; // after the 58 40 head
  for (const bit of [0, 255, 511]) {
    const flipped = flip(envelope, at + (bit >> 3), 1 << (bit & 7));
    await refuse(flipped, 'BAD_SIGNATURE', /signature: does not verify/);
  }
});

test('a signature of the wrong length is refused', async () => {
  const payload = canonicalPayload();
  const signature = (await sign(alice.privateKey, payload)).subarray(0, 63);
  await refuse(
    canonical({ v: 1, signature, submission: payload }),
    'BAD_SIGNATURE',
    /envelope.signature: expected 64 bytes, got 63/,
  );
});

test('the wrong public key (or an unknown user) is refused', async () => {
  const envelope = await signSubmission(submission(), bob.privateKey);
  await refuse(envelope, 'BAD_SIGNATURE', /signature: does not verify for user "alice"/);
  await refuse(envelope, 'BAD_SIGNATURE', /userId: no public key known for "alice"/, {
    publicKey: () => undefined,
  });
});

test('the nonce callback is not consulted for a submission that fails', async () => {
  let calls = 0;
  const nonceSeen = () => {
    calls++;
    return false;
  };
  const envelope = await signSubmission(submission(), bob.privateKey);
  await refuse(envelope, 'BAD_SIGNATURE', /does not verify/, { nonceSeen });
  await refuse(await signSubmission(submission(), alice.privateKey), 'OVERSIZED', /ciphertexts/, {
    nonceSeen,
    limits: { maxCiphertexts: 1 },
  });
  assert.equal(calls, 0);
});

// ---- refusals: canonical form (each one validly signed, so only the strict decoder can refuse) ----

test('non-canonical: keys out of order', async () => {
  // Alphabetical is not RFC 8949 order, which compares encoded keys (so length first, here).
  const alphabetical = (a: (Token | Token[])[], b: (Token | Token[])[]) =>
    String((a[0] as Token).value).localeCompare(String((b[0] as Token).value));
  const payload = encode(wire(), { mapSorter: alphabetical });
  await refuse(
    await seal(payload),
    'NOT_CANONICAL',
    /submission: key "modelId" comes after "ciphertexts", out of canonical order/,
  );
});

test('non-canonical: an indefinite-length byte string', async () => {
  const payload = canonicalPayload();
  const at = valueAt(payload, 'nonce');
  assert.equal(payload[at], 0x50);
  // 5f (indefinite bytes), one 16-byte chunk, ff (break): the same nonce, spelled differently.
  const spelled = splice(payload, at, 17, concat([0x5f], payload.subarray(at, at + 17), [0xff]));
  await refuse(await seal(spelled), 'NOT_CANONICAL', /nonce: indefinite-length byte string/);
});

test('non-canonical: an integer in a longer form than necessary', async () => {
  const payload = canonicalPayload();
  const at = valueAt(payload, 'version');
  assert.equal(payload[at], 0x02);
  await refuse(
    await seal(splice(payload, at, 1, [0x18, 0x02])),
    'NOT_CANONICAL',
    /template.version: integer head 2 written in 2 bytes/,
  );
  // Lengths too: the 16-byte nonce with a one-byte length argument (58 10).
  const n = valueAt(payload, 'nonce');
  await refuse(
    await seal(splice(payload, n, 1, [0x58, 0x10])),
    'NOT_CANONICAL',
    /nonce: byte string head 16 written in 2 bytes/,
  );
});

test('non-canonical: a float where an integer is required', async () => {
  const payload = canonicalPayload();
  const at = valueAt(payload, 'timestamp');
  assert.equal(payload[at], 0x1b);
  const float = (value: number) => {
    const b = new Uint8Array(9);
    b[0] = 0xfb; // float64
    new DataView(b.buffer).setFloat64(1, value);
    return b;
  };
  await refuse(
    await seal(splice(payload, at, 9, float(NOW))),
    'NOT_CANONICAL',
    /timestamp: integer 1700000000000 written as a floating-point number/,
  );
  await refuse(
    await seal(splice(payload, at, 9, float(NOW + 0.5))),
    'BAD_FIELD',
    /timestamp: expected an integer, got the floating-point number 1700000000000.5/,
  );
});

test('non-canonical: a duplicated key is malformed', async () => {
  // { "v": 1, "v": 1, ... } by hand: bump the map count and repeat the first entry.
  const payload = canonicalPayload();
  const doubled = concat([0xa9], payload.subarray(1, 4), payload.subarray(1));
  await refuse(await seal(doubled), 'MALFORMED', /submission: key "v" appears twice/);
});

// ---- refusals: fields ---------------------------------------------------------------------------

test('an unknown field is refused', async () => {
  await refuse(
    await seal(canonical({ ...wire(), extra: 1 })),
    'BAD_FIELD',
    /submission: unknown field "extra"/,
  );
  const template = { ...TEMPLATE, hash: 'x' };
  await refuse(await seal(canonical({ ...wire(), template })), 'BAD_FIELD', /template: unknown field "hash"/);
});

test('a missing field is refused', async () => {
  const { nonce: _, ...rest } = wire();
  await refuse(await seal(canonical(rest)), 'BAD_FIELD', /^nonce: missing$/);
  await refuse(
    await seal(canonical({ ...wire(), template: { id: 'early-warning' } })),
    'BAD_FIELD',
    /template.version: missing/,
  );
});

test('a field of the wrong type is refused', async () => {
  await refuse(await seal(canonical({ ...wire(), userId: 7 })), 'BAD_FIELD', /userId: expected text, got 7/);
  await refuse(
    await seal(canonical({ ...wire(), nonce: 'abc' })),
    'BAD_FIELD',
    /nonce: expected a byte string, got "abc"/,
  );
  await refuse(
    await seal(canonical({ ...wire(), timestamp: -5 })),
    'BAD_FIELD',
    /timestamp: expected an unsigned integer, got -5/,
  );
});

test('a short nonce is refused, by the signer and by the verifier', async () => {
  const short = submission({ nonce: new Uint8Array(8) });
  await refused(
    signSubmission(short, alice.privateKey),
    'BAD_FIELD',
    /nonce: expected 16 bytes, got 8 bytes/,
  );
  const payload = canonical(wire(short));
  await refuse(await seal(payload), 'BAD_FIELD', /nonce: expected 16 bytes, got 8 bytes/);
});

test('the wrong template id is refused', async () => {
  const envelope = await signSubmission(
    submission({ template: { id: 'sepsis', version: 2 } }),
    alice.privateKey,
  );
  await refuse(envelope, 'UNKNOWN_TEMPLATE', /template.id: expected "early-warning", got "sepsis"/);
  await refuse(envelope, 'UNKNOWN_TEMPLATE', /template.id: unknown template "sepsis"/, {
    template: () => undefined,
  });
});

test('the wrong template version is refused', async () => {
  const envelope = await signSubmission(
    submission({ template: { id: 'early-warning', version: 1 } }),
    alice.privateKey,
  );
  await refuse(envelope, 'WRONG_TEMPLATE_VERSION', /template.version: expected 2, got 1/);
  await refuse(envelope, 'WRONG_TEMPLATE_VERSION', /template.version: expected 3, got 1/, {
    template: () => 3,
  });
});

test('stale and future timestamps are refused; the window edges are accepted', async () => {
  const at = async (timestamp: number) => signSubmission(submission({ timestamp }), alice.privateKey);
  await refuse(await at(NOW - 300_001), 'STALE', /timestamp: 300001 ms old, more than the 300000 ms allowed/);
  await refuse(
    await at(NOW + 30_001),
    'FUTURE',
    /timestamp: 30001 ms ahead of now, more than the 30000 ms allowed/,
  );
  await refuse(await at(NOW - 2_000), 'STALE', /2000 ms old, more than the 1000 ms allowed/, {
    maxAgeMs: 1_000,
  });
  await refuse(await at(NOW + 2_000), 'FUTURE', /2000 ms ahead of now, more than the 0 ms allowed/, {
    maxFutureMs: 0,
  });
  await verifySubmission(await at(NOW - 300_000), options());
  await verifySubmission(await at(NOW + 30_000), options());
});

test('a replayed nonce is refused', async () => {
  const seen = new Set<string>();
  const nonceSeen = (userId: string, nonce: Uint8Array) => {
    const key = `${userId}/${Buffer.from(nonce).toString('hex')}`;
    const before = seen.has(key);
    seen.add(key);
    return before;
  };
  const envelope = await signSubmission(submission(), alice.privateKey);
  await verifySubmission(envelope, options({ nonceSeen }));
  await refuse(envelope, 'REPLAY', /nonce: already used by user "alice"/, { nonceSeen });
  // A fresh nonce goes through.
  const fresh = await signSubmission(submission({ nonce: new Uint8Array(16).fill(9) }), alice.privateKey);
  await verifySubmission(fresh, options({ nonceSeen: async (u, n) => nonceSeen(u, n) }));
});

test('too many ciphertexts are refused', async () => {
  const envelope = await signSubmission(submission(), alice.privateKey);
  await refuse(envelope, 'OVERSIZED', /ciphertexts: 2 ciphertexts, more than the 1 allowed/, {
    limits: { maxCiphertexts: 1 },
  });
});

test('an oversized ciphertext is refused', async () => {
  const envelope = await signSubmission(submission(), alice.privateKey);
  await refuse(envelope, 'OVERSIZED', /ciphertexts\[1\]: 100 bytes, more than the 99 allowed/, {
    limits: { maxCiphertextBytes: 99 },
  });
});

test('misconfigured verification options fail loudly instead of accepting everything', async () => {
  const envelope = await signSubmission(submission(), alice.privateKey);
  await assert.rejects(verifySubmission(envelope, options({ now: Number.NaN })), {
    name: 'RangeError',
    message: /options.now must be a non-negative integer, got NaN/,
  });
  await assert.rejects(verifySubmission(envelope, options({ limits: { maxCiphertexts: Number.NaN } })), {
    name: 'RangeError',
    message: /options.limits.maxCiphertexts must be a non-negative integer/,
  });
  const { now: _now, ...withoutClock } = options();
  await assert.rejects(verifySubmission(envelope, withoutClock as VerifyOptions), {
    name: 'RangeError',
    message: /options.now must be a non-negative integer, got NaN/,
  });
  // An explicit undefined keeps the default limit rather than lifting it.
  const limits = { maxCiphertexts: undefined, maxCiphertextBytes: 10 };
  await refuse(envelope, 'OVERSIZED', /ciphertexts\[1\]: 100 bytes, more than the 10 allowed/, { limits });
  const { nonceSeen: _, ...withoutReplayCheck } = options();
  await assert.rejects(verifySubmission(envelope, withoutReplayCheck as VerifyOptions), {
    name: 'TypeError',
    message: /options.nonceSeen is required/,
  });
});

test('the signer refuses what the verifier would refuse', async () => {
  const bad: [Partial<Submission>, RegExp][] = [
    [{ userId: '' }, /userId: expected text of 1 to 256 characters/],
    [{ userId: 'a\uD800' }, /userId: text has a lone surrogate/],
    [{ timestamp: 1.5 }, /timestamp: expected integer milliseconds since the epoch, got 1.5/],
    [{ template: { id: 'early-warning', version: 0 } }, /template.version: expected an integer ≥ 1, got 0/],
    [{ ciphertexts: [] }, /ciphertexts: expected at least one ciphertext/],
    [{ ciphertexts: [new Uint8Array(0)] }, /ciphertexts\[0\]: expected non-empty bytes/],
  ];
  for (const [over, pattern] of bad) {
    await refused(signSubmission(submission(over), alice.privateKey), 'BAD_FIELD', pattern);
  }
});
