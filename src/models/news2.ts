/**
 * NEWS2 (Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising the
 * assessment of acute-illness severity in the NHS. Updated report of a working party. London:
 * RCP, 2017; Chart 1 "The NEWS scoring system", Chart 2 "NEWS thresholds and triggers" and
 * Chart 4 "Clinical response to the NEWS trigger thresholds"): all seven parameters.
 *
 * The catalogue's early-warning model scores three of them encrypted (respiration rate, systolic
 * pressure, pulse: the vitals the wearable measures). The other four (SpO2 on scale 1 or 2, air
 * or oxygen, consciousness, temperature) are scored here on the client from what the person's
 * devices measured or the person entered, in the clear and never sent, and added to the
 * decrypted partial score. A diagnosis on fewer than seven parameters says so in its label:
 * "partial NEWS2 (n of 7 parameters): …".
 *
 * The chart scores integer readings ("9–11") and temperatures to 0.1 °C ("35.1–36.0"); bands here
 * are half-open on the real value, each published range [a, b] becoming [a, b + 1) (temperature:
 * [a, b + 0.1)), so a real reading scores as its value truncated to the chart's resolution (8.7
 * breaths/min scores like 8, 36.05 °C like 36.0). The model compiler turns each encrypted band
 * into an indicator meta-function 1[from ≤ v < to]; the encrypted score is Σ score · indicator.
 */
import { CONSCIOUSNESS_LEVELS, type Consciousness } from '../device/reading.ts';
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
/** The parameters the early-warning model scores encrypted. */
export type News2Parameter = 'respiratoryRate' | 'systolic' | 'heartRate';
/** The parameters the client scores in the clear, from what was measured or entered. */
export type News2ClearParameter = 'spo2' | 'airOrOxygen' | 'consciousness' | 'temperature';
export type News2AnyParameter = News2Parameter | News2ClearParameter;

/** NEWS2 Chart 1 has seven parameters (rows), in this order. */
export const NEWS2_ALL_PARAMETERS: readonly News2AnyParameter[] = Object.freeze([
  'respiratoryRate',
  'spo2',
  'airOrOxygen',
  'systolic',
  'heartRate',
  'consciousness',
  'temperature',
]);

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

export const NEWS2_PARAMETERS: Readonly<Record<News2AnyParameter, { name: string; unit: string }>> =
  Object.freeze({
    respiratoryRate: { name: 'respiration rate', unit: 'per minute' },
    spo2: { name: 'SpO2', unit: '%' },
    airOrOxygen: { name: 'air or oxygen', unit: '' },
    systolic: { name: 'systolic blood pressure', unit: 'mmHg' },
    heartRate: { name: 'pulse', unit: 'per minute' },
    consciousness: { name: 'consciousness', unit: '' },
    temperature: { name: 'temperature', unit: '°C' },
  });

/** NEWS2 Chart 1, row "SpO2 Scale 1 (%)": everyone whose clinician has not prescribed scale 2. */
export const NEWS2_SPO2_SCALE_1: readonly News2Band[] = freezeBands<News2Band>([
  { from: -Infinity, to: 92, score: 3, published: '≤91' },
  { from: 92, to: 94, score: 2, published: '92–93' },
  { from: 94, to: 96, score: 1, published: '94–95' },
  { from: 96, to: Infinity, score: 0, published: '≥96' },
]);

/**
 * NEWS2 Chart 1, row "SpO2 Scale 2 (%)", for a person breathing air. Scale 2 is only for a
 * prescribed target saturation of 88–92% (e.g. hypercapnic respiratory failure), decided by a
 * clinician (RCP 2017, Chart 1 and its notes on SpO2 scale 2).
 */
export const NEWS2_SPO2_SCALE_2_AIR: readonly News2Band[] = freezeBands<News2Band>([
  { from: -Infinity, to: 84, score: 3, published: '≤83' },
  { from: 84, to: 86, score: 2, published: '84–85' },
  { from: 86, to: 88, score: 1, published: '86–87' },
  { from: 88, to: Infinity, score: 0, published: '88–92, ≥93 on air' },
]);

