/**
 * Precision and range by construction (issue 14): what used to come back as a wrong number is a
 * CkksError naming the operation, and a polynomial's output scale follows from its input's range
 * without hand tuning.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CkksError, loadCiphertext } from '../../src/ckks/index.ts';
import { type Kit, kit } from './fixtures.ts';

let k: Kit;
before(async () => {
  k = await kit('paper-p2', []);
});
after(() => k.dispose());

const uniform = (lo: number, hi: number, n: number, seed: number) => {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return lo + (s / 2 ** 31) * (hi - lo);
  });
};
const maxRel = (got: Float64Array, want: number[]) =>
  Math.max(...want.map((w, i) => Math.abs((got[i] as number) - w) / Math.abs(w)));
const scaleError = (pattern: RegExp) => (e: unknown) =>
  e instanceof CkksError && e.code === 'SCALE' && pattern.test(e.message);

test('x·y·z of three-digit vectors: dropped to level 0 it rescales (a plain switch would overflow q0, 2,710% off); one more factor is refused', () => {
  const slots = k.context.preset.slots;
  const [xs, ys, zs, ws] = [1, 2, 3, 4].map((s) => uniform(100, 999, slots, s)) as [
    number[],
    number[],
    number[],
    number[],
  ];
  using x = k.encryptor.encrypt(xs);
  using y = k.encryptor.encrypt(ys);
  using z = k.encryptor.encrypt(zs);
  using w = k.encryptor.encrypt(ws);
  using xy = k.evaluator.multiply(x, y);
  using xyz = k.evaluator.multiply(xy, z); // level 1: q0·q1 holds 10⁹ at 2^30, q0 alone does not
  using last = k.evaluator.dropToLevel(xyz, 0);
  assert.equal(last.level, 0);
  assert.ok(last.scale < xyz.scale, 'rescaled, not switched');
  const want = xs.map((v, i) => v * (ys[i] as number) * (zs[i] as number));
  assert.ok(maxRel(k.decryptor.decrypt(last, slots), want) < 1e-6);
  // 10¹² at level 0 fits no scale with precision left: refused, never wrapped around.
  assert.throws(
    () => k.evaluator.multiply(xyz, w),
    scaleError(/^multiplication: values up to 9\.\d+e\+11 .* would wrap around/),
  );
});

test('a constant too small to encode at useful precision is refused, naming it (it was 0.031–15% off, silently)', () => {
  const xs = uniform(1, 999, 64, 4);
  using x = k.encryptor.encrypt(xs);
  for (const c of [1e-6, 1e-7, 1e-8, 1e-9]) {
    assert.throws(
      () => k.evaluator.multiply(x, c),
      scaleError(new RegExp(`^multiplying by ${c}: .* off by up to`)),
    );
  }
  // 10⁻³ encodes to 0.00005% at 2^30; the product's error is then the rescaling noise, absolute.
  using ok = k.evaluator.multiply(x, 1e-3);
  const got = k.decryptor.decrypt(ok, xs.length);
  assert.ok(Math.max(...xs.map((v, i) => Math.abs((got[i] as number) - v * 1e-3))) < 1e-5);
});

test("the issue's polynomial with default settings: within 0.002% on one-, two- and three-digit inputs (it was 0.13% / 2.25% / 6.83%)", () => {
  // F(x) = 0.5 + 0.01x + 2·10⁻⁴x² − 10⁻⁷x³: c₃·x used to become a tiny intermediate at the noise floor.
  const F = [0.5, 0.01, 2e-4, -1e-7];
  const f = (v: number) => F.reduce((s, c, i) => s + c * v ** i, 0);
  for (const [lo, hi] of [
    [1, 9],
    [10, 99],
    [100, 999],
  ] as const) {
    const xs = uniform(lo, hi, k.context.preset.slots, hi);
    using x = k.encryptor.encrypt(xs);
    using y = k.evaluator.polyval(x, F);
    const got = maxRel(k.decryptor.decrypt(y, xs.length), xs.map(f));
    assert.ok(got < 2e-5, `${lo}–${hi}: ${(100 * got).toPrecision(2)}%`);
    // Loaded from bytes a ciphertext has no range; the caller's inputBound gives the same result.
    using bare = loadCiphertext(k.context, x.save());
    assert.equal(bare.bound, undefined);
    using given = k.evaluator.polyval(bare, F, { inputBound: hi });
    const withBound = maxRel(k.decryptor.decrypt(given, xs.length), xs.map(f));
    assert.ok(withBound < 2e-5, `${lo}–${hi} with inputBound: ${(100 * withBound).toPrecision(2)}%`);
  }
});

test('a polynomial no placement can evaluate precisely is refused, naming the coefficient, not returned wrong', () => {
  // Degree 7 on three-digit inputs: x^7 reaches 10^21, beyond what paper-p2's last levels hold.
  const xs = uniform(100, 999, 64, 9);
  using x = k.encryptor.encrypt(xs);
  assert.throws(
    () => k.evaluator.polyval(x, [0, 1e-3, 1e-6, 1e-9, 1e-12, 1e-15, 1e-18, 1e-21]),
    (e: unknown) =>
      e instanceof CkksError && e.code === 'SCALE' && /c\d|wrap around|values up to/.test(e.message),
  );
});

test('a polyval result leaves room for what follows: summed with, and multiplied by, a constant and a ciphertext', () => {
  const xs = uniform(1, 9, 256, 21);
  const zs = uniform(10, 99, 256, 22);
  const F = [0.5, 0.1, 0.01, 0.001];
  const f = (v: number) => F.reduce((s, c, i) => s + c * v ** i, 0);
  using x = k.encryptor.encrypt(xs);
  using y = k.evaluator.polyval(x, F);
  using z = k.evaluator.dropToLevel(k.encryptor.encrypt(zs), y.level);
  assert.notEqual(y.scale, z.scale);
  using sum = k.evaluator.add(y, z);
  using scaled = k.evaluator.multiply(y, 3);
  using product = k.evaluator.multiply(y, z);
  const check = (v: Parameters<typeof k.decryptor.decrypt>[0], want: number[]) =>
    assert.ok(maxRel(k.decryptor.decrypt(v, want.length), want) < 2e-5);
  check(
    sum,
    xs.map((v, i) => f(v) + (zs[i] as number)),
  );
  check(
    scaled,
    xs.map((v) => 3 * f(v)),
  );
  check(
    product,
    xs.map((v, i) => f(v) * (zs[i] as number)),
  );
});
