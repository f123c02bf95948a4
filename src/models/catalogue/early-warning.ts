/**
 * `early-warning`: the vital-sign part of NEWS2 (Royal College of Physicians 2017) for
 * respiration rate, systolic pressure and heart rate. The client sends one band indicator
 * 1[from ≤ v < to] per scoring band (meta-functions), the contract returns each parameter's
 * score (Σ score·indicator) and the total, and the client applies both the aggregate
 * thresholds and the "single parameter scores 3" rule. Only bands that score points are sent.
 */
import type { ElementSpec } from '../../protocol/meta-functions.ts';
import type { Vital } from '../../protocol/vitals.ts';
import type { Model, ModelOutput } from '../model.ts';
import { NEWS2_TABLE, news2Diagnosis } from '../news2.ts';

const PARAMETERS = [
  { key: 'respiratoryRate', vital: 'w', output: 'rrScore', label: 'respiration rate' },
  { key: 'systolic', vital: 'z', output: 'sbpScore', label: 'systolic blood pressure' },
  { key: 'heartRate', vital: 'x', output: 'hrScore', label: 'heart rate' },
] as const satisfies readonly {
  key: keyof typeof NEWS2_TABLE;
  vital: Vital;
  output: string;
  label: string;
}[];

const NEWS2_CRITERIA =
  'NEWS2 (Royal College of Physicians 2017): aggregate 0–4 low, 5–6 medium, ≥7 high; any 3 → low-medium';
const finite = (v: number) => (Number.isFinite(v) ? v : null);

const bands = PARAMETERS.flatMap((p) =>
  NEWS2_TABLE[p.key]
    .filter((band) => band.score > 0)
    .map((band, i) => ({
      parameter: p,
      score: band.score,
      element: {
        name: `${p.vital}Band${i}`,
        fn: 'band',
        of: p.vital,
        from: finite(band.from),
        to: finite(band.to),
      } satisfies ElementSpec,
    })),
);

const parameterScore = (p: (typeof PARAMETERS)[number]): ModelOutput => ({
  name: p.output,
  unit: 'points',
  description: `NEWS2 ${p.label} score (0–3)`,
  criteria: NEWS2_CRITERIA,
  range: [0, 3],
  expr: {
    op: 'linear',
    terms: bands.filter((b) => b.parameter === p).map((b) => ({ element: b.element.name, coeff: b.score })),
    constant: 0,
  },
});

export const earlyWarning: Model = {
  id: 'early-warning',
  version: 1,
  name: 'Early warning (NEWS2 vital signs)',
  description: 'NEWS2 scores for respiration rate, systolic pressure and heart rate, and their total',
  layouts: { paper: 'secure-4096', packed: 'secure-4096', batch: 'secure-4096' },
  vitals: ['x', 'z', 'w'],
  profile: [],
  elements: bands.map((b) => b.element),
  batch: { readings: 2048, intervalMinutes: 15 },
  outputs: [
    ...PARAMETERS.map(parameterScore),
    {
      name: 'total',
      unit: 'points',
      description: 'sum of the three NEWS2 parameter scores (0–9)',
      criteria: NEWS2_CRITERIA,
      range: [0, 9],
      expr: {
        op: 'linear',
        terms: bands.map((b) => ({ element: b.element.name, coeff: b.score })),
        constant: 0,
      },
    },
  ],
  finish: (q) => ({ ...q }),
  diagnose: (values, errors) => ({
    ...news2Diagnosis(
      {
        respiratoryRate: values.rrScore as number,
        systolic: values.sbpScore as number,
        heartRate: values.hrScore as number,
        total: values.total as number,
      },
      Math.max(...Object.values(errors)),
    ),
    model: 'early-warning',
  }),
};
