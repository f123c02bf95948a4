/**
 * `chd-risk`: logistic regression for coronary heart disease trained on the Western
 * Collaborative Group Study (src/models/chd-risk/weights.json, `npm run train`).
 *
 * The contract computes the linear score (the log-odds: one plaintext-multiplication level) and
 * the client, after decrypting it, applies the exact logistic function. The decrypted score
 * belongs to the person, and a monotone function of it reveals nothing the score did not, so
 * nothing is lost by finishing on the client; what is gained: no score is refused (the paper's
 * cubic approximation of the sigmoid holds only on the training scores' interval), the NCEP ATP
 * III category edges (10%, 20%) fall exactly where the fitted model puts them, and one level
 * instead of three (the cheapest preset). `chd-risk-paper` keeps the paper's encrypted cubic for
 * reproducing it.
 *
 * Risk categories follow NCEP ATP III (2002): < 10% low, 10–20% intermediate, ≥ 20% high.
 */

import type { ElementSpec } from '../../protocol/meta-functions.ts';
import weights from '../chd-risk/weights.json' with { type: 'json' };
import { classify, conclude, type Diagnosis, fmt } from '../diagnosis.ts';
import type { Expr, Model } from '../model.ts';

const elements: ElementSpec[] = weights.features.map((f) =>
  'vital' in f.source
    ? { name: f.name, fn: 'vital', of: f.source.vital as 'y' | 'z' }
    : { name: f.name, fn: 'profile', field: f.source.profile as 'age' | 'bmi' | 'cholesterol' | 'smoker' },
);
/** Coefficients by element name (weights.json lists them in feature order). */
const coefficients: Record<string, number> = Object.fromEntries(
  weights.features.map((f, i) => [f.name, weights.coefficients[i] as number]),
);
const [low, high] = weights.sigmoid.interval as [number, number];

/** The log-odds intercept + Σ coefficient·feature, as the contract evaluates it. */
const score: Expr = {
  op: 'linear',
  terms: elements.map((e) => ({ element: e.name, coeff: coefficients[e.name] as number })),
  constant: weights.intercept,
};

/** The score's range over every input the client accepts (acceptedRange of each feature). */
const SCORE_RANGE = weights.features.reduce(
  ([lo, hi], f, i) => {
    const c = weights.coefficients[i] as number;
    const [a, b] = f.acceptedRange as [number, number];
    return [lo + Math.min(c * a, c * b), hi + Math.max(c * a, c * b)] as [number, number];
  },
  [weights.intercept, weights.intercept] as [number, number],
);

/** σ(s) = 1/(1 + e^−s), exact in float64 for every score this model can give. */
export const logistic = (s: number): number => 1 / (1 + Math.exp(-s));

const RISK_BANDS = [
  {
    from: Number.NEGATIVE_INFINITY,
    to: 0.1,
    label: 'low CHD risk (< 10%)',
    level: 'normal' as const,
    interpretation: 'normal' as const,
  },
  {
    from: 0.1,
    to: 0.2,
    label: 'intermediate CHD risk (10–20%)',
    level: 'medium' as const,
    interpretation: 'high' as const,
  },
  {
    from: 0.2,
    to: Number.POSITIVE_INFINITY,
    label: 'high CHD risk (≥ 20%)',
    level: 'high' as const,
    interpretation: 'high' as const,
  },
];

const CRITERIA = 'NCEP ATP III (2002) risk categories: < 10% low, 10–20% intermediate, ≥ 20% high';

function diagnoseRisk(risk: number, riskBound: number): Diagnosis {
  const c = classify(risk, RISK_BANDS, riskBound);
  return conclude(
    'chd-risk',
    c.candidates.map((b) => ({ label: b.label, level: b.level, interpretation: b.interpretation })),
    [`predicted risk ${fmt(100 * risk)}% (WCGS logistic model; ATP III categories)`],
  );
}

const common = {
  version: 2,
  vitals: ['y', 'z'],
  profile: ['age', 'bmi', 'cholesterol', 'smoker'],
  elements,
} satisfies Partial<Model>;

export const chdRisk: Model = {
  ...common,
  id: 'chd-risk',
  name: 'Coronary heart disease risk (WCGS logistic regression)',
  description: 'probability of a coronary event over the study follow-up, from blood pressure and a profile',
  layouts: { paper: 'secure-4096', packed: 'secure-4096', batch: 'secure-4096' },
  // A full batch on secure-4096: 2048 readings (about three weeks at one every 15 minutes).
  batch: { readings: 2048, intervalMinutes: 15 },
  outputs: [
    {
      name: 'score',
      unit: 'log-odds',
      description: 'the logistic model’s linear score; the client applies σ to it',
      criteria: CRITERIA,
      range: SCORE_RANGE,
      expr: score,
    },
  ],
  finish: (q) => {
    const s = q.score as number;
    return { score: s, risk: logistic(s) };
  },
  finishedValues: {
    risk: { unit: 'probability', description: 'predicted CHD risk σ(score), exact, applied on this device' },
  },
  diagnose: (values, errors) => {
    const s = values.score as number;
    // The score's bound mapped through σ (monotone): the risk lies in [σ(s − e), σ(s + e)].
    const e = errors.score ?? Number.NEGATIVE_INFINITY;
    const riskBound = e > 0 ? Math.max(logistic(s + e) - logistic(s), logistic(s) - logistic(s - e)) : e;
    return diagnoseRisk(values.risk as number, Math.max(riskBound, errors.risk ?? Number.NEGATIVE_INFINITY));
  },
};

/**
 * The paper's variant: σ approximated by a cubic on the training scores' interval and evaluated
 * encrypted (three levels: paper-p2). Scores outside the interval are refused before encryption.
 */
export const chdRiskPaper: Model = {
  ...common,
  version: 1,
  id: 'chd-risk-paper',
  name: 'Coronary heart disease risk, the paper’s encrypted cubic sigmoid',
  description: 'as chd-risk, with σ evaluated encrypted by a cubic (PMHE §5): for reproducing the paper',
  layouts: { paper: 'paper-p2', packed: 'paper-p2', batch: 'paper-p2' },
  batch: { readings: 4096, intervalMinutes: 15 },
  outputs: [
    {
      name: 'risk',
      unit: 'probability',
      description: 'predicted CHD risk σ(score), by the cubic approximation of the sigmoid',
      criteria: CRITERIA,
      range: [0, 1],
      expr: { op: 'poly', arg: score, coefficients: weights.sigmoid.coefficients, domain: [low, high] },
    },
  ],
  checkDomain: (values) => {
    const s = elements.reduce(
      (sum, e) => sum + (coefficients[e.name] as number) * (values[e.name] as number),
      weights.intercept,
    );
    return s < low || s > high
      ? `linear score ${fmt(s)} is outside [${low}, ${high}], where the sigmoid approximation was validated`
      : undefined;
  },
  finish: (q) => ({ risk: Math.min(1, Math.max(0, q.risk as number)) }),
  diagnose: (values, errors) => diagnoseRisk(values.risk as number, errors.risk ?? Number.NEGATIVE_INFINITY),
};
