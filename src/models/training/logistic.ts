/**
 * Logistic regression for the trained models, with the evidence a model card needs:
 * maximum likelihood by IRLS (Newton), AUC, stratified seeded k-fold cross-validation, and
 * calibration (risk deciles, Hosmer–Lemeshow, calibration intercept and slope). Plain arrays and
 * doubles: the data sets are a few thousand rows and a handful of features.
 */

export interface LogisticOptions {
  /** Newton iterations before giving up (default 100). */
  maxIterations?: number;
  /** Converged when the largest step on standardized coefficients is below this (default 1e-12). */
  tolerance?: number;
  /** Also return standard errors from the inverse Fisher information (default false). */
  standardErrors?: boolean;
  /** A known term added to each row's linear predictor (for calibration-in-the-large). */
  offset?: readonly number[];
}

export interface LogisticFit {
  /** Intercept, then one coefficient per column of X, in X's units. */
  intercept: number;
  coefficients: number[];
  /** Same order as [intercept, ...coefficients]; present when asked for. */
  standardErrors?: number[];
  iterations: number;
  /** −2 log-likelihood at the estimate. */
  deviance: number;
}

export class LogisticError extends Error {
  override name = 'LogisticError';
}

/**
 * Fits P(y=1 | x) = σ(b0 + b·x) by Newton's method. Columns are centred and scaled internally so
 * that the Hessian is well conditioned whatever the raw units (mmHg, mg/dL, 0/1), and the
 * estimate is mapped back to raw units; the convergence test is on the scaled step, so every
 * coefficient is accurate to about `tolerance` relative to its column's spread.
 */
export function fitLogistic(
  x: readonly (readonly number[])[],
  y: readonly number[],
  options: LogisticOptions = {},
): LogisticFit {
  const n = x.length;
  const maxIterations = options.maxIterations ?? 100;
  const tolerance = options.tolerance ?? 1e-12;
  if (n === 0 || y.length !== n)
    throw new LogisticError(`need rows and one outcome per row (${n} rows, ${y.length} outcomes)`);
  const p = x[0]?.length ?? 0;
  const offset = options.offset;
  if (offset !== undefined && offset.length !== n)
    throw new LogisticError(`offset has ${offset.length} values for ${n} rows`);
  for (let i = 0; i < n; i++) {
    const row = x[i] as readonly number[];
    if (row.length !== p) throw new LogisticError(`row ${i} has ${row.length} features, expected ${p}`);
    if (!row.every(Number.isFinite)) throw new LogisticError(`row ${i} has a non-finite feature`);
    if (y[i] !== 0 && y[i] !== 1) throw new LogisticError(`outcome of row ${i} is ${y[i]}, expected 0 or 1`);
  }

  // Standardized design with a leading 1 column.
  const mean = new Array<number>(p).fill(0);
  const scale = new Array<number>(p).fill(0);
  for (let j = 0; j < p; j++) {
    let s = 0;
    for (const row of x) s += row[j] as number;
    mean[j] = s / n;
    let ss = 0;
    for (const row of x) ss += ((row[j] as number) - (mean[j] as number)) ** 2;
    scale[j] = Math.sqrt(ss / n);
    if (!((scale[j] as number) > 0))
      throw new LogisticError(`feature ${j} is constant: its coefficient is not identifiable`);
  }
  const z = x.map((row) => [1, ...row.map((v, j) => (v - (mean[j] as number)) / (scale[j] as number))]);
  const k = p + 1;

  const beta = new Array<number>(k).fill(0);
  let iterations = 0;
  let information: number[][] = [];
  for (;;) {
    iterations++;
    // Gradient and Fisher information at beta.
    const gradient = new Array<number>(k).fill(0);
    information = Array.from({ length: k }, () => new Array<number>(k).fill(0));
    for (let i = 0; i < n; i++) {
      const zi = z[i] as number[];
      const mu = sigmoid(dot(zi, beta) + (offset?.[i] ?? 0));
      const w = mu * (1 - mu);
      const r = (y[i] as number) - mu;
      for (let a = 0; a < k; a++) {
        const za = zi[a] as number;
        gradient[a] = (gradient[a] as number) + za * r;
        const rowA = information[a] as number[];
        for (let b = 0; b <= a; b++) rowA[b] = (rowA[b] as number) + w * za * (zi[b] as number);
      }
    }
    for (let a = 0; a < k; a++)
      for (let b = 0; b < a; b++) (information[b] as number[])[a] = (information[a] as number[])[b] as number;
    let step: number[];
    try {
      step = solveSpd(information, gradient);
    } catch (e) {
      // At the start all weights are ¼, so singularity there is collinearity; later it is weights
      // vanishing as fitted probabilities reach 0 or 1, i.e. separation.
      if (iterations === 1 || !(e instanceof LogisticError)) throw e;
      throw new LogisticError(
        `estimates diverge at iteration ${iterations}: the outcome is (quasi-)separated by the features`,
      );
    }
    let largest = 0;
    for (let a = 0; a < k; a++) {
      beta[a] = (beta[a] as number) + (step[a] as number);
      largest = Math.max(largest, Math.abs(step[a] as number));
    }
    if (!beta.every(Number.isFinite) || largest > 1e6) {
      throw new LogisticError('estimates diverge: the outcome is (quasi-)separated by the features');
    }
    if (largest < tolerance) break;
    if (iterations >= maxIterations) {
      throw new LogisticError(`no convergence in ${maxIterations} iterations (last step ${largest})`);
    }
  }

  // Raw-unit coefficients: b_j = β_j / s_j, b0 = β0 − Σ β_j m_j / s_j. As a matrix, b = T β.
  const t: number[][] = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  (t[0] as number[])[0] = 1;
  for (let j = 0; j < p; j++) {
    (t[j + 1] as number[])[j + 1] = 1 / (scale[j] as number);
    (t[0] as number[])[j + 1] = -(mean[j] as number) / (scale[j] as number);
  }
  const raw = t.map((row) => dot(row, beta));
  let deviance = 0;
  for (let i = 0; i < n; i++) {
    const eta = dot(z[i] as number[], beta) + (offset?.[i] ?? 0);
    // −2 log L with log σ(η) = −log(1+e^−η), computed without overflow.
    deviance += 2 * ((y[i] as number) === 1 ? softplus(-eta) : softplus(eta));
  }
  const fit: LogisticFit = {
    intercept: raw[0] as number,
    coefficients: raw.slice(1),
    iterations,
    deviance,
  };
  if (options.standardErrors) {
    // Cov(b) = T I⁻¹ Tᵀ, with I the information of the standardized fit.
    const inverse = invertSpd(information);
    fit.standardErrors = t.map((row) =>
      Math.sqrt(
        dot(
          row,
          inverse.map((col) => dot(col, row)),
        ),
      ),
    );
  }
  return fit;
}

