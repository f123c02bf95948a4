/**
 * Homomorphic arithmetic that feels like TenSEAL: the caller never relinearizes, rescales or
 * aligns levels and scales. Every operation returns a new CipherVector (the caller disposes
 * it); inputs are never modified.
 *
 * Scale policy (see docs/ckks.md): SEAL tracks each ciphertext's exact scale. Rescaling divides
 * by a prime q, not by 2^bits, so scales drift from Δ; instead of forcing them back with
 * setScale (a systematic error of |1 − Δ/q| per level, ~0.04% at paper-p2), every plaintext
 * multiplier is encoded at the scale that makes the product land exactly on the scale wanted.
 * "Canonical" scales Δ_L = Δ, Δ_{l-1} = Δ_l²/q_l keep ciphertext×ciphertext products aligned.
 */
import type { Ciphertext, Plaintext } from 'node-seal';
import type { CkksContext } from './context.ts';
import { CkksError, type CkksErrorCode, guard } from './errors.ts';
import type { GaloisKeys, RelinKeys } from './keys.ts';
import { CipherVector, type ValueBound } from './vector.ts';

export type Operand = CipherVector | number | ArrayLike<number>;

export interface PolyvalOptions {
  /**
   * A bound on |F(x)| and on each term |c_i·x^i|, when the input's range does not give one. The
   * result is produced at the largest scale its level holds for values this large.
   */
  outputBound?: number;
  /** |x| ≤ inputBound, for a ciphertext that carries no bound of its own (one loaded from bytes). */
  inputBound?: number;
}

interface TermPlan {
  /** Estimated largest error the term carries, in value units. */
  error: number;
  build: () => CipherVector;
}

interface PlanContext {
  shape: (i: number) => { level: number; scale: number };
  power: (i: number) => CipherVector;
  magnitude: (c: number, i: number) => number;
  inputMax: number | undefined;
}

/** Relative scale difference treated as floating-point noise, not a real mismatch. */
const SCALE_EPSILON = 1e-9;
const CONSTANT_CACHE_SIZE = 128;

function close(a: number, b: number): boolean {
  return Math.abs(a - b) <= SCALE_EPSILON * Math.max(Math.abs(a), Math.abs(b));
}

/** The largest relative rounding a constant may carry into a product: 2^-15 ≈ 0.003%. */
const MAX_CONSTANT_ERROR = 2 ** -15;

function smallestNonZero(c: number | ArrayLike<number>): number {
  if (typeof c === 'number') return Math.abs(c);
  let m = Number.POSITIVE_INFINITY;
  for (let i = 0; i < c.length; i++) {
    const v = Math.abs(c[i] as number);
    if (v > 0 && v < m) m = v;
  }
  return Number.isFinite(m) ? m : 0;
}

const sumBound = (a: ValueBound | undefined, b: ValueBound | undefined): ValueBound | undefined =>
  a === undefined || b === undefined ? undefined : { max: a.max + b.max, sum: a.sum + b.sum };
const productBound = (a: ValueBound | undefined, b: ValueBound | undefined): ValueBound | undefined =>
  a === undefined || b === undefined
    ? undefined
    : { max: a.max * b.max, sum: Math.min(a.max * b.sum, b.max * a.sum) };

function ceilLog2(n: number): number {
  return n <= 1 ? 0 : Math.ceil(Math.log2(n));
}

/** Multiplicative depth of a polynomial of degree d evaluated depth-optimally: ⌈log2(d+1)⌉. */
export function polynomialDepth(degree: number): number {
  return ceilLog2(degree + 1);
}

export class Evaluator implements Disposable {
  readonly context: CkksContext;
  readonly relinKeys: RelinKeys | undefined;
  readonly galoisKeys: GaloisKeys | undefined;
  private readonly canonical: number[];
  private readonly constants = new Map<string, Plaintext>();

