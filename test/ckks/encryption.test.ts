import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CkksError, Decryptor, Encryptor, loadCiphertext, loadKey, SecretKey } from '../../src/ckks/index.ts';
import { type Kit, kit, maxAbsError } from './fixtures.ts';

let k: Kit;
before(async () => {
  k = await kit('paper-p2');
});
after(() => k.dispose());

const vitals = [72, 78, 121, 14, 88.5, 0.25, 999, 3];

test('public-key encryption round-trips within the preset precision', () => {
  using ct = k.encryptor.encrypt(vitals);
  assert.equal(ct.level, k.context.topLevel);
  assert.equal(ct.scale, 2 ** 30);
  const out = k.decryptor.decrypt(ct, vitals.length);
  assert.equal(out.length, vitals.length);
  assert.ok(maxAbsError(out, vitals) < 2 ** -15, `error ${maxAbsError(out, vitals)}`);
});

test('symmetric seeded ciphertexts are about half the bytes and decrypt the same', () => {
  const pub = k.encryptor.encryptToBytes(vitals);
  const sym = k.symmetric.encryptToBytes(vitals);
  const ratio = sym.length / pub.length;
  assert.ok(ratio > 0.45 && ratio < 0.55, `seeded/public = ${ratio}`);
  using a = loadCiphertext(k.context, pub);
  using b = loadCiphertext(k.context, sym);
  assert.ok(maxAbsError(k.decryptor.decrypt(a), vitals) < 2 ** -15);
  assert.ok(maxAbsError(k.decryptor.decrypt(b), vitals) < 2 ** -15);
});

test('a full slot vector round-trips; one more value than slots is refused', () => {
  const full = Array.from({ length: 4096 }, (_, i) => (i % 200) - 100);
  using ct = k.symmetric.encrypt(full);
  assert.ok(maxAbsError(k.decryptor.decrypt(ct), full) < 2 ** -14);
  assert.throws(
    () => k.symmetric.encrypt(new Array(4097).fill(1)),
    (e: unknown) => e instanceof CkksError && e.code === 'SLOTS',
  );
});

test('non-finite and out-of-range values are refused with the index named', () => {
  assert.throws(
    () => k.encryptor.encrypt([1, Number.NaN]),
    (e: unknown) => e instanceof CkksError && e.code === 'INPUT_TYPE' && /index 1/.test(e.message),
  );
  assert.throws(
    () => k.encryptor.encrypt([1, 2, 2 ** 200]),
    (e: unknown) => e instanceof CkksError && e.code === 'SCALE' && /index 2/.test(e.message),
  );
});

test('keys serialize (seeded where SEAL allows) and load back to working keys', () => {
  const seeded = k.secret.savePublicKey();
  const full = k.secret.savePublicKeyFull();
  assert.ok(seeded.length < 0.6 * full.length, `seeded ${seeded.length} vs full ${full.length}`);
  using pk = loadKey(k.context, 'publicKey', seeded);
  using enc = Encryptor.withPublicKey(pk);
  using ct = enc.encrypt(vitals);
  assert.ok(maxAbsError(k.decryptor.decrypt(ct), vitals) < 2 ** -15);

  using sk = loadKey(k.context, 'secretKey', k.secret.save());
  using dec = new Decryptor(sk);
  assert.ok(maxAbsError(dec.decrypt(ct), vitals) < 2 ** -15);
});

test('a different secret key cannot decrypt', () => {
  using other = SecretKey.generate(k.context);
  using dec = new Decryptor(other);
  using ct = k.encryptor.encrypt(vitals);
  assert.ok(maxAbsError(dec.decrypt(ct), vitals) > 1000);
});

test('secure-4096 and secure-32768 encrypt and decrypt', async () => {
  for (const id of ['secure-4096', 'secure-32768'] as const) {
    const kk = await kit(id, [1]);
    try {
      using ct = kk.symmetric.encrypt(vitals);
      using sq = kk.evaluator.square(ct);
      const want = vitals.map((v) => v * v);
      const err = maxAbsError(kk.decryptor.decrypt(sq), want);
      assert.ok(err < 0.05, `${id}: ${err}`);
    } finally {
      kk.dispose();
    }
  }
});

test('a fresh encryption keeps the precision its preset promises', async () => {
  for (const id of ['paper-p1', 'paper-p2', 'secure-4096'] as const) {
    const kk = await kit(id, [1]);
    try {
      const inputs = Array.from({ length: 4096 }, (_, i) => Math.sin(i * 0.37)).slice(
        0,
        kk.context.preset.slots,
      );
      using ct = kk.encryptor.encrypt(inputs);
      const bits = -Math.log2(maxAbsError(kk.decryptor.decrypt(ct, inputs.length), inputs));
      assert.ok(bits >= kk.context.preset.expectedPrecisionBits, `${id}: ${bits.toFixed(1)} bits`);
    } finally {
      kk.dispose();
    }
  }
});