export function sigmoid(t: number): number {
  return t >= 0 ? 1 / (1 + Math.exp(-t)) : Math.exp(t) / (1 + Math.exp(t));
}

/** log(1 + e^t) without overflow or loss for large |t|. */
function softplus(t: number): number {
  return t > 0 ? t + Math.log1p(Math.exp(-t)) : Math.log1p(Math.exp(t));
}

export function linearScore(
  fit: Pick<LogisticFit, 'intercept' | 'coefficients'>,
  row: readonly number[],
): number {
  return fit.intercept + dot(fit.coefficients, row);
}

function dot(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/** Cholesky factor L (lower) of a symmetric positive definite matrix. */
function cholesky(m: readonly (readonly number[])[]): number[][] {
  const k = m.length;
  const l = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = (m[i] as number[])[j] as number;
      for (let q = 0; q < j; q++) s -= ((l[i] as number[])[q] as number) * ((l[j] as number[])[q] as number);
      if (i === j) {
        if (!(s > 0)) throw new LogisticError('information matrix is singular: features are collinear');
        (l[i] as number[])[i] = Math.sqrt(s);
      } else {
        (l[i] as number[])[j] = s / ((l[j] as number[])[j] as number);
      }
    }
  }
  return l;
}

function solveSpd(m: readonly (readonly number[])[], b: readonly number[]): number[] {
  const l = cholesky(m);
  const k = b.length;
  const u = new Array<number>(k).fill(0);
  for (let i = 0; i < k; i++) {
    let s = b[i] as number;
    for (let q = 0; q < i; q++) s -= ((l[i] as number[])[q] as number) * (u[q] as number);
    u[i] = s / ((l[i] as number[])[i] as number);
  }
  const v = new Array<number>(k).fill(0);
  for (let i = k - 1; i >= 0; i--) {
    let s = u[i] as number;
    for (let q = i + 1; q < k; q++) s -= ((l[q] as number[])[i] as number) * (v[q] as number);
    v[i] = s / ((l[i] as number[])[i] as number);
  }
  return v;
}