  constructor(context: CkksContext, keys: { relinKeys?: RelinKeys; galoisKeys?: GaloisKeys } = {}) {
    this.context = context;
    this.relinKeys = keys.relinKeys;
    this.galoisKeys = keys.galoisKeys;
    const canonical: number[] = [];
    canonical[context.topLevel] = context.defaultScale;
    for (let level = context.topLevel; level > 0; level--) {
      const scale = canonical[level] as number;
      canonical[level - 1] = (scale * scale) / context.primeAt(level);
    }
    this.canonical = canonical;
  }

  /** The scale a ciphertext at `level` has when it got there by products of fresh ciphertexts. */
  canonicalScale(level: number): number {
    const scale = this.canonical[level];
    if (scale === undefined) throw new CkksError('LEVEL', `no level ${level} in ${this.context.preset.id}`);
    return scale;
  }

  // ---- plumbing -------------------------------------------------------------------------

  private check(vector: CipherVector): Ciphertext {
    if (vector.context !== this.context) {
      throw new CkksError(
        'MISMATCH',
        `ciphertext of ${vector.context.preset.id} given to a ${this.context.preset.id} evaluator`,
      );
    }
    return vector.handle;
  }

  /** Runs a SEAL operation into a fresh ciphertext; frees it if anything fails. */
  private produce(code: CkksErrorCode, what: string, fn: (out: Ciphertext) => void): CipherVector {
    const out = new this.context.seal.Ciphertext();
    try {
      guard(code, what, () => fn(out));
      return new CipherVector(this.context, out);
    } catch (error) {
      out.delete();
      throw error;
    }
  }

  /** A copy of `a` at a lower level (modulus switching keeps the scale). */
  private atLevel(a: CipherVector, level: number): CipherVector {
    const ct = this.check(a);
    if (level > a.level)
      throw new CkksError('LEVEL', `cannot raise a ciphertext from level ${a.level} to ${level}`);
    if (level === a.level) return a.copy();
    return this.produce('LEVEL', `switching to level ${level}`, (out) =>
      this.context.sealEvaluator.cipherModSwitchTo(ct, this.context.parmsIdAt(level), out),
    );
  }

  private constant(value: number, scale: number, level: number): Plaintext {
    const key = `${value}@${scale}@${level}`;
    let plain = this.constants.get(key);
    if (plain) {
      this.constants.delete(key); // re-insert: most recently used last
    } else {
      plain = this.context.encodeConstant(value, scale, level);
      if (this.constants.size >= CONSTANT_CACHE_SIZE) {
        const [oldest, evicted] = this.constants.entries().next().value as [string, Plaintext];
        evicted.delete();
        this.constants.delete(oldest);
      }
    }
    this.constants.set(key, plain);
    return plain;
  }

  /** Sets the scale to `target` when it differs only by floating-point rounding. */
  private snap(vector: CipherVector, target: number): CipherVector {
    if (vector.scale === target) return vector;
    if (!close(vector.scale, target)) {
      vector.dispose();
      throw new CkksError('SCALE', `scale drifted to ${vector.scale} from ${target}`);
    }
    vector.handle.setScale(target);
    return vector;
  }

  /**
   * Gives `vector` its bound and refuses it (disposed) when values that large would not fit its
   * modulus at its scale: CKKS would wrap them around silently, a wrong number with no error.
   */
  private bounded(vector: CipherVector, bound: ValueBound | undefined, what: string): CipherVector {
    vector.bound = bound;
    if (bound === undefined || !(bound.sum > 0)) return vector;
    // Coefficients ≤ 2·scale·Σ|v|/N must stay below q/2 (centred: the sign takes a bit).
    const n = this.context.preset.polyModulusDegree;
    const bits = Math.log2((2 * vector.scale * Math.min(bound.sum, bound.max * (n / 2))) / n);
    const room = this.context.modulusBitsAt(vector.level);
    if (!(bits < room - 1)) {
      const level = vector.level;
      const scaleBits = Math.log2(vector.scale).toFixed(1);
      vector.dispose();
      throw new CkksError(
        'SCALE',
        `${what}: values up to ${bound.max.toPrecision(3)} at scale 2^${scaleBits} need ${bits.toFixed(1)} bits; level ${level} has ${room.toFixed(0)} (they would wrap around: a wrong number)`,
      );
    }
    return vector;
  }