/** NEWS2 Chart 1, row "SpO2 Scale 2 (%)", for a person on supplemental oxygen. */
export const NEWS2_SPO2_SCALE_2_OXYGEN: readonly News2Band[] = freezeBands<News2Band>([
  { from: -Infinity, to: 84, score: 3, published: '≤83' },
  { from: 84, to: 86, score: 2, published: '84–85' },
  { from: 86, to: 88, score: 1, published: '86–87' },
  { from: 88, to: 93, score: 0, published: '88–92' },
  { from: 93, to: 95, score: 1, published: '93–94 on oxygen' },
  { from: 95, to: 97, score: 2, published: '95–96 on oxygen' },
  { from: 97, to: Infinity, score: 3, published: '≥97 on oxygen' },
]);

/**
 * Scale 2's score depends on air or oxygen only from this saturation up (NEWS2 Chart 1: the
 * "≥93 on air" and "93–94 on oxygen" cells); below it both columns agree.
 */
export const NEWS2_SPO2_SCALE_2_OXYGEN_MATTERS = 93;

/** NEWS2 Chart 1, row "Air or oxygen?". */
export const NEWS2_AIR_OR_OXYGEN: Readonly<
  Record<'air' | 'oxygen', { score: News2Score; published: string }>
> = Object.freeze({
  air: Object.freeze({ score: 0 as const, published: 'Air' }),
  oxygen: Object.freeze({ score: 2 as const, published: 'Oxygen' }),
});

/**
 * NEWS2 Chart 1, row "Consciousness": Alert scores 0; new Confusion, Voice, Pain or Unresponsive
 * (the "CVPU" cell) score 3. Only new confusion counts (RCP 2017: "new-onset or worsening
 * confusion, delirium or any other altered mentation").
 */
export const NEWS2_CONSCIOUSNESS: Readonly<Record<Consciousness, { score: News2Score; published: string }>> =
  Object.freeze({
    alert: Object.freeze({ score: 0 as const, published: 'Alert' }),
    confusion: Object.freeze({ score: 3 as const, published: 'CVPU' }),
    voice: Object.freeze({ score: 3 as const, published: 'CVPU' }),
    pain: Object.freeze({ score: 3 as const, published: 'CVPU' }),
    unresponsive: Object.freeze({ score: 3 as const, published: 'CVPU' }),
  });

/** NEWS2 Chart 1, row "Temperature (°C)", printed to 0.1 °C: [a, b] becomes [a, b + 0.1). */
export const NEWS2_TEMPERATURE: readonly News2Band[] = freezeBands<News2Band>([
  { from: -Infinity, to: 35.1, score: 3, published: '≤35.0' },
  { from: 35.1, to: 36.1, score: 1, published: '35.1–36.0' },
  { from: 36.1, to: 38.1, score: 0, published: '36.1–38.0' },
  { from: 38.1, to: 39.1, score: 1, published: '38.1–39.0' },
  { from: 39.1, to: Infinity, score: 2, published: '≥39.1' },
]);

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

/**
 * NEWS2 Chart 4: the clinical response to each trigger (a hospital's; shown to the person as what
 * the score would call for there). The rows apply in this order: total 7 or more, total 5 or
 * more, a 3 in any single parameter, total 1–4, total 0.
 */
export interface News2Response {
  readonly published: string;
  /** "Frequency of monitoring". */
  readonly monitoring: string;
  readonly response: string;
}

export const NEWS2_CLINICAL_RESPONSE: Readonly<
  Record<'zero' | 'low' | 'red' | 'urgent' | 'emergency', News2Response>
> = Object.freeze({
  zero: Object.freeze({
    published: 'NEWS 0',
    monitoring: 'minimum 12-hourly',
    response: 'continue routine NEWS monitoring',
  }),
  low: Object.freeze({
    published: 'total 1–4',
    monitoring: 'minimum 4–6-hourly',
    response:
      'a registered nurse assesses the patient and decides whether monitoring should be more frequent or care escalated',
  }),
  red: Object.freeze({
    published: '3 in a single parameter',
    monitoring: 'minimum 1-hourly',
    response:
      'the registered nurse informs the medical team caring for the patient, who review and decide whether to escalate care',
  }),
  urgent: Object.freeze({
    published: 'total 5 or more: urgent response threshold',
    monitoring: 'minimum 1-hourly',
    response:
      'the medical team is informed immediately; urgent assessment by a clinician or team competent in the care of acutely ill patients, in an environment with monitoring facilities',
  }),
  emergency: Object.freeze({
    published: 'total 7 or more: emergency response threshold',
    monitoring: 'continuous monitoring of vital signs',
    response:
      'the medical team is informed immediately (at least specialist-registrar level); emergency assessment by a team with critical-care competencies, including advanced airway management; consider transfer to a level 2 or 3 care facility (HDU or ICU)',
  }),
});

