/**
 * CKKS adds and multiplies, so the logistic link σ(t) = 1/(1+e^−t) is evaluated encrypted as a
 * low-degree polynomial that is only trusted on an interval [a, b]. The polynomial is the least-
 * squares fit on Chebyshev nodes (close to the minimax fit, without its iterations); the interval
 * is chosen from the training scores and its coverage reported, because outside it the
 * polynomial is not a probability at all.
 */
import { sigmoid } from './logistic.ts';

export interface SigmoidPolynomial {
  /** Monomial coefficients in t, ascending powers: p(t) = Σ c_k t^k. */
  coefficients: number[];
  interval: [number, number];
  degree: number;
  /** How it was fitted, for the record. */
  nodes: number;
  /** Largest |p(t) − σ(t)| found on a uniform grid of `gridPoints` points including a and b. */
  maxErrorOnGrid: number;
  gridPoints: number;
  /**
   * An upper bound on |p − σ| over all of [a, b]: the grid maximum plus what the error can gain
   * between grid points (the sup is at an endpoint or where the error's derivative is zero, so
   * within h/2 of a grid point it can exceed that point by at most (h/2)²/2 · max|e''|).
   */
  maxError: number;
}

export class SigmoidPolyError extends Error {
  override name = 'SigmoidPolyError';
}

/** Degree 3 by default: with the linear score's one level, three multiplicative levels in all. */
export function fitSigmoidPolynomial(
  interval: readonly [number, number],
  options: { degree?: number; nodes?: number; gridPoints?: number } = {},
): SigmoidPolynomial {
  const [a, b] = interval;
  const degree = options.degree ?? 3;
  const nodes = options.nodes ?? 64;
  const gridPoints = options.gridPoints ?? 100_001;
  if (!(Number.isFinite(a) && Number.isFinite(b) && a < b))
    throw new SigmoidPolyError(`bad interval [${a}, ${b}]`);
  if (!Number.isInteger(degree) || degree < 1 || degree >= nodes) {
    throw new SigmoidPolyError(`degree ${degree} must be an integer in [1, ${nodes - 1}]`);
  }

  // On Chebyshev nodes of the first kind the Chebyshev polynomials are discretely orthogonal, so
  // the least-squares coefficients in that basis are plain weighted sums (no normal equations).
  const half = (b - a) / 2;
  const mid = (a + b) / 2;
  const chebyshev = new Array<number>(degree + 1).fill(0);
  for (let i = 0; i < nodes; i++) {
    const theta = (Math.PI * (2 * i + 1)) / (2 * nodes);
    const f = sigmoid(mid + half * Math.cos(theta));
    for (let k = 0; k <= degree; k++) chebyshev[k] = (chebyshev[k] as number) + f * Math.cos(k * theta);
  }
  for (let k = 0; k <= degree; k++) chebyshev[k] = ((k === 0 ? 1 : 2) / nodes) * (chebyshev[k] as number);

  const coefficients = toMonomialsInT(chebyshevToMonomials(chebyshev), mid, half);
  return {
    coefficients,
    interval: [a, b],
    degree,
    nodes,
    ...sigmoidPolynomialError(coefficients, [a, b], gridPoints),
  };
}

/**
 * The error of given coefficients (e.g. after rounding for publication) against σ on [a, b]: the
 * maximum on a uniform grid, and a bound for the whole interval (see `maxError`).
 */