function invertSpd(m: readonly (readonly number[])[]): number[][] {
  const k = m.length;
  const columns = Array.from({ length: k }, (_, j) =>
    solveSpd(
      m,
      Array.from({ length: k }, (_, i) => (i === j ? 1 : 0)),
    ),
  );
  return columns; // symmetric: columns are rows
}

/**
 * Area under the ROC curve as the Mann–Whitney statistic: the probability that a random positive
 * scores above a random negative, ties counting one half (mid-ranks).
 */
export function auc(scores: readonly number[], outcomes: readonly number[]): number {
  if (scores.length !== outcomes.length) throw new LogisticError('auc: one outcome per score');
  const order = scores.map((_, i) => i).sort((a, b) => (scores[a] as number) - (scores[b] as number));
  let positives = 0;
  let rankSum = 0;
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && scores[order[end + 1] as number] === scores[order[start] as number])
      end++;
    const midRank = (start + end) / 2 + 1;
    for (let q = start; q <= end; q++) {
      if (outcomes[order[q] as number] === 1) {
        positives++;
        rankSum += midRank;
      }
    }
    start = end + 1;
  }
  const negatives = scores.length - positives;
  if (positives === 0 || negatives === 0) throw new LogisticError('auc needs both outcomes present');
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** mulberry32: a tiny seeded generator, so fold assignment never depends on a library's version. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Stratified folds: positives and negatives are shuffled separately (Fisher–Yates, seeded) and
 * dealt round-robin, so every fold has the same event rate to within one row.
 */
export function stratifiedFolds(outcomes: readonly number[], k: number, seed: number): number[] {
  const random = seededRandom(seed);
  const fold = new Array<number>(outcomes.length).fill(-1);
  let dealt = 0;
  for (const cls of [1, 0]) {
    const members = outcomes.flatMap((y, i) => (y === cls ? [i] : []));
    for (let i = members.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [members[i], members[j]] = [members[j] as number, members[i] as number];
    }
    for (const i of members) fold[i] = dealt++ % k;
  }
  return fold;
}

export interface CrossValidation {
  folds: number;
  seed: number;
  /** AUC of each held-out fold. */
  foldAuc: number[];
  meanAuc: number;
  /** Sample standard deviation of the fold AUCs. */
  sdAuc: number;
  /** AUC of all out-of-fold predictions pooled. */
  pooledAuc: number;
  /** Each row's linear score from the model that did not see it. */
  outOfFoldScores: number[];
}

export function crossValidate(
  x: readonly (readonly number[])[],
  y: readonly number[],
  options: { folds?: number; seed: number },
): CrossValidation {
  const k = options.folds ?? 10;
  const fold = stratifiedFolds(y, k, options.seed);
  const outOfFoldScores = new Array<number>(y.length).fill(Number.NaN);
  const foldAuc: number[] = [];
  for (let f = 0; f < k; f++) {
    const train = fold.flatMap((g, i) => (g === f ? [] : [i]));
    const test = fold.flatMap((g, i) => (g === f ? [i] : []));
    const fit = fitLogistic(
      train.map((i) => x[i] as readonly number[]),
      train.map((i) => y[i] as number),
    );
    for (const i of test) outOfFoldScores[i] = linearScore(fit, x[i] as readonly number[]);
    foldAuc.push(
      auc(
        test.map((i) => outOfFoldScores[i] as number),
        test.map((i) => y[i] as number),
      ),
    );
  }
  const meanAuc = foldAuc.reduce((s, v) => s + v, 0) / k;
  const sdAuc = Math.sqrt(foldAuc.reduce((s, v) => s + (v - meanAuc) ** 2, 0) / (k - 1));
  return {
    folds: k,
    seed: options.seed,
    foldAuc,
    meanAuc,
    sdAuc,
    pooledAuc: auc(outOfFoldScores, y),
    outOfFoldScores,
  };
}

