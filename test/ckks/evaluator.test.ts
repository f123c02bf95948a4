import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CkksError, type CkksErrorCode, Evaluator, polynomialDepth } from '../../src/ckks/index.ts';
import { type Kit, kit, maxAbsError } from './fixtures.ts';

let k: Kit;
before(async () => {
  k = await kit('paper-p2');
});
after(() => k.dispose());

const xs = [1.5, 72, -3.25, 14, 0.5, 9, 120, 60];
const ys = [2, -1, 0.5, 78, 3, -7, 80, 0.125];
const fails = (code: CkksErrorCode, pattern?: RegExp) => (e: unknown) =>
  e instanceof CkksError && e.code === code && (!pattern || pattern.test(e.message));

function check(result: { level: number }, got: Float64Array, want: number[], tolerance: number) {
  const err = maxAbsError(got, want);
  assert.ok(err < tolerance, `max error ${err} ≥ ${tolerance} at level ${result.level}`);
}

test('add, sub, negate: ciphertext with ciphertext, constant and vector', () => {
  using x = k.encryptor.encrypt(xs);
  using y = k.encryptor.encrypt(ys);
  const cases: [ReturnType<Evaluator['add']>, number[]][] = [
    [k.evaluator.add(x, y), xs.map((v, i) => v + (ys[i] as number))],
    [k.evaluator.sub(x, y), xs.map((v, i) => v - (ys[i] as number))],
    [k.evaluator.add(x, 2.5), xs.map((v) => v + 2.5)],
    [k.evaluator.sub(x, ys), xs.map((v, i) => v - (ys[i] as number))],
    [k.evaluator.negate(x), xs.map((v) => -v)],
  ];
  for (const [ct, want] of cases) {
    assert.equal(ct.level, k.context.topLevel, 'additions use no level');
    check(ct, k.decryptor.decrypt(ct, want.length), want, 1e-4);
    ct.dispose();
  }
});

test('multiply: ciphertext×ciphertext, ×constant, ×vector, square; one level each', () => {
  using x = k.encryptor.encrypt(xs);
  using y = k.encryptor.encrypt(ys);
  const cases: [ReturnType<Evaluator['add']>, number[]][] = [
    [k.evaluator.multiply(x, y), xs.map((v, i) => v * (ys[i] as number))],
    [k.evaluator.multiply(x, 0.37), xs.map((v) => v * 0.37)],
    [k.evaluator.multiply(x, ys), xs.map((v, i) => v * (ys[i] as number))],
    [k.evaluator.square(x), xs.map((v) => v * v)],
    [k.evaluator.multiply(x, x), xs.map((v) => v * v)],
  ];
  for (const [ct, want] of cases) {
    assert.equal(ct.level, k.context.topLevel - 1);
    check(ct, k.decryptor.decrypt(ct, want.length), want, 1e-2);
    ct.dispose();
  }
  // Inputs are never modified.
  assert.equal(x.level, k.context.topLevel);
  check(x, k.decryptor.decrypt(x, xs.length), xs, 1e-4);
});

test('operands at different levels and scales are aligned without the caller asking', () => {
  using x = k.encryptor.encrypt(xs);
  using x2 = k.evaluator.square(x); // level 2, scale Δ²/q3
  using sum = k.evaluator.add(x, x2); // x is brought down to x2's level and scale
  assert.equal(sum.level, 2);
  check(
    sum,
    k.decryptor.decrypt(sum, xs.length),
    xs.map((v) => v + v * v),
    1e-2,
  );

  // Same level, different scales: x·0.5 (canonical) + x2·x2 rescaled differently.
  using half = k.evaluator.multiply(x, 0.5); // level 2
  using x3 = k.evaluator.multiply(x2, x); // level 1
  using mixed = k.evaluator.add(half, x3);
  assert.equal(mixed.level, 1);
  check(
    mixed,
    k.decryptor.decrypt(mixed, xs.length),
    xs.map((v) => 0.5 * v + v ** 3),
    1, // x³ reaches 1.7e6 here: an absolute tolerance of 1 is a relative 6e-7
  );

  // Same level, scales that cannot meet: both drop one level to the canonical scale.
  using lowered = k.evaluator.dropToLevel(x, 2); // level 2, scale still Δ
  assert.notEqual(lowered.scale, half.scale);
  using both = k.evaluator.add(half, lowered);
  assert.equal(both.level, 1);
  check(
    both,
    k.decryptor.decrypt(both, xs.length),
    xs.map((v) => 1.5 * v),
    1e-2,
  );
});

test('rotate, sum of slots and dot product with Galois keys for the steps asked', () => {
  using x = k.encryptor.encrypt(xs);
  using left = k.evaluator.rotate(x, 1);
  // Key switching adds noise that depends on the Galois keys drawn: up to ~1.5e-3 over a sum of
  // three rotations, across 12 fresh key sets at Δ = 2^30. A broken rotation is off by tens.
  check(left, k.decryptor.decrypt(left, 7), xs.slice(1), 1e-2);
  using right = k.evaluator.rotate(x, -1);
  check(right, k.decryptor.decrypt(right, 8).slice(1), xs.slice(0, 7), 1e-2);
  using total = k.evaluator.sum(x, 8);
  check(total, k.decryptor.decrypt(total, 1), [xs.reduce((a, b) => a + b, 0)], 1e-2);
  const w = [0.5, 0.25, 2, 1, -1, 0.1, 0.01, 3];
  using d = k.evaluator.dot(x, w);
  check(d, k.decryptor.decrypt(d, 1), [xs.reduce((a, v, i) => a + v * (w[i] as number), 0)], 5e-2);
  assert.throws(() => k.evaluator.rotate(x, 16), fails('MISSING_KEY', /rotation by 16/));
});

