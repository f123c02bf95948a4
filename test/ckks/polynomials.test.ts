/**
 * Precision by construction (issue 14): random polynomials of degree 1–7 with coefficients over
 * six orders of magnitude, on one-, two- and three-digit inputs, at every preset with the depth
 * for them. Evaluator.polyval with default settings (no outputBound, no calibration) is held to
 * the reference a careful author writes directly against node-seal (./reference-polyval.ts):
 * - wherever the reference is within 0.002%, polyval is too, and within 2× of it;
 * - wherever polyval returns at all, it is within 2× of the reference, or within 0.01% when
 *   the reference cannot evaluate the polynomial; otherwise it refuses with a CkksError.
 * Errors are relative to Σ|c_i·x^i| at each input, so that cancellation between terms is not
 * counted against either evaluation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CipherVector, CkksContext, CkksError, PRESET_IDS, type PresetId } from '../../src/ckks/index.ts';
import { type Kit, kit } from './fixtures.ts';
import { referencePolyval } from './reference-polyval.ts';

const AIM = 2e-5; // 0.002%
const FALLBACK = 1e-4; // where the reference cannot evaluate at all

const RANGES = [
  [1, 9],
  [10, 99],
  [100, 999],
] as const;

function random(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

interface Outcome {
  error?: number;
  refused?: string;
}

async function measure(preset: PresetId, degrees: readonly number[]) {
  const k = await kit(preset, []);
  try {
    return evaluateAll(k, preset, degrees);
  } finally {
    k.dispose();
  }
}

function evaluateAll(k: Kit, preset: PresetId, degrees: readonly number[]): string[] {
  const { context, relinKeys, encryptor, decryptor, evaluator } = k;
  const rnd = random(preset.length * 7919);
  const n = Math.min(context.preset.slots, 2048);
  const failures: string[] = [];
  for (const [lo, hi] of RANGES) {
    const xs = Array.from({ length: n }, () => lo + rnd() * (hi - lo));
    using x = encryptor.encrypt(xs);
    for (const degree of degrees) {
      // Terms up to about hi·10^-6u each: the coefficients span six orders of magnitude.
      const F = Array.from(
        { length: degree + 1 },
        (_, i) => ((rnd() < 0.3 ? -1 : 1) * 10 ** (-6 * rnd())) / hi ** Math.max(0, i - 1),
      );
      const f = (v: number) => F.reduce((s, c, i) => s + c * v ** i, 0);
      const size = (v: number) => F.reduce((s, c, i) => s + Math.abs(c * v ** i), 0);
      const error = (got: Float64Array) =>
        xs.reduce((m, v, i) => Math.max(m, Math.abs((got[i] as number) - f(v)) / size(v)), 0);
      const ours: Outcome = {};
      try {
        using y = evaluator.polyval(x, F);
        ours.error = error(decryptor.decrypt(y, n));
      } catch (e) {
        if (!(e instanceof CkksError)) throw e;
        ours.refused = e.message;
      }
      const ref: Outcome = {};
      try {
        using r = new CipherVector(context, referencePolyval(context, relinKeys, x.handle, F, hi));
        ref.error = error(decryptor.decrypt(r, n));
      } catch {
        ref.refused = 'SEAL refused';
      }
      const at = `${preset} degree ${degree} on ${lo}–${hi} (F = [${F.map((c) => c.toPrecision(2))}])`;
      const pct = (e: number | undefined) => (e === undefined ? 'refused' : `${(100 * e).toPrecision(2)}%`);
      const line = `${at}: polyval ${pct(ours.error)}, reference ${pct(ref.error)}`;
      if (ref.error !== undefined && ref.error < AIM) {
        if (ours.error === undefined) failures.push(`${line}: refused (${ours.refused})`);
        else if (ours.error >= AIM || ours.error > 2 * ref.error) failures.push(line);
      } else if (ours.error !== undefined) {
        const limit = ref.error === undefined ? FALLBACK : 2 * ref.error;
        if (ours.error > limit) failures.push(line);
      }
    }
  }
  return failures;
}

const depthOf = (preset: PresetId) => CkksContext.create(preset).then((c) => c.topLevel);

for (const preset of PRESET_IDS) {
  test(`random polynomials at ${preset}: as precise as the reference exact-scale evaluation, with no options`, async () => {
    const levels = await depthOf(preset);
    const maxDegree = Math.min(7, 2 ** levels - 1);
    // secure-32768 is slow (N = 32768): its lowest and highest degrees stand for the rest.
    const degrees = preset === 'secure-32768' ? [3, 7] : Array.from({ length: maxDegree }, (_, i) => i + 1);
    const failures = await measure(preset, degrees);
    assert.deepEqual(failures, []);
  });
}