  /** The bound of an operand: a ciphertext's own; a scalar fills every slot. */
  private boundOf(b: Operand): ValueBound | undefined {
    if (b instanceof CipherVector) return b.bound;
    if (typeof b === 'number') return { max: Math.abs(b), sum: Math.abs(b) * this.context.preset.slots };
    const bound = { max: 0, sum: 0 };
    for (let i = 0; i < b.length; i++) {
      const v = Math.abs(b[i] as number);
      bound.max = Math.max(bound.max, v);
      bound.sum += v;
    }
    return bound;
  }

  private requireLevels(needed: number, available: number, what: string): void {
    if (needed > available) {
      throw new CkksError(
        'DEPTH_EXHAUSTED',
        `${what} needs ${needed} multiplicative level${needed === 1 ? '' : 's'}; the ciphertext has ${available} left`,
      );
    }
  }

  /**
   * a · c landing exactly on (level, scale): `a` is switched down to level + 1, `c` encoded at
   * the scale that makes the product's scale after rescaling equal `scale`.
   */
  private multiplyConstantTo(
    a: CipherVector,
    c: number | ArrayLike<number>,
    level: number,
    scale: number,
    // Inside a polynomial a coefficient's rounding counts against the whole output, not itself.
    checkPrecision = true,
  ) {
    this.requireLevels(a.level - level, a.level, 'multiplying by a constant');
    using lowered = this.atLevel(a, level + 1);
    const plainScale = (scale * this.context.primeAt(level + 1)) / lowered.scale;
    if (plainScale < 2 ** 8 || Math.log2(plainScale) > this.context.modulusBitsAt(level + 1) - 2) {
      throw new CkksError(
        'SCALE',
        `a constant would need scale 2^${Math.log2(plainScale).toFixed(1)}: out of range`,
      );
    }
    const isScalar = typeof c === 'number';
    if (isScalar && Math.abs(c) * plainScale < 0.5) {
      throw new CkksError(
        'SCALE',
        `constant ${c} rounds to zero at scale 2^${Math.log2(plainScale).toFixed(1)} (a transparent result would hide nothing)`,
      );
    }
    // Encoded, a constant is rounded to a multiple of 1/plainScale: a small one loses digits the
    // product then carries, silently (10⁻⁸ at 2^30: 3.4% off). Refuse rather than be wrong.
    const smallest = checkPrecision ? smallestNonZero(c) : 0;
    if (smallest > 0 && 0.5 / (smallest * plainScale) > MAX_CONSTANT_ERROR) {
      throw new CkksError(
        'SCALE',
        `multiplying by ${smallest}: encoded at scale 2^${Math.log2(plainScale).toFixed(1)} it is off by up to ${(50 / (smallest * plainScale)).toPrecision(2)}% (more than ${(100 * MAX_CONSTANT_ERROR).toPrecision(2)}%); scale the value first (a larger input scale), or multiply by a larger constant and divide later`,
      );
    }
    const plain = isScalar
      ? this.constant(c, plainScale, level + 1)
      : this.context.encode(c, plainScale, level + 1);
    try {
      const product = this.produce('SCALE', 'multiplying by a plaintext', (out) => {
        this.context.sealEvaluator.multiplyPlain(lowered.handle, plain, out);
        this.context.sealEvaluator.rescaleToNextInplace(out);
      });
      return this.snap(product, scale);
    } finally {
      if (!isScalar) plain.delete();
    }
  }

