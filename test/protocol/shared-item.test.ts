/**
 * Shared items (src/protocol/shared-item.ts): HPKE-sealed to one clinician, signed by the person;
 * each way of changing or moving one is refused, naming why.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decode, encode } from 'cborg';
import { encodeCanonical } from '../../src/protocol/canonical-cbor.ts';
import { ProtocolError } from '../../src/protocol/errors.ts';
import { derivePublicKey, generateIdentity, sign } from '../../src/protocol/identity.ts';
import {
  boxKeyPair,
  fingerprint,
  itemHash,
  MAX_ITEM_BYTES,
  openItem,
  peekItem,
  type SharedResult,
  sealItem,
} from '../../src/protocol/shared-item.ts';

const result: SharedResult = {
  v: 1,
  userId: 'jo',
  clinicianId: 'dr-a',
  resultId: 'c'.repeat(64),
  txId: 'c'.repeat(64),
  blockNumber: 12,
  submissionId: 'd'.repeat(64),
  modelId: 'early-warning',
  layout: 'packed',
  readAt: 1_700_000_000_000,
  recordedAt: 1_700_000_001_000,
  values: { news2: 3 },
  diagnosis: { model: 'early-warning', label: 'low', level: 'low', borderline: false, findings: ['NEWS2 3'] },
  guidance: { text: 'Keep measuring.', source: 'RCP 2017' },
};

const refusedAs = (code: string, pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof ProtocolError, String(e));
  assert.equal(e.code, code, e.message);
  assert.match(e.message, pattern);
  return true;
};

test('sealed to one clinician, signed by the person: the clinician opens exactly what was sealed; the server sees the header only', async () => {
  const person = await generateIdentity();
  const personKey = await derivePublicKey(person.privateKey);
  const a = await boxKeyPair(new Uint8Array(32).fill(1));
  const b = await boxKeyPair(new Uint8Array(32).fill(2));
  assert.deepEqual(
    (await boxKeyPair(new Uint8Array(32).fill(1))).publicKey,
    a.publicKey,
    'derived from the seed',
  );
  assert.match(fingerprint(a.publicKey), /^[0-9a-f]{4}( [0-9a-f]{4}){4}$/);
  const item = await sealItem(result, a.publicKey, person.privateKey, 1_700_000_002_000);
  assert.ok(item.length < 4096, `${item.length} bytes`);
  assert.ok(!Buffer.from(item).includes(Buffer.from('NEWS2 3')), 'the diagnosis is not readable in the item');
  assert.deepEqual(peekItem(item), {
    userId: 'jo',
    clinicianId: 'dr-a',
    resultId: result.resultId,
    modelId: 'early-warning',
    sharedAt: 1_700_000_002_000,
  });
  const opened = await openItem(item, { personKey, clinicianId: 'dr-a', boxPrivateKey: a.privateKey });
  assert.deepEqual(opened, result);
  assert.match(itemHash(item), /^[0-9a-f]{64}$/);

  // Another clinician's key does not open it, and an item addressed to another is refused first.
  await assert.rejects(
    openItem(item, { personKey, clinicianId: 'dr-a', boxPrivateKey: b.privateKey }),
    refusedAs('BAD_SIGNATURE', /does not open with this clinician's key/),
  );
  await assert.rejects(
    openItem(item, { personKey, clinicianId: 'dr-b', boxPrivateKey: b.privateKey }),
    refusedAs('BAD_FIELD', /sealed for clinician "dr-a", not for "dr-b"/),
  );
  // Someone else's signature.
  const other = await generateIdentity();
  await assert.rejects(
    openItem(item, {
      personKey: await derivePublicKey(other.privateKey),
      clinicianId: 'dr-a',
      boxPrivateKey: a.privateKey,
    }),
    refusedAs('BAD_SIGNATURE', /does not verify for person "jo"/),
  );
  // One bit of the ciphertext changed: the signature fails (and the AEAD would).
  const outer = decode(item, { useMaps: true }) as Map<string, Uint8Array>;
  const inner = decode(outer.get('item') as Uint8Array, { useMaps: true }) as Map<string, unknown>;
  const ct = new Uint8Array(inner.get('ct') as Uint8Array);
  ct.set([(ct[0] ?? 0) ^ 1], 0);
  const resign = async (changes: Record<string, unknown>) => {
    const fields = Object.fromEntries([...inner.entries()].map(([k, v]) => [k, changes[k] ?? v]));
    const bytes = encodeCanonical(fields);
    return encodeCanonical({ v: 1, signature: await sign(person.privateKey, bytes), item: bytes });
  };
  const tampered = encodeCanonical({
    v: 1,
    signature: outer.get('signature'),
    item: encodeCanonical(Object.fromEntries([...inner.entries()].map(([k, v]) => [k, k === 'ct' ? ct : v]))),
  });
  await assert.rejects(
    openItem(tampered, { personKey, clinicianId: 'dr-a', boxPrivateKey: a.privateKey }),
    refusedAs('BAD_SIGNATURE', /signature does not verify/),
  );
  // Even re-signed by the person (a bug, or a person's old item re-addressed), the AEAD binds the header.
  await assert.rejects(
    openItem(await resign({ ct }), { personKey, clinicianId: 'dr-a', boxPrivateKey: a.privateKey }),
    refusedAs('BAD_SIGNATURE', /does not open/),
  );
  await assert.rejects(
    openItem(await resign({ resultId: 'e'.repeat(64) }), {
      personKey,
      clinicianId: 'dr-a',
      boxPrivateKey: a.privateKey,
    }),
    refusedAs('BAD_SIGNATURE', /does not open/),
  );
  // Not canonical, too large, extra fields: refused before any cryptography.
  // The same three fields, not in canonical order (cborg keeps the given order with this sorter).
  const loose = encode(
    new Map<string, unknown>([
      ['item', outer.get('item')],
      ['signature', outer.get('signature')],
      ['v', 1],
    ]),
    { mapSorter: () => 0 },
  );
  assert.throws(() => peekItem(loose), refusedAs('NOT_CANONICAL', /canonical/));
  assert.throws(() => peekItem(new Uint8Array(MAX_ITEM_BYTES + 1)), refusedAs('OVERSIZED', /item/));
  await assert.rejects(
    sealItem({ ...result, extra: 1 } as SharedResult, a.publicKey, person.privateKey),
    refusedAs('BAD_FIELD', /shared result/),
  );
  await assert.rejects(
    sealItem(result, new Uint8Array(31), person.privateKey),
    refusedAs('BAD_FIELD', /boxKey/),
  );
});
