import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CkksContext,
  CkksError,
  getPreset,
  MAX_BITS_128,
  PRESET_IDS,
  PRESETS,
} from '../../src/ckks/index.ts';

test('the paper presets are exactly §6.1 Parameters1 and Parameters2', () => {
  assert.deepEqual(PRESETS['paper-p1'].coeffModulusBits, [60, 40, 40, 60]);
  assert.equal(PRESETS['paper-p1'].polyModulusDegree, 8192);
  assert.equal(PRESETS['paper-p1'].scaleBits, 40);
  assert.equal(PRESETS['paper-p1'].depth, 2);
  assert.deepEqual(PRESETS['paper-p2'].coeffModulusBits, [50, 30, 30, 30, 50]);
  assert.equal(PRESETS['paper-p2'].scaleBits, 30);
  assert.equal(PRESETS['paper-p2'].depth, 3);
  assert.equal(PRESETS['paper-p2'].slots, 4096);
});

test('presets are frozen and describe themselves', () => {
  for (const id of PRESET_IDS) {
    const p = getPreset(id);
    assert.ok(Object.isFrozen(p) && Object.isFrozen(p.coeffModulusBits), id);
    assert.equal(p.slots, p.polyModulusDegree / 2);
    assert.equal(
      p.totalModulusBits,
      p.coeffModulusBits.reduce((a, b) => a + b, 0),
    );
    assert.ok(p.totalModulusBits <= p.maxSecureBits, `${id} within the 128-bit bound`);
    assert.equal(p.maxSecureBits, MAX_BITS_128[p.polyModulusDegree]);
    assert.ok(p.expectedPrecisionBits > 10);
  }
  assert.deepEqual(
    PRESET_IDS.map((id) => PRESETS[id].polyModulusDegree),
    [8192, 8192, 4096, 16384, 32768],
  );
});

test('an unknown preset is a CkksError naming the known ones', () => {
  assert.throws(
    () => getPreset('paper-p3'),
    (e: unknown) => e instanceof CkksError && e.code === 'UNKNOWN_PRESET' && /paper-p1/.test(e.message),
  );
});

test('SEAL accepts each preset at 128-bit security and agrees on the chain', async () => {
  for (const id of ['paper-p1', 'paper-p2', 'secure-4096', 'secure-16384'] as const) {
    const context = await CkksContext.create(id);
    assert.equal(context.topLevel, PRESETS[id].depth, id);
    assert.equal(context.primes.length, PRESETS[id].coeffModulusBits.length - 1);
    context.primes.forEach((q, i) => {
      assert.equal(Math.round(Math.log2(q)), PRESETS[id].coeffModulusBits[i], `${id} prime ${i}`);
    });
    assert.equal(
      context.seal.CoeffModulus.MaxBitCount(PRESETS[id].polyModulusDegree, context.seal.SecLevelType.tc128),
      PRESETS[id].maxSecureBits,
    );
    // Created once, reused.
    assert.equal(await CkksContext.create(id), context);
  }
});