  /** Two operands at one level and one scale, dropping a level only when scales cannot meet otherwise. */
  private align(a: CipherVector, b: CipherVector): [CipherVector, CipherVector] {
    this.check(a);
    this.check(b);
    const level = Math.min(a.level, b.level);
    if (close(a.scale, b.scale)) {
      const x = this.atLevel(a, level);
      const y = this.atLevel(b, level);
      y.handle.setScale(x.scale);
      return [x, y];
    }
    if (a.level > level) return [this.multiplyConstantTo(a, 1, level, b.scale), this.atLevel(b, level)];
    if (b.level > level) return [this.atLevel(a, level), this.multiplyConstantTo(b, 1, level, a.scale)];
    this.requireLevels(1, level, 'adding ciphertexts of different scales at one level');
    const target = this.canonicalScale(level - 1);
    return [
      this.multiplyConstantTo(a, 1, level - 1, target),
      this.multiplyConstantTo(b, 1, level - 1, target),
    ];
  }

  private combine(kind: 'add' | 'sub', a: CipherVector, b: Operand): CipherVector {
    const sealEvaluator = this.context.sealEvaluator;
    if (b instanceof CipherVector) {
      const [x, y] = this.align(a, b);
      try {
        return this.produce('SEAL_ERROR', kind, (out) =>
          kind === 'add'
            ? sealEvaluator.add(x.handle, y.handle, out)
            : sealEvaluator.sub(x.handle, y.handle, out),
        );
      } finally {
        x.dispose();
        y.dispose();
      }
    }
    const ct = this.check(a);
    const plain =
      typeof b === 'number' ? this.constant(b, a.scale, a.level) : this.context.encode(b, a.scale, a.level);
    try {
      return this.produce('SEAL_ERROR', `${kind} plaintext`, (out) =>
        kind === 'add' ? sealEvaluator.addPlain(ct, plain, out) : sealEvaluator.subPlain(ct, plain, out),
      );
    } finally {
      if (typeof b !== 'number') plain.delete();
    }
  }

  // ---- the public operations ------------------------------------------------------------

  add(a: CipherVector, b: Operand): CipherVector {
    return this.bounded(this.combine('add', a, b), sumBound(a.bound, this.boundOf(b)), 'addition');
  }

  sub(a: CipherVector, b: Operand): CipherVector {
    return this.bounded(this.combine('sub', a, b), sumBound(a.bound, this.boundOf(b)), 'subtraction');
  }

  negate(a: CipherVector): CipherVector {
    const ct = this.check(a);
    return this.bounded(
      this.produce('SEAL_ERROR', 'negate', (out) => this.context.sealEvaluator.negate(ct, out)),
      a.bound,
      'negation',
    );
  }

  /** Slot-wise product with a ciphertext, a constant, or a vector of constants; uses one level. */
  multiply(a: CipherVector, b: Operand): CipherVector {
    this.check(a);
    const bound = productBound(a.bound, this.boundOf(b));
    if (!(b instanceof CipherVector)) {
      this.requireLevels(1, a.level, 'multiplication');
      return this.bounded(
        this.multiplyConstantTo(a, b, a.level - 1, this.canonicalScale(a.level - 1)),
        bound,
        'multiplication by a constant',
      );
    }
    this.check(b);
    const level = Math.min(a.level, b.level);
    this.requireLevels(1, level, 'multiplication');
    using x = this.atLevel(a, level);
    using y = a === b ? undefined : this.atLevel(b, level);
    return this.bounded(
      this.relinearizeRescale('multiplication', (out) =>
        this.context.sealEvaluator.multiply(x.handle, (y ?? x).handle, out),
      ),
      bound,
      'multiplication',
    );
  }

  square(a: CipherVector): CipherVector {
    const ct = this.check(a);
    this.requireLevels(1, a.level, 'squaring');
    return this.bounded(
      this.relinearizeRescale('squaring', (out) => this.context.sealEvaluator.square(ct, out)),
      productBound(a.bound, a.bound),
      'squaring',
    );
  }