/** NEWS2 Chart 4's row for an exact aggregate and the parameters' scores. */
export function news2Response(total: number, parameterScores: readonly number[]): News2Response {
  const r = NEWS2_CLINICAL_RESPONSE;
  // Chart 4: "Total 7 or more", "Total 5 or more", "3 in single parameter", "Total 1–4", "0".
  if (total >= 7) return r.emergency;
  if (total >= 5) return r.urgent;
  if (parameterScores.some((s) => s === NEWS2_RED_SCORE.score)) return r.red;
  return total >= 1 ? r.low : r.zero;
}

/** Highest total of the three parameters the early-warning model scores encrypted. */
export const NEWS2_PARTIAL_MAX = 9;
/** Highest NEWS2 total: 3 + 3 + 2 + 3 + 3 + 3 + 3 over Chart 1's seven rows. */
export const NEWS2_MAX = 20;

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

/**
 * What the client knows in the clear for the four parameters the wearable does not measure; each
 * optional (not measured, not entered). Never sent.
 */
export interface News2ClearInputs {
  /** SpO2, %. */
  spo2?: number | undefined;
  /** On supplemental oxygen (true) or air (false). */
  oxygen?: boolean | undefined;
  consciousness?: Consciousness | undefined;
  /** Body temperature, °C. */
  temperature?: number | undefined;
  /** The SpO2 scale; 2 only when the person's clinician set it. Default 1. */
  spo2Scale?: 1 | 2 | undefined;
}

export interface ClearScore {
  parameter: News2ClearParameter;
  score: News2Score;
  /** "SpO2 (scale 1) 97 %: ≥96" — the value, its unit and the chart cell. */
  shown: string;
  /** The chart cell, as printed ("≥96", "CVPU"). */
  published: string;
}

export interface ClearScores {
  scored: ClearScore[];
  /** Parameters not scored, each with why ("not measured", …). */
  missing: { parameter: News2ClearParameter; why: string }[];
  sum: number;
}

/** Scores the clear parameters that are known (NEWS2 Chart 1); the others are listed as missing. */
export function news2ClearScores(inputs: News2ClearInputs = {}): ClearScores {
  const scored: ClearScore[] = [];
  const missing: ClearScores['missing'] = [];
  const scale = inputs.spo2Scale ?? 1;
  if (scale !== 1 && scale !== 2) throw new RangeError(`SpO2 scale ${String(scale)} is neither 1 nor 2`);
  const band = (
    parameter: News2ClearParameter,
    value: number,
    bands: readonly News2Band[],
    label: string,
  ) => {
    if (!Number.isFinite(value)) throw new RangeError(`${label} ${value} is not a finite number`);
    const b = classify(value, bands, 0).band;
    scored.push({
      parameter,
      score: b.score,
      shown: `${label} ${fmt(value)} ${NEWS2_PARAMETERS[parameter].unit}: ${b.published}`,
      published: `${b.published} ${formatBand(b)}`,
    });
  };

  const { spo2, oxygen } = inputs;
  if (spo2 === undefined) missing.push({ parameter: 'spo2', why: 'not measured' });
  else if (scale === 1) band('spo2', spo2, NEWS2_SPO2_SCALE_1, 'SpO2 (scale 1)');
  else if (oxygen === undefined && spo2 >= NEWS2_SPO2_SCALE_2_OXYGEN_MATTERS) {
    missing.push({
      parameter: 'spo2',
      why: `on scale 2 an SpO2 of ${NEWS2_SPO2_SCALE_2_OXYGEN_MATTERS}% or more scores by air or oxygen, which was not entered`,
    });
  } else {
    band('spo2', spo2, oxygen ? NEWS2_SPO2_SCALE_2_OXYGEN : NEWS2_SPO2_SCALE_2_AIR, 'SpO2 (scale 2)');
  }

  if (oxygen === undefined) missing.push({ parameter: 'airOrOxygen', why: 'not entered' });
  else {
    const cell = NEWS2_AIR_OR_OXYGEN[oxygen ? 'oxygen' : 'air'];
    scored.push({
      parameter: 'airOrOxygen',
      score: cell.score,
      shown: `air or oxygen: ${cell.published}`,
      published: cell.published,
    });
  }

  const { consciousness } = inputs;
  if (consciousness === undefined) missing.push({ parameter: 'consciousness', why: 'not entered' });
  else {
    if (!CONSCIOUSNESS_LEVELS.includes(consciousness)) {
      throw new RangeError(`consciousness ${String(consciousness)} is not an ACVPU level`);
    }
    const cell = NEWS2_CONSCIOUSNESS[consciousness];
    scored.push({
      parameter: 'consciousness',
      score: cell.score,
      shown: `consciousness ${consciousness}: ${cell.published}`,
      published: cell.published,
    });
  }

  if (inputs.temperature === undefined) missing.push({ parameter: 'temperature', why: 'not measured' });
  else band('temperature', inputs.temperature, NEWS2_TEMPERATURE, 'temperature');

  const order = (p: News2ClearParameter) => NEWS2_ALL_PARAMETERS.indexOf(p);
  scored.sort((a, b) => order(a.parameter) - order(b.parameter));
  missing.sort((a, b) => order(a.parameter) - order(b.parameter));
  return { scored, missing, sum: scored.reduce((t, c) => t + c.score, 0) };
}

