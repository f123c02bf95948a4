/**
 * The vital-sign part of NEWS2 (Royal College of Physicians. National Early Warning Score
 * (NEWS) 2: Standardising the assessment of acute-illness severity in the NHS. Updated report
 * of a working party. London: RCP, 2017; Chart 1 "The NEWS scoring system" and Chart 2 "NEWS
 * thresholds and triggers") for the three vitals the wearable measures.
 *
 * The chart scores integer readings ("9–11"); bands here are half-open on the real value, each
 * published range [a, b] becoming [a, b + 1), so a real reading scores as its integer part
 * (8.7 breaths/min scores like 8). The model compiler turns each band into an indicator
 * meta-function 1[from ≤ v < to]; the encrypted score is Σ score · indicator.
 */
import {
  type Band,
  classify,
  conclude,
  type Diagnosis,
  everyOutcome,
  fmt,
  formatBand,
  freezeBands,
  type Level,
  normaliseErrorBound,
  type Outcome,
} from './diagnosis.ts';

export type News2Score = 0 | 1 | 2 | 3;
export type News2Parameter = 'respiratoryRate' | 'systolic' | 'heartRate';

export interface News2Band extends Band {
  readonly score: News2Score;
  /** The chart's cell, as printed. */
  readonly published: string;
}

/** NEWS2 Chart 1, rows "Respiration rate (per minute)", "Systolic blood pressure (mmHg)", "Pulse (per minute)". */
export const NEWS2_TABLE: Readonly<Record<News2Parameter, readonly News2Band[]>> = Object.freeze({
  respiratoryRate: freezeBands<News2Band>([
    { from: -Infinity, to: 9, score: 3, published: '≤8' },
    { from: 9, to: 12, score: 1, published: '9–11' },
    { from: 12, to: 21, score: 0, published: '12–20' },
    { from: 21, to: 25, score: 2, published: '21–24' },
    { from: 25, to: Infinity, score: 3, published: '≥25' },
  ]),
  systolic: freezeBands<News2Band>([
    { from: -Infinity, to: 91, score: 3, published: '≤90' },
    { from: 91, to: 101, score: 2, published: '91–100' },
    { from: 101, to: 111, score: 1, published: '101–110' },
    { from: 111, to: 220, score: 0, published: '111–219' },
    { from: 220, to: Infinity, score: 3, published: '≥220' },
  ]),
  heartRate: freezeBands<News2Band>([
    { from: -Infinity, to: 41, score: 3, published: '≤40' },
    { from: 41, to: 51, score: 1, published: '41–50' },
    { from: 51, to: 91, score: 0, published: '51–90' },
    { from: 91, to: 111, score: 1, published: '91–110' },
    { from: 111, to: 131, score: 2, published: '111–130' },
    { from: 131, to: Infinity, score: 3, published: '≥131' },
  ]),
});

export const NEWS2_PARAMETERS: Readonly<Record<News2Parameter, { name: string; unit: string }>> =
  Object.freeze({
    respiratoryRate: { name: 'respiration rate', unit: 'per minute' },
    systolic: { name: 'systolic blood pressure', unit: 'mmHg' },
    heartRate: { name: 'pulse', unit: 'per minute' },
  });

export interface News2RiskBand extends Band {
  readonly level: Extract<Level, 'low' | 'medium' | 'high'>;
  readonly published: string;
  readonly response: string;
}

/** NEWS2 Chart 2: clinical risk by aggregate score (integers, so [a, b + 1) again). */
export const NEWS2_AGGREGATE: readonly News2RiskBand[] = freezeBands<News2RiskBand>([
  { from: 0, to: 5, level: 'low', published: 'aggregate score 0–4', response: 'ward-based response' },
  {
    from: 5,
    to: 7,
    level: 'medium',
    published: 'aggregate score 5–6',
    response: 'key threshold for urgent response',
  },
  {
    from: 7,
    to: Infinity,
    level: 'high',
    published: 'aggregate score 7 or more',
    response: 'urgent or emergency response',
  },
]);

/** NEWS2 Chart 2: a "red score" raises an aggregate of 0–4 to low–medium risk. */
export const NEWS2_RED_SCORE = Object.freeze({
  score: 3,
  level: 'low-medium',
  published: 'red score: score of 3 in any individual parameter',
  response: 'urgent ward-based response',
} as const);

/** Highest total of the three parameters scored here (the full NEWS2 goes to 20). */
export const NEWS2_PARTIAL_MAX = 9;

export type News2Scores = Record<News2Parameter, News2Score> & { total: number };

const PARAMETERS: readonly News2Parameter[] = ['respiratoryRate', 'systolic', 'heartRate'];

/** Plaintext reference: the chart applied to one reading (raw values, any real). */
export function news2Score(respiratoryRate: number, systolic: number, heartRate: number): News2Scores {
  const score = (p: News2Parameter, v: number) => classify(v, NEWS2_TABLE[p], 0).band.score;
  const scores = {
    respiratoryRate: score('respiratoryRate', respiratoryRate),
    systolic: score('systolic', systolic),
    heartRate: score('heartRate', heartRate),
  };
  return { ...scores, total: scores.respiratoryRate + scores.systolic + scores.heartRate };
}

