/**
 * The reference a careful author writes directly against node-seal (issue 14): powers by the
 * depth-optimal tree at their natural scales, then each coefficient multiplied last, encoded at
 * the scale that lands every term exactly on one common scale, the largest the output level
 * holds for the polynomial's range. No setScale, no hidden tuning. PMHE's Evaluator.polyval is
 * measured against it in test/ckks/polynomials.test.ts and bench:paper's Fig. 5.
 */
import type { Ciphertext } from 'node-seal';
import type { CkksContext, RelinKeys } from '../../src/ckks/index.ts';

/** Σ c_i x^i for x encrypted (values |x| ≤ inputMax); the caller deletes the result. */
export function referencePolyval(
  context: CkksContext,
  relinKeys: RelinKeys,
  x: Ciphertext,
  coefficients: readonly number[],
  inputMax: number,
): Ciphertext {
  const seal = context.seal;
  const ev = context.sealEvaluator;
  const owned: Ciphertext[] = [];
  const levelOf = (c: Ciphertext) => c.coeffModulusSize() - 1;
  const lowered = (c: Ciphertext, level: number): Ciphertext => {
    if (levelOf(c) === level) return c;
    const out = new seal.Ciphertext();
    owned.push(out);
    ev.cipherModSwitchTo(c, context.parmsIdAt(level), out);
    return out;
  };
  const powers = new Map<number, Ciphertext>([[1, x]]);
  const power = (i: number): Ciphertext => {
    let p = powers.get(i);
    if (!p) {
      const high = 2 ** (Math.ceil(Math.log2(i)) - 1);
      const a = power(high);
      const b = power(i - high);
      const level = Math.min(levelOf(a), levelOf(b));
      p = new seal.Ciphertext();
      owned.push(p);
      ev.multiply(lowered(a, level), lowered(b, level), p);
      ev.relinearizeInplace(p, relinKeys.handle);
      ev.rescaleToNextInplace(p);
      powers.set(i, p);
    }
    return p;
  };
  try {
    const degree = coefficients.length - 1;
    const level = levelOf(x) - Math.ceil(Math.log2(degree));
    const bound = coefficients.reduce((s, c, i) => s + Math.abs(c) * inputMax ** i, 0);
    // The largest scale at which every term and the sum stay below q/4 at the output level.
    const scale = 2 ** Math.floor(context.modulusBitsAt(level) - Math.log2(Math.max(bound, 1)) - 2);
    let sum: Ciphertext | undefined;
    for (let i = 1; i <= degree; i++) {
      const c = coefficients[i] as number;
      if (c === 0) continue;
      const p = power(i);
      const plain = context.encodeConstant(c, scale / p.scale(), levelOf(p));
      const term = new seal.Ciphertext();
      owned.push(term);
      ev.multiplyPlain(p, plain, term);
      plain.delete();
      const t = lowered(term, level);
      t.setScale(scale); // equal up to floating-point rounding of scale / p.scale()
      if (sum) ev.addInplace(sum, t);
      else sum = t.clone();
    }
    if (!sum) throw new Error('reference polyval needs a non-zero coefficient of degree ≥ 1');
    if (coefficients[0]) {
      const plain = context.encodeConstant(coefficients[0], scale, level);
      ev.addPlainInplace(sum, plain);
      plain.delete();
    }
    return sum;
  } finally {
    for (const o of owned) o.delete();
  }
}