export interface News2FullScores {
  /** Each scored parameter's score (the encrypted three always; the clear ones when known). */
  scores: Partial<Record<News2AnyParameter, News2Score>>;
  total: number;
  /** How many of the seven parameters were scored. */
  parameters: number;
}

/** Plaintext reference for the whole chart: raw values (any real) → every score and the aggregate. */
export function news2FullScore(
  vitals: { respiratoryRate: number; systolic: number; heartRate: number },
  clear: News2ClearInputs = {},
): News2FullScores {
  const partial = news2Score(vitals.respiratoryRate, vitals.systolic, vitals.heartRate);
  const c = news2ClearScores(clear);
  const scores: Partial<Record<News2AnyParameter, News2Score>> = {
    respiratoryRate: partial.respiratoryRate,
    systolic: partial.systolic,
    heartRate: partial.heartRate,
  };
  for (const x of c.scored) scores[x.parameter] = x.score;
  return { scores, total: partial.total + c.sum, parameters: 3 + c.scored.length };
}

/** How a diagnosis on n of the seven parameters is labelled. */
export const news2Scope = (parameters: number): string =>
  parameters === NEWS2_ALL_PARAMETERS.length
    ? 'NEWS2'
    : `partial NEWS2 (${parameters} of ${NEWS2_ALL_PARAMETERS.length} parameters)`;

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
  // Chart 4: NEWS 0 calls for routine monitoring only; 7 or more for an emergency response.
  const interpretation = total === 0 ? 'normal' : total >= 7 ? 'critical' : 'abnormal';
  return { label: `${level} clinical risk`, level, interpretation };
}

/**
 * Clinical risk from decrypted scores (approximate reals such as 2.9999997) and, when given, the
 * clear parameters' scores: each decrypted score is read as the integer within ±errorBound of it.
 * A score within the bound of no integer (the bound did not hold) makes the diagnosis borderline;
 * so do several candidate integers (a bound ≥ 0.5) that lead to different risks. Borderline
 * diagnoses name every risk they could be. The clear parameters are exact and add to the decrypted
 * total. Applies Chart 2's aggregate thresholds (0–4 low, 5–6 medium, ≥7 high) and red-score rule
 * (a 3 in any parameter → at least low–medium), and names Chart 4's response. The label starts
 * with the scope: "NEWS2: …" on all seven parameters, else "partial NEWS2 (n of 7 parameters): …".
 */