export interface CalibrationGroup {
  rows: number;
  /** Mean predicted risk in the group. */
  predicted: number;
  /** Observed event rate in the group. */
  observed: number;
  expectedEvents: number;
  observedEvents: number;
}

export interface Calibration {
  groups: CalibrationGroup[];
  /** Hosmer–Lemeshow χ² over the groups, with groups − 2 degrees of freedom. */
  hosmerLemeshow: { statistic: number; df: number; pValue: number };
  /** Calibration-in-the-large: a in logit P(y) = a + score (ideal 0). */
  intercept: number;
  /** b in logit P(y) = a + b·score (ideal 1; below 1 means predictions too extreme). */
  slope: number;
}

/**
 * Calibration of linear scores against outcomes: rows sorted by predicted risk (ties by row
 * index, for determinism) and cut into `groups` groups of equal size to within one row.
 */
export function calibration(scores: readonly number[], y: readonly number[], groups = 10): Calibration {
  const n = scores.length;
  const order = scores
    .map((_, i) => i)
    .sort((a, b) => (scores[a] as number) - (scores[b] as number) || a - b);
  const table: CalibrationGroup[] = [];
  let statistic = 0;
  for (let g = 0; g < groups; g++) {
    const members = order.slice(Math.floor((g * n) / groups), Math.floor(((g + 1) * n) / groups));
    const expectedEvents = members.reduce((s, i) => s + sigmoid(scores[i] as number), 0);
    const observedEvents = members.reduce((s, i) => s + (y[i] as number), 0);
    const rows = members.length;
    table.push({
      rows,
      predicted: expectedEvents / rows,
      observed: observedEvents / rows,
      expectedEvents,
      observedEvents,
    });
    const pi = expectedEvents / rows;
    statistic += (observedEvents - expectedEvents) ** 2 / (rows * pi * (1 - pi));
  }
  const df = groups - 2;
  const column = scores.map((s) => [s]);
  const slopeFit = fitLogistic(column, y);
  const interceptFit = fitInterceptWithOffset(scores, y);
  return {
    groups: table,
    hosmerLemeshow: { statistic, df, pValue: chiSquareSurvival(statistic, df) },
    intercept: interceptFit,
    slope: slopeFit.coefficients[0] as number,
  };
}

/** Maximum-likelihood a in logit P(y) = a + offset: one-dimensional Newton. */
function fitInterceptWithOffset(offset: readonly number[], y: readonly number[]): number {
  let a = 0;
  for (let iteration = 0; iteration < 100; iteration++) {
    let gradient = 0;
    let information = 0;
    for (let i = 0; i < offset.length; i++) {
      const mu = sigmoid(a + (offset[i] as number));
      gradient += (y[i] as number) - mu;
      information += mu * (1 - mu);
    }
    const step = gradient / information;
    a += step;
    if (Math.abs(step) < 1e-14) return a;
  }
  throw new LogisticError('calibration intercept did not converge');
}

/** P(χ²_df > x) via the regularized upper incomplete gamma function Q(df/2, x/2). */
export function chiSquareSurvival(x: number, df: number): number {
  if (x <= 0) return 1;
  return upperGamma(df / 2, x / 2);
}

/** Regularized Q(s, x): series below s + 1, Lentz continued fraction above (Numerical Recipes §6.2). */
function upperGamma(s: number, x: number): number {
  const logPrefix = s * Math.log(x) - x - logGamma(s);
  if (x < s + 1) {
    let term = 1 / s;
    let sum = term;
    for (let k = 1; k < 1000 && Math.abs(term) > Math.abs(sum) * 1e-16; k++) {
      term *= x / (s + k);
      sum += term;
    }
    return 1 - sum * Math.exp(logPrefix);
  }
  const tiny = 1e-300;
  let b = x + 1 - s;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let k = 1; k < 1000; k++) {
    const an = -k * (k - s);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(logPrefix) * h;
}

/** Lanczos approximation (g = 7, n = 9), accurate to ~1e-15 for the half-integers used here. */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const xm = x - 1;
  let a = c[0] as number;
  const t = xm + 7.5;
  for (let i = 1; i < 9; i++) a += (c[i] as number) / (xm + i);
  return 0.5 * Math.log(2 * Math.PI) + (xm + 0.5) * Math.log(t) - t + Math.log(a);
}