  private relinearizeRescale(what: string, product: (out: Ciphertext) => void): CipherVector {
    const keys = this.relinKeys;
    if (!keys) throw new CkksError('MISSING_KEY', `${what} of two ciphertexts needs relinearization keys`);
    return this.produce('SCALE', what, (out) => {
      product(out);
      this.context.sealEvaluator.relinearizeInplace(out, keys.handle);
      this.context.sealEvaluator.rescaleToNextInplace(out);
    });
  }

  /** Rotates slots left by `steps` (right when negative). */
  rotate(a: CipherVector, steps: number): CipherVector {
    const ct = this.check(a);
    const keys = this.galoisKeys;
    if (!keys) throw new CkksError('MISSING_KEY', `rotation by ${steps} needs Galois keys`);
    const rotated = this.produce('MISSING_KEY', `rotation by ${steps} (Galois keys present for it?)`, (out) =>
      this.context.sealEvaluator.rotateVector(ct, steps, keys.handle, out),
    );
    rotated.bound = a.bound;
    return rotated;
  }

  /**
   * Sums slots [0, count) into slot 0 by rotate-and-add (steps 1, 2, 4, …); slots from count up
   * to the next power of two must be zero, as they are when fewer values than slots were encrypted.
   */
  sum(a: CipherVector, count: number = this.context.preset.slots): CipherVector {
    let acc = a.copy();
    try {
      for (let step = 1; step < count; step *= 2) {
        using rotated = this.rotate(acc, step);
        const next = this.add(acc, rotated);
        acc.dispose();
        acc = next;
      }
      return acc;
    } catch (error) {
      acc.dispose();
      throw error;
    }
  }

  /** Σ a_i·w_i over the first weights.length slots, in slot 0. */
  dot(a: CipherVector, weights: ArrayLike<number>): CipherVector {
    using product = this.multiply(a, weights);
    return this.sum(product, weights.length);
  }

  /**
   * A copy at a lower level (default the last): fewer primes, so fewer bytes to send. Switching
   * levels keeps the scale; when the values would not fit the lower level at that scale (a
   * polynomial's result sits at the largest scale its own level holds), it rescales instead,
   * multiplying by 1 encoded exactly as a power of two.
   */
  dropToLevel(a: CipherVector, level = 0): CipherVector {
    this.check(a);
    const bound = a.bound;
    const fits = (scale: number, l: number) =>
      bound === undefined || !(bound.max > 0) || Math.log2(scale) <= this.fittingScaleBits(l, bound);
    let v = a.copy();
    try {
      while (v.level > level && !fits(v.scale, level)) {
        let l = level + 1;
        while (l < v.level && !fits(v.scale, l)) l++;
        const switched = this.atLevel(v, l);
        v.dispose();
        v = switched;
        const q = this.context.primeAt(l);
        const room = this.fittingScaleBits(l - 1, bound as ValueBound);
        const bits = Math.max(0, Math.min(30, Math.floor(room + Math.log2(q) - Math.log2(v.scale))));
        const one = this.constant(1, 2 ** bits, l);
        const rescaled = this.produce('SCALE', `rescaling to level ${l - 1}`, (out) => {
          this.context.sealEvaluator.multiplyPlain((v as CipherVector).handle, one, out);
          this.context.sealEvaluator.rescaleToNextInplace(out);
        });
        v.dispose();
        v = rescaled;
      }
      const dropped = this.atLevel(v, level);
      v.dispose();
      return this.bounded(dropped, bound, `dropping to level ${level}`);
    } catch (error) {
      v.dispose();
      throw error;
    }
  }