export function news2Diagnosis(
  scores: Readonly<Record<News2Parameter | 'total', number>>,
  errorBound: number,
  clear?: News2ClearInputs,
): Diagnosis {
  const e = normaliseErrorBound(errorBound);
  const params = PARAMETERS.map((p) => ({ p, read: readScore(NEWS2_PARAMETERS[p].name, scores[p], 3, e) }));
  const total = readScore('total', scores.total, NEWS2_PARTIAL_MAX, e);
  const all = [...params.map((x) => x.read), total];
  const cl = news2ClearScores(clear);
  const count = PARAMETERS.length + cl.scored.length;
  const scope = news2Scope(count);
  const encryptedNames = PARAMETERS.map((p) => NEWS2_PARAMETERS[p].name).join(', ');

  const findings: string[] = [];
  if (count < NEWS2_ALL_PARAMETERS.length) {
    const scoredClear = cl.scored.map((c) => `${NEWS2_PARAMETERS[c.parameter].name} (on this device)`);
    findings.push(
      `partial NEWS2: ${count} of ${NEWS2_ALL_PARAMETERS.length} parameters scored (${[encryptedNames, ...scoredClear].join(', ')}); ` +
        `not scored: ${cl.missing.map((m) => `${NEWS2_PARAMETERS[m.parameter].name} (${m.why})`).join(', ')}; ` +
        'each counts 0 here, so the full NEWS2 can only be equal or higher (RCP 2017)',
    );
  } else {
    findings.push(
      `NEWS2 on all ${count} parameters (RCP 2017 Chart 1): ${encryptedNames} from the encrypted result; ` +
        `${cl.scored.map((c) => NEWS2_PARAMETERS[c.parameter].name).join(', ')} scored on this device from what was measured or entered, never sent`,
    );
  }
  if (all.every((r) => r.exact)) {
    const sum = params.reduce((s, x) => s + (x.read.candidates[0] as number), 0);
    if (sum !== total.candidates[0]) {
      throw new RangeError(`total ${fmt(scores.total)} disagrees with the parameter scores' sum ${sum}`);
    }
  }
  const shown = (value: number, read: ReadScore) =>
    read.exact ? String(read.candidates[0]) : `${fmt(value)} ± ${fmt(e)} (${read.candidates.join(' or ')})`;
  const decrypted = params
    .map(({ p, read }) => `${NEWS2_PARAMETERS[p].name} ${shown(scores[p], read)}`)
    .join(', ');
  if (cl.scored.length === 0) findings.push(`scores: ${decrypted}; total ${shown(scores.total, total)}`);
  else {
    const totals = total.candidates.map((t) => t + cl.sum).join(' or ');
    findings.push(
      `scores: ${decrypted} (decrypted); ${cl.scored.map((c) => `${c.shown} → ${c.score}`).join(', ')} (scored on this device); ` +
        `total ${totals} (decrypted ${shown(scores.total, total)} + ${cl.sum})`,
    );
  }
  if (all.some((r) => r.offInteger)) {
    findings.push(
      `a score lies farther than ±${fmt(e)} from every integer: the error bound does not hold; borderline`,
    );
  }
  const red = (name: string, cells: string) =>
    findings.push(
      `${name} scored 3 (NEWS2 chart: ${cells}); ${NEWS2_RED_SCORE.published} → ` +
        `at least ${NEWS2_RED_SCORE.level} clinical risk, ${NEWS2_RED_SCORE.response}`,
    );
  for (const { p, read } of params) {
    if (read.exact && read.candidates[0] === NEWS2_RED_SCORE.score) {
      const cells = NEWS2_TABLE[p].filter((b) => b.score === 3).map((b) => `${b.published} ${formatBand(b)}`);
      red(NEWS2_PARAMETERS[p].name, cells.join(' or '));
    }
  }
  for (const c of cl.scored)
    if (c.score === NEWS2_RED_SCORE.score) red(NEWS2_PARAMETERS[c.parameter].name, c.published);
  if (total.exact) {
    const t = (total.candidates[0] as number) + cl.sum;
    const band = classify(t, NEWS2_AGGREGATE, 0).band;
    findings.push(`${band.published}: ${band.level} clinical risk, ${band.response} (RCP 2017 Chart 2)`);
    if (params.every((x) => x.read.exact)) {
      const r = news2Response(t, [
        ...params.map((x) => x.read.candidates[0] as number),
        ...cl.scored.map((c) => c.score),
      ]);
      findings.push(
        `in hospital (RCP 2017 Chart 4, ${r.published}): monitoring ${r.monitoring}; ${r.response}`,
      );
    }
  }

  const clearScores = cl.scored.map((c) => c.score);
  const outcomes = everyOutcome([total.candidates, ...params.map((x) => x.read.candidates)], ([t, ...ps]) =>
    riskOf((t as number) + cl.sum, [...ps, ...clearScores]),
  );
  return withScope(
    conclude(
      'news2',
      outcomes,
      findings,
      all.some((r) => r.offInteger),
    ),
    scope,
  );
}

/** Prefixes a diagnosis's label and candidates with what it scored ("partial NEWS2 (3 of 7 parameters)"). */
function withScope(d: Diagnosis, scope: string): Diagnosis {
  return {
    ...d,
    label: `${scope}: ${d.label}`,
    ...(d.candidates ? { candidates: d.candidates.map((c) => `${scope}: ${c}`) } : {}),
  };
}