/** A decrypted score: the integers it may be, and whether it is one integer within the bound. */
interface ReadScore {
  candidates: number[];
  exact: boolean;
  /** Not within the error bound of any integer: the bound was exceeded somewhere. */
  offInteger: boolean;
}

function readScore(name: string, value: number, max: number, e: number): ReadScore {
  if (!Number.isFinite(value)) throw new RangeError(`${name} score ${value} is not a finite number`);
  const outside = () => new RangeError(`${name} score ${fmt(value)} is outside 0–${max}`);
  const low = Math.ceil(value - e);
  const high = Math.floor(value + e);
  if (low <= high) {
    // Integers within ±e of the value (clamped to the score's range, which also bounds the loop).
    const near: number[] = [];
    for (let n = Math.max(0, low); n <= Math.min(max, high); n++) near.push(n);
    if (near.length === 0) throw outside();
    return { candidates: near, exact: near.length === 1, offInteger: false };
  }
  const around = [Math.floor(value), Math.ceil(value)].filter((n) => n >= 0 && n <= max);
  if (around.length === 0) throw outside();
  return { candidates: around, exact: false, offInteger: true };
}

function riskOf(total: number, parameterScores: readonly number[]): Outcome {
  const band = classify(total, NEWS2_AGGREGATE, 0).band;
  const red = parameterScores.some((s) => s === NEWS2_RED_SCORE.score);
  const level: Level = red && band.level === 'low' ? NEWS2_RED_SCORE.level : band.level;
  return { label: `${level} clinical risk`, level };
}

const LIMITS =
  'partial NEWS2: only respiration rate, systolic blood pressure and pulse are scored; SpO2, ' +
  'supplemental oxygen, temperature and consciousness are not measured and count 0 here, so the ' +
  'full NEWS2 can only be higher (RCP 2017)';

/**
 * Clinical risk from decrypted scores (approximate reals such as 2.9999997): each score is read
 * as the integer within ±errorBound of it. A score within the bound of no integer (the bound did
 * not hold) makes the diagnosis borderline; so do several candidate integers (a bound ≥ 0.5)
 * that lead to different risks. Borderline diagnoses name every risk they could be. Applies the aggregate thresholds
 * (0–4 low, 5–6 medium, ≥7 high) and the red-score rule (a 3 in any parameter → at least
 * low–medium).
 */
export function news2Diagnosis(
  scores: Readonly<Record<News2Parameter | 'total', number>>,
  errorBound: number,
): Diagnosis {
  const e = normaliseErrorBound(errorBound);
  const params = PARAMETERS.map((p) => ({ p, read: readScore(NEWS2_PARAMETERS[p].name, scores[p], 3, e) }));
  const total = readScore('total', scores.total, NEWS2_PARTIAL_MAX, e);
  const all = [...params.map((x) => x.read), total];

  const findings: string[] = [LIMITS];
  if (all.every((r) => r.exact)) {
    const sum = params.reduce((s, x) => s + (x.read.candidates[0] as number), 0);
    if (sum !== total.candidates[0]) {
      throw new RangeError(`total ${fmt(scores.total)} disagrees with the parameter scores' sum ${sum}`);
    }
  }
  const shown = (value: number, read: ReadScore) =>
    read.exact ? String(read.candidates[0]) : `${fmt(value)} ± ${fmt(e)} (${read.candidates.join(' or ')})`;
  findings.push(
    `scores: ${params.map(({ p, read }) => `${NEWS2_PARAMETERS[p].name} ${shown(scores[p], read)}`).join(', ')}; ` +
      `total ${shown(scores.total, total)}`,
  );
  if (all.some((r) => r.offInteger)) {
    findings.push(
      `a score lies farther than ±${fmt(e)} from every integer: the error bound does not hold; borderline`,
    );
  }
  for (const { p, read } of params) {
    if (read.exact && read.candidates[0] === NEWS2_RED_SCORE.score) {
      const cells = NEWS2_TABLE[p].filter((b) => b.score === 3).map((b) => `${b.published} ${formatBand(b)}`);
      findings.push(
        `${NEWS2_PARAMETERS[p].name} scored 3 (NEWS2 chart: ${cells.join(' or ')}); ${NEWS2_RED_SCORE.published} → ` +
          `at least ${NEWS2_RED_SCORE.level} clinical risk, ${NEWS2_RED_SCORE.response}`,
      );
    }
  }
  if (total.exact) {
    const band = classify(total.candidates[0] as number, NEWS2_AGGREGATE, 0).band;
    findings.push(`${band.published}: ${band.level} clinical risk, ${band.response} (RCP 2017)`);
  }

  const outcomes = everyOutcome([total.candidates, ...params.map((x) => x.read.candidates)], ([t, ...ps]) =>
    riskOf(t as number, ps),
  );
  return conclude(
    'news2',
    outcomes,
    findings,
    all.some((r) => r.offInteger),
  );
}
