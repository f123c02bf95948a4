/**
 * `early-warning`: NEWS2 (Royal College of Physicians 2017). Encrypted: respiration rate, systolic
 * pressure and heart rate, the vitals the wearable measures. The client sends one band indicator
 * 1[from ≤ v < to] per scoring band (meta-functions), the contract returns each parameter's
 * score (Σ score·indicator) and the total, and the client applies both the aggregate thresholds
 * and the "single parameter scores 3" rule. Only bands that score points are sent.
 *
 * On the client, beside the decrypted scores: the other four NEWS2 parameters (SpO2 on the scale
 * the person's clinician set, air or oxygen, consciousness, temperature) when the reading came
 * with them, scored in the clear and added to the decrypted total (a diagnosis on fewer than seven
 * says "partial NEWS2 (n of 7 parameters)"), and qSOFA from the clear reading and the entered
 * consciousness (src/models/qsofa.ts).
 */
import type { ElementSpec } from '../../protocol/meta-functions.ts';
import type { Vital } from '../../protocol/vitals.ts';
import { type Diagnosis, mergeDiagnoses } from '../diagnosis.ts';
import type { ClearInputs, Model, ModelOutput } from '../model.ts';
import { NEWS2_TABLE, type News2ClearInputs, news2Diagnosis } from '../news2.ts';
import { alteredMentationOf, QSOFA_SOURCE, qsofaDiagnosis } from '../qsofa.ts';

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

/** The vault profile's key for the SpO2 scale the person's clinician set (1 or 2; absent: 1). */
export const SPO2_SCALE_FIELD = 'spo2Scale';

/** The clear NEWS2 inputs of a reading and profile. */
export function news2ClearInputsOf(clear: ClearInputs | undefined): News2ClearInputs {
  const r = clear?.reading;
  const scale = clear?.profile?.[SPO2_SCALE_FIELD];
  return {
    spo2: r?.spo2,
    oxygen: r?.oxygen,
    consciousness: r?.consciousness,
    temperature: r?.temperature,
    spo2Scale: scale === 2 ? 2 : 1,
  };
}

/**
 * NEWS2 from the decrypted scores (and the clear parameters when known), and qSOFA beside it when
 * the client has the reading: a positive qSOFA joins the label ("…; qSOFA positive (2 of 3
 * criteria)"), otherwise it is in the findings only. The level is NEWS2's.
 */
export function earlyWarningDiagnosis(
  values: Readonly<Record<string, number>>,
  errors: Readonly<Record<string, number>>,
  clear?: ClearInputs,
): Diagnosis {
  const news2 = {
    ...news2Diagnosis(
      {
        respiratoryRate: values.rrScore as number,
        systolic: values.sbpScore as number,
        heartRate: values.hrScore as number,
        total: values.total as number,
      },
      Math.max(...Object.values(errors)),
      news2ClearInputsOf(clear),
    ),
    model: 'early-warning',
  };
  const reading = clear?.reading;
  if (!reading) return news2;
  const q = qsofaDiagnosis({
    respiratoryRate: reading.w,
    systolic: reading.z,
    alteredMentation: alteredMentationOf(reading.consciousness),
  });
  if (q.label.startsWith('qSOFA positive')) return mergeDiagnoses('early-warning', [news2, q]);
  return { ...news2, findings: [...news2.findings, `${q.label}: ${q.findings[1]} (${QSOFA_SOURCE})`] };
}

export const earlyWarning: Model = {
  id: 'early-warning',
  // 2: the packed template writes the elements once per output (`copies`), for one shared Z.
  version: 2,
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
  diagnose: earlyWarningDiagnosis,
};