  /**
   * F(x) = Σ c_i x^i with depth ⌈log2(d+1)⌉, the least possible, every term landing on one level
   * and one exact scale: the largest that level holds for F's range, so that no intermediate
   * sits near the noise floor. Each term is placed where its estimated error is least (see
   * `planTerm`); a polynomial whose best placement still loses more than 2^-15 of its range is
   * refused, naming the coefficient, rather than returned wrong. Powers are shared between terms.
   */
  polyval(x: CipherVector, coefficients: readonly number[], options: PolyvalOptions = {}): CipherVector {
    this.check(x);
    let degree = coefficients.length - 1;
    while (degree > 0 && coefficients[degree] === 0) degree--;
    if (degree < 1) throw new CkksError('INPUT_TYPE', 'polyval needs a polynomial of degree at least 1');
    if (coefficients.some((c) => !Number.isFinite(c))) {
      throw new CkksError('INPUT_TYPE', 'polyval coefficients must be finite numbers');
    }
    for (const [name, v] of [
      ['outputBound', options.outputBound],
      ['inputBound', options.inputBound],
    ] as const) {
      if (v !== undefined && !(v > 0 && Number.isFinite(v))) {
        throw new CkksError('INPUT_TYPE', `${name} must be a positive finite number, got ${v}`);
      }
    }
    const depth = polynomialDepth(degree);
    this.requireLevels(depth, x.level, `a polynomial of degree ${degree}`);
    const level = x.level - depth;
    const slots = this.context.preset.slots;
    // |x| ≤ R (the ciphertext's own bound, else the caller's): Σ|c_i|·R^i bounds |F(x)| and every term.
    const inputMax = x.bound?.max ?? options.inputBound;
    const inputSum = x.bound?.sum ?? (inputMax === undefined ? undefined : inputMax * slots);
    const derived: ValueBound | undefined =
      inputMax === undefined || inputSum === undefined
        ? undefined
        : {
            max: coefficients.reduce((sum, c, i) => sum + Math.abs(c) * inputMax ** i, 0),
            // |F(v)| ≤ |c0| + Σ_{i≥1} |c_i|·max^(i−1)·|v|, summed over the slots.
            sum:
              Math.abs(coefficients[0] ?? 0) * slots +
              coefficients.reduce(
                (sum, c, i) => (i === 0 ? sum : sum + Math.abs(c) * inputMax ** (i - 1)),
                0,
              ) *
                inputSum,
          };
    const outputBound = options.outputBound ?? (derived && derived.max > 0 ? derived.max : undefined);
    const resultBound: ValueBound | undefined =
      outputBound === undefined
        ? derived
        : { max: outputBound, sum: Math.min(derived?.sum ?? Number.POSITIVE_INFINITY, outputBound * slots) };

    const powers = new Map<number, CipherVector>([[1, x]]);
    const power = (i: number): CipherVector => {
      let p = powers.get(i);
      if (!p) {
        const high = 2 ** (ceilLog2(i) - 1); // largest power of two below i
        p = i === 2 * high ? this.square(power(high)) : this.multiply(power(high), power(i - high));
        powers.set(i, p);
      }
      return p;
    };
    const shape = this.powerShapes(x);
    const magnitude = (c: number, i: number) =>
      inputMax === undefined ? (outputBound ?? Math.abs(c)) : Math.abs(c) * inputMax ** i;
    const planAt = (level: number, scale: number) => {
      const terms: { i: number; c: number; plan: TermPlan }[] = [];
      for (let i = 1; i <= degree; i++) {
        const c = coefficients[i] as number;
        if (c !== 0)
          terms.push({
            i,
            c,
            plan: this.planTerm(c, i, level, scale, { shape, power, magnitude, inputMax }),
          });
      }
      return { level, scale, terms, error: terms.reduce((sum, t) => sum + t.plan.error, 0) };
    };
    // Candidates: the depth-optimal level, and one higher when d is a power of two (1, 2, 4: x^d
    // is already there, and constants applied without a rescale may do as well); at each, every
    // scale from the canonical one up to the largest the level holds for F's range.
    const shallow = x.level - ceilLog2(degree);
    const levels = shallow > level && inputMax !== undefined ? [shallow, level] : [level];
    const candidates: ReturnType<typeof planAt>[] = [];
    for (const l of levels) {
      if (resultBound === undefined || !(resultBound.max > 0)) {
        candidates.push(planAt(l, this.canonicalScale(l)));
        continue;
      }
      const most = Math.floor(this.fittingScaleBits(l, resultBound));
      const least = Math.min(most, Math.floor(Math.log2(this.canonicalScale(l))));
      for (let bits = Math.max(least, 10); bits <= most; bits++) candidates.push(planAt(l, 2 ** bits));
    }
    if (candidates.length === 0) {
      throw new CkksError(
        'SCALE',
        `a polynomial whose values reach ${resultBound?.max.toPrecision(3)} leaves no precision at level ${level}`,
      );
    }
    // x's own encryption noise (≈ N/scale, through F') is an error no plan removes. Take the
    // shallowest level and then the smallest scale whose plan is negligible beside it, or near
    // the best plan: a smaller scale leaves room for what is computed next.
    const noise = this.context.preset.polyModulusDegree;
    const inherited =
      inputMax === undefined
        ? 0
        : (coefficients.reduce((sum, c, i) => sum + i * Math.abs(c) * inputMax ** Math.max(0, i - 1), 0) *
            noise) /
          x.scale;
    const leastError = Math.min(...candidates.map((c) => c.error));
    const enough = Math.max(inherited / 4, leastError * 1.5);
    const best = candidates.find((c) => c.error <= enough) ?? (candidates[0] as ReturnType<typeof planAt>);
    const plans = best.terms;
    for (const { i, c, plan } of plans) {
      if (!Number.isFinite(plan.error)) {
        throw new CkksError(
          'SCALE',
          `a polynomial of degree ${degree}: coefficient c${i} = ${c} cannot be applied at any level of ${this.context.preset.id} without rounding to zero`,
        );
      }
    }
    const range = resultBound?.max;
    const lost = best.error;
    if (inputMax !== undefined && range !== undefined && lost > MAX_CONSTANT_ERROR * range) {
      const worst = plans.reduce((a, b) => (b.plan.error > a.plan.error ? b : a));
      throw new CkksError(
        'SCALE',
        `a polynomial of degree ${degree} on |x| ≤ ${inputMax.toPrecision(3)}: its terms would be off by up to ${((100 * lost) / range).toPrecision(2)}% of its range (coefficient c${worst.i} = ${worst.c} the most), more than ${(100 * MAX_CONSTANT_ERROR).toPrecision(2)}%; use a preset with more levels or larger primes, or rescale the input`,
      );
    }

    let acc: CipherVector | undefined;
    try {
      for (const { plan } of plans) {
        const t = plan.build();
        if (acc) {
          const sum = this.produce('SEAL_ERROR', 'summing polynomial terms', (out) =>
            this.context.sealEvaluator.add((acc as CipherVector).handle, t.handle, out),
          );
          acc.dispose();
          t.dispose();
          acc = sum;
        } else {
          acc = t;
        }
      }
      const c0 = coefficients[0] ?? 0;
      if (c0 !== 0 && acc) {
        const withConstant = this.add(acc, c0);
        acc.dispose();
        acc = withConstant;
      }
      if (!acc) throw new CkksError('INPUT_TYPE', 'polyval needs a non-zero coefficient');
      return this.bounded(acc, resultBound, `a polynomial of degree ${degree}`);
    } catch (error) {
      acc?.dispose();
      throw error;
    } finally {
      for (const [i, p] of powers) if (i !== 1) p.dispose();
    }
  }