export function sigmoidPolynomialError(
  coefficients: readonly number[],
  interval: readonly [number, number],
  gridPoints = 100_001,
): { maxErrorOnGrid: number; gridPoints: number; maxError: number } {
  const [a, b] = interval;
  if (!Number.isInteger(gridPoints) || gridPoints < 2)
    throw new SigmoidPolyError(`gridPoints ${gridPoints} must be ≥ 2`);
  const h = (b - a) / (gridPoints - 1);
  let maxErrorOnGrid = 0;
  for (let i = 0; i < gridPoints; i++) {
    const t = i === gridPoints - 1 ? b : a + i * h;
    maxErrorOnGrid = Math.max(maxErrorOnGrid, Math.abs(evaluatePolynomial(coefficients, t) - sigmoid(t)));
  }
  // max|σ''| = 1/(6√3); |p''| bounded termwise by |t| ≤ max(|a|, |b|).
  const r = Math.max(Math.abs(a), Math.abs(b));
  let p2 = 0;
  coefficients.forEach((c, k) => {
    if (k >= 2) p2 += Math.abs(k * (k - 1) * c) * r ** (k - 2);
  });
  const maxError = maxErrorOnGrid + ((h / 2) ** 2 / 2) * (p2 + 1 / (6 * Math.sqrt(3)));
  return { maxErrorOnGrid, gridPoints, maxError };
}

/** Horner's rule on ascending coefficients. */
export function evaluatePolynomial(coefficients: readonly number[], t: number): number {
  let v = 0;
  for (let k = coefficients.length - 1; k >= 0; k--) v = v * t + (coefficients[k] as number);
  return v;
}

/** Σ c_k T_k(u) → ascending monomial coefficients in u, by T_{k+1} = 2u T_k − T_{k−1}. */
function chebyshevToMonomials(c: readonly number[]): number[] {
  const out = new Array<number>(c.length).fill(0);
  let previous = [1]; // T_0
  let current = [0, 1]; // T_1
  c.forEach((ck, k) => {
    const tk = k === 0 ? previous : k === 1 ? current : undefined;
    let basis = tk;
    if (basis === undefined) {
      const next = new Array<number>(k + 1).fill(0);
      current.forEach((v, j) => {
        next[j + 1] = (next[j + 1] as number) + 2 * v;
      });
      previous.forEach((v, j) => {
        next[j] = (next[j] as number) - v;
      });
      previous = current;
      current = next;
      basis = next;
    }
    basis.forEach((v, j) => {
      out[j] = (out[j] as number) + ck * v;
    });
  });
  return out;
}

/** q(u) with u = (t − mid)/half → ascending coefficients in t (binomial expansion). */
function toMonomialsInT(q: readonly number[], mid: number, half: number): number[] {
  const out = new Array<number>(q.length).fill(0);
  q.forEach((qk, k) => {
    // qk · ((t − mid)/half)^k = qk/half^k · Σ_j C(k,j) t^j (−mid)^(k−j)
    let binomial = 1;
    for (let j = 0; j <= k; j++) {
      out[j] = (out[j] as number) + (qk / half ** k) * binomial * (-mid) ** (k - j);
      binomial = (binomial * (k - j)) / (j + 1);
    }
  });
  return out;
}

export interface ScoreInterval {
  interval: [number, number];
  /** Fraction of the given scores inside the interval (inclusive). */
  covered: number;
  /** The scores' own range. */
  range: [number, number];
}

/**
 * The interval a polynomial must be valid on: the scores' range between the `trim` and
 * 1 − `trim` quantiles, widened outward to multiples of `step` (round numbers in a model card,
 * and a margin for rows like the training ones but not among them).
 */
export function scoreInterval(
  scores: readonly number[],
  options: { trim?: number; step?: number } = {},
): ScoreInterval {
  const trim = options.trim ?? 0;
  const step = options.step ?? 0.5;
  if (scores.length === 0) throw new SigmoidPolyError('no scores to cover');
  const sorted = [...scores].sort((x, y) => x - y);
  const lowIndex = Math.floor(trim * (sorted.length - 1));
  const highIndex = Math.ceil((1 - trim) * (sorted.length - 1));
  const a = Math.floor((sorted[lowIndex] as number) / step) * step;
  const b = Math.ceil((sorted[highIndex] as number) / step) * step;
  const inside = scores.filter((s) => s >= a && s <= b).length;
  return {
    interval: [a, b],
    covered: inside / scores.length,
    range: [sorted[0] as number, sorted[sorted.length - 1] as number],
  };
}
