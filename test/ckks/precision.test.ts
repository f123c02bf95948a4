/**
 * Precision and range by construction (issue 14): what used to come back as a wrong number is a
 * CkksError naming the operation, and a polynomial's output scale follows from its input's range
 * without hand tuning.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CkksError } from '../../src/ckks/index.ts';
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

test('x·y·z of full three-digit vectors dropped to level 0 is refused (it would overflow q0), not 2,710% off', () => {
  const slots = k.context.preset.slots;
  const [xs, ys, zs] = [1, 2, 3].map((s) => uniform(100, 999, slots, s)) as [number[], number[], number[]];
  using x = k.encryptor.encrypt(xs);
  using y = k.encryptor.encrypt(ys);
  using z = k.encryptor.encrypt(zs);
  using xy = k.evaluator.multiply(x, y);
  using xyz = k.evaluator.multiply(xy, z); // level 1: q0·q1 still holds 10⁹ at 2^30
  assert.throws(
    () => k.evaluator.dropToLevel(xyz, 0),
    scaleError(/^dropping to level 0: values up to 9\.\d+e\+8 .* would wrap around/),
  );
  // Three one-digit factors fit, and come back right.
  const small = [1, 2, 3].map((s) => uniform(1, 9, slots, s)) as [number[], number[], number[]];
  using a = k.encryptor.encrypt(small[0]);
  using b = k.encryptor.encrypt(small[1]);
  using c = k.encryptor.encrypt(small[2]);
  using ab = k.evaluator.multiply(a, b);
  using abc = k.evaluator.multiply(ab, c);
  using last = k.evaluator.dropToLevel(abc, 0);
  const want = small[0].map((v, i) => v * (small[1][i] as number) * (small[2][i] as number));
  assert.ok(maxRel(k.decryptor.decrypt(last, slots), want) < 2e-5);
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

test("polyval's output scale follows from the input's range: default settings as precise as a hand-given outputBound", () => {
  // The polynomial: F(x) = 0.5 + 0.01x + 2·10⁻⁴x² − 10⁻⁷x³.
  const F = [0.5, 0.01, 2e-4, -1e-7];
  const f = (v: number) => F.reduce((s, c, i) => s + c * v ** i, 0);
  for (const [lo, hi] of [
    [1, 9],
    [10, 99],
  ] as const) {
    const xs = uniform(lo, hi, k.context.preset.slots, hi);
    using x = k.encryptor.encrypt(xs);
    using y = k.evaluator.polyval(x, F);
    const bound = F.reduce((s, c, i) => s + Math.abs(c) * hi ** i, 0);
    using hand = k.evaluator.polyval(x, F, { outputBound: bound });
    const got = maxRel(k.decryptor.decrypt(y, xs.length), xs.map(f));
    const given = maxRel(k.decryptor.decrypt(hand, xs.length), xs.map(f));
    // Below the paper's 0.02%; our 0.002% aim needs the evaluation order of issue 14 part 1.
    assert.ok(got < 2e-4, `${lo}–${hi}: ${(100 * got).toPrecision(2)}%`);
    assert.ok(got <= 2 * given, `${lo}–${hi}: default ${got}, with outputBound ${given}`);
  }
});