  /** Level and exact scale of each power x^i as `polyval` builds it, without building it. */
  private powerShapes(x: CipherVector): (i: number) => { level: number; scale: number } {
    const shapes = new Map([[1, { level: x.level, scale: x.scale }]]);
    const shape = (i: number): { level: number; scale: number } => {
      let s = shapes.get(i);
      if (!s) {
        const high = 2 ** (ceilLog2(i) - 1);
        const a = shape(high);
        const b = shape(i - high);
        const level = Math.min(a.level, b.level);
        s = { level: level - 1, scale: (a.scale * b.scale) / this.context.primeAt(level) };
        shapes.set(i, s);
      }
      return s;
    };
    return shape;
  }

  /**
   * Where c·x^i is computed so that it lands on (level, scale), chosen by estimated error (in
   * value units): a constant encoded at plain scale P is off by 0.5/P, times |x^i|; a rescale
   * adds about N/scale (measured on these presets). The candidates:
   * - last, rescaled: x^i · c, when x^i sits above `level` (P gains a prime);
   * - last, not rescaled: x^i · c at x^i's own level (no rescale noise, smaller P);
   * - inside: (c·x^(i−2^k)) · x^(2^k), the constant on the shallower factor.
   */
  private planTerm(c: number, i: number, level: number, scale: number, ctx: PlanContext): TermPlan {
    const { shape, power, magnitude, inputMax } = ctx;
    const noise = this.context.preset.polyModulusDegree;
    const p = shape(i);
    const size = magnitude(c, i);
    const candidates: TermPlan[] = [];
    const roundingError = (plainScale: number) =>
      Math.abs(c) * plainScale < 1 || Math.log2(plainScale) > this.context.modulusBitsAt(p.level) - 2
        ? Number.POSITIVE_INFINITY
        : (0.5 * size) / (Math.abs(c) * plainScale);
    if (p.level >= level + 1) {
      const lowered = p.scale; // switching levels keeps the scale
      const plainScale = (scale * this.context.primeAt(level + 1)) / lowered;
      candidates.push({
        error: roundingError(plainScale) + noise / scale,
        build: () => this.multiplyConstantTo(power(i), c, level, scale, false),
      });
    }
    if (p.level >= level && inputMax !== undefined) {
      candidates.push({
        error: roundingError(scale / p.scale),
        build: () => this.multiplyConstantLazily(power(i), c, level, scale),
      });
    }
    if (i >= 2 && (inputMax !== undefined || candidates.length === 0)) {
      const high = 2 ** (ceilLog2(i) - 1);
      const factor = shape(high);
      if (factor.level >= level + 1) {
        const innerScale = (scale * this.context.primeAt(level + 1)) / factor.scale;
        const inner = this.planTerm(c, i - high, level + 1, innerScale, ctx);
        const amplification = inputMax === undefined ? 1 : inputMax ** high;
        candidates.push({
          error: inner.error * amplification + noise / scale,
          build: () => {
            using f = this.atLevel(power(high), level + 1);
            using t = inner.build();
            return this.snap(
              this.relinearizeRescale('a polynomial term', (out) =>
                this.context.sealEvaluator.multiply(t.handle, f.handle, out),
              ),
              scale,
            );
          },
        });
      }
    }
    // Without a range to weigh them, the first candidate (the constant as late as possible) wins.
    if (inputMax === undefined)
      return candidates[0] ?? { error: Number.POSITIVE_INFINITY, build: () => power(i) };
    return candidates.reduce((best, candidate) => (candidate.error < best.error ? candidate : best), {
      error: Number.POSITIVE_INFINITY,
      build: () => power(i),
    } as TermPlan);
  }

  /** a · c with no rescale: the product stays at a's level, then switches down to `level`. */
  private multiplyConstantLazily(a: CipherVector, c: number, level: number, scale: number): CipherVector {
    const plain = this.constant(c, scale / a.scale, a.level);
    using product = this.produce('SCALE', 'multiplying by a constant', (out) =>
      this.context.sealEvaluator.multiplyPlain(a.handle, plain, out),
    );
    return this.snap(this.atLevel(product, level), scale);
  }

  /** log2 of the largest scale at which values in `bound` fit `level` with a bit to spare (see `bounded`). */
  private fittingScaleBits(level: number, bound: ValueBound): number {
    const n = this.context.preset.polyModulusDegree;
    const room = this.context.modulusBitsAt(level);
    const spread = Math.log2((2 * Math.min(bound.sum, bound.max * (n / 2))) / n);
    return Math.min(room - 2 - spread, room - 2);
  }

  dispose(): void {
    for (const plain of this.constants.values()) plain.delete();
    this.constants.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