test('polyval uses at most ⌈log2(d+1)⌉ levels for every degree paper-p2 can hold (⌈log2 d⌉ when that is as precise)', () => {
  using x = k.encryptor.encrypt([0.5, -1.25, 2, 1.75, -0.3]);
  const inputs = [0.5, -1.25, 2, 1.75, -0.3];
  for (let degree = 1; degree <= 7; degree++) {
    const coeffs = Array.from({ length: degree + 1 }, (_, i) => (i % 2 ? 0.8 : -0.45) / (i + 1));
    using y = k.evaluator.polyval(x, coeffs);
    assert.equal(polynomialDepth(degree), Math.ceil(Math.log2(degree + 1)));
    // x^d lands at ⌈log2 d⌉; constants applied there without a rescale can save the last level.
    const levels = [polynomialDepth(degree), Math.ceil(Math.log2(degree))].map((d) => k.context.topLevel - d);
    assert.ok(levels.includes(y.level), `degree ${degree}: level ${y.level}, expected one of ${levels}`);
    const want = inputs.map((v) => coeffs.reduce((s, c, i) => s + c * v ** i, 0));
    check(y, k.decryptor.decrypt(y, inputs.length), want, 1e-3);
  }
});

test('polyval with outputBound keeps small coefficients precise (Fig. 5 polynomial)', () => {
  const inputs = [3, 47, 512, 999];
  const coeffs = [0, 1, 1e-3, 1e-6];
  using x = k.encryptor.encrypt(inputs);
  using y = k.evaluator.polyval(x, coeffs, { outputBound: 3000 });
  const got = k.decryptor.decrypt(y, inputs.length);
  inputs.forEach((v, i) => {
    const want = v + 1e-3 * v * v + 1e-6 * v ** 3;
    const rel = Math.abs((got[i] as number) - want) / want;
    assert.ok(rel < 2e-5, `x=${v}: relative error ${rel}`);
  });
});

test('running out of depth says how many levels were needed and how many remain', () => {
  using x = k.encryptor.encrypt(xs);
  assert.throws(
    () => k.evaluator.polyval(x, [0, 0, 0, 0, 0, 0, 0, 0, 1]),
    fails('DEPTH_EXHAUSTED', /degree 8 needs 4 multiplicative levels; the ciphertext has 3 left/),
  );
  // x⁸ of values up to 120 would not fit q0 (the evaluator refuses it): values ≤ 1 here.
  using small = k.encryptor.encrypt(xs.map((v) => v / 120));
  using a = k.evaluator.square(small);
  using b = k.evaluator.square(a);
  using c = k.evaluator.square(b);
  assert.equal(c.level, 0);
  assert.throws(
    () => k.evaluator.square(c),
    fails('DEPTH_EXHAUSTED', /needs 1 multiplicative level; the ciphertext has 0 left/),
  );
  assert.throws(() => k.evaluator.multiply(c, 2), fails('DEPTH_EXHAUSTED'));
});

test('missing keys, foreign contexts, disposed objects and tiny constants are clear errors', async () => {
  using x = k.encryptor.encrypt(xs);
  using bare = new Evaluator(k.context);
  assert.throws(() => bare.multiply(x, x), fails('MISSING_KEY', /relinearization keys/));
  assert.throws(() => bare.rotate(x, 1), fails('MISSING_KEY', /Galois keys/));
  const other = await kit('paper-p1', [1]);
  try {
    using z = other.encryptor.encrypt(xs);
    assert.throws(() => k.evaluator.add(x, z), fails('MISMATCH', /paper-p1/));
    assert.throws(() => k.decryptor.decrypt(z), fails('MISMATCH'));
  } finally {
    other.dispose();
  }
  const gone = k.encryptor.encrypt(xs);
  gone.dispose();
  assert.throws(() => k.evaluator.add(x, gone), fails('DISPOSED'));
  assert.throws(() => k.evaluator.multiply(x, 1e-12), fails('SCALE', /rounds to zero/));
  assert.throws(() => k.evaluator.polyval(x, [1]), fails('INPUT_TYPE'));
});

test('dropToLevel shrinks a result for transport and keeps its value', () => {
  using x = k.encryptor.encrypt(xs);
  using y = k.evaluator.multiply(x, 0.5);
  using low = k.evaluator.dropToLevel(y);
  assert.equal(low.level, 0);
  assert.ok(low.save().length < 0.6 * y.save().length);
  check(
    low,
    k.decryptor.decrypt(low, xs.length),
    xs.map((v) => v / 2),
    1e-3,
  );
});
