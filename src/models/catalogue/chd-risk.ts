/**
 * `chd-risk`: logistic regression for coronary heart disease trained on the Western
 * Collaborative Group Study (src/models/chd-risk/weights.json, `npm run train`). Encrypted as
 * the linear score (one plaintext-multiplication level) followed by a cubic approximation of the
 * sigmoid on the validated score interval (two levels): three levels, the paper's paper-p2.
 * Risk categories follow NCEP ATP III (2002): < 10% low, 10–20% intermediate, ≥ 20% high.
 */

import type { ElementSpec } from '../../protocol/meta-functions.ts';
import weights from '../chd-risk/weights.json' with { type: 'json' };
import { classify, conclude, fmt } from '../diagnosis.ts';
import type { Model } from '../model.ts';

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

const RISK_BANDS = [
  { from: Number.NEGATIVE_INFINITY, to: 0.1, label: 'low CHD risk (< 10%)', level: 'normal' as const },
  { from: 0.1, to: 0.2, label: 'intermediate CHD risk (10–20%)', level: 'medium' as const },
  { from: 0.2, to: Number.POSITIVE_INFINITY, label: 'high CHD risk (≥ 20%)', level: 'high' as const },
];

export const chdRisk: Model = {
  id: 'chd-risk',
  version: 1,
  name: 'Coronary heart disease risk (WCGS logistic regression)',
  description: 'probability of a coronary event over the study follow-up, from blood pressure and a profile',
  layouts: { paper: 'paper-p2', packed: 'paper-p2', batch: 'paper-p2' },
  vitals: ['y', 'z'],
  profile: ['age', 'bmi', 'cholesterol', 'smoker'],
  elements,
  // A full batch: 4096 readings (about six weeks at one reading every 15 minutes).
  batch: { readings: 4096, intervalMinutes: 15 },
  outputs: [
    {
      name: 'risk',
      unit: 'probability',
      description: 'predicted CHD risk σ(score), by the cubic approximation of the sigmoid',
      criteria: 'NCEP ATP III (2002) risk categories: < 10% low, 10–20% intermediate, ≥ 20% high',
      range: [0, 1],
      expr: {
        op: 'poly',
        arg: {
          op: 'linear',
          terms: elements.map((e) => ({ element: e.name, coeff: coefficients[e.name] as number })),
          constant: weights.intercept,
        },
        coefficients: weights.sigmoid.coefficients,
        domain: [low, high],
      },
    },
  ],
  checkDomain: (values) => {
    const score = elements.reduce(
      (s, e) => s + (coefficients[e.name] as number) * (values[e.name] as number),
      weights.intercept,
    );
    return score < low || score > high
      ? `linear score ${fmt(score)} is outside [${low}, ${high}], where the sigmoid approximation was validated`
      : undefined;
  },
  finish: (q) => ({ risk: Math.min(1, Math.max(0, q.risk as number)) }),
  diagnose: (values, errors) => {
    const risk = values.risk as number;
    const c = classify(risk, RISK_BANDS, errors.risk ?? Number.NEGATIVE_INFINITY);
    return conclude(
      'chd-risk',
      c.candidates.map((b) => ({ label: b.label, level: b.level })),
      [`predicted risk ${fmt(100 * risk)}% (WCGS logistic model; ATP III categories)`],
    );
  },
};
