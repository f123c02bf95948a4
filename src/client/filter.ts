/**
 * The paper's preliminary filter step, on the client before anything is encrypted: raw device
 * readings → clean four-vital readings, and (for batch models) a regular grid with short gaps
 * filled. Pure functions, no I/O and no `node:` imports: the same code runs in the browser.
 *
 * Stages of `filterReadings`, in order (docs/filtering.md explains each choice):
 *  1. units: blood pressure reported in kPa is converted to mmHg (counted as `converted`);
 *  2. validity: a respiratory rate from 0 up to READING_LIMITS' minimum is "no breathing
 *     detected": rejected (it cannot be encrypted) and raised as an alert the person sees; a
 *     reading without a valid time, with a missing or non-finite vital, outside READING_LIMITS,
 *     or with diastolic ≥ systolic is rejected with one reason; then the valid readings are put in
 *     time order and a second reading at the same time is rejected. Observations (SpO2,
 *     temperature, oxygen, consciousness) that are not valid are left out of a kept reading, each
 *     noted in the report;
 *  3. artifacts: a Hampel filter per vital replaces an outlier by its window median (the reading
 *     stays, so a batch grid stays full); both pressures are replaced when either is an outlier,
 *     since one cuff measurement gives both;
 *  4. result: the kept readings as plain `Reading`s, oldest first, and a report of every fate.
 */
import { MMHG_PER_KPA } from '../device/gatt.ts';
import {
  CONSCIOUSNESS_LEVELS,
  type Consciousness,
  OBSERVATION_LIMITS,
  OBSERVATION_NAMES,
  type Observation,
  READING_LIMITS,
  type Reading,
  VITAL_NAMES,
  VITAL_UNITS,
  type Vital,
} from '../device/reading.ts';

export type FilterErrorCode =
  | 'BAD_OPTIONS' // an option out of its domain (a negative window, a non-integer slot count, …)
  | 'BAD_READING' // toGrid was given a reading with an invalid time or value (filter it first)
  | 'NO_READINGS' // toGrid: not one reading falls on the grid
  | 'GAP_TOO_LONG'; // toGrid: a run of empty slots longer than maxGapSlots

export class FilterError extends Error {
  override readonly name = 'FilterError';
  readonly code: FilterErrorCode;
  /** For GAP_TOO_LONG: every run of empty slots that could not be filled. */
  readonly gaps: readonly GridGap[];
  constructor(code: FilterErrorCode, message: string, gaps: readonly GridGap[] = []) {
    super(message);
    this.code = code;
    this.gaps = gaps;
  }
}

const VITALS: readonly Vital[] = ['x', 'y', 'z', 'w'];
const PRESSURES: readonly Vital[] = ['y', 'z'];
const MINUTE = 60_000;

export type PressureUnit = 'mmHg' | 'kPa';

/**
 * A reading as it arrives from a device or a store: any vital may be missing (`undefined` or
 * `null`: a heart-rate strap reports only `x`), and blood pressure may be in kPa. Extra
 * properties (a SimulatedReading's `truth`, …) are ignored and not copied to the output.
 */
export interface RawReading {
  /** Milliseconds since the Unix epoch (UTC), an integer. */
  readonly time: number;
  readonly x?: number | null;
  readonly y?: number | null;
  readonly z?: number | null;
  readonly w?: number | null;
  /** Units of `y` and `z`; default mmHg. (A parsed GATT measurement is already in mmHg.) */
  readonly units?: { readonly pressure?: PressureUnit };
  /** Observations (src/device/reading.ts), each optional: kept when valid, else noted and left out. */
  readonly spo2?: number | null;
  readonly temperature?: number | null;
  readonly oxygen?: boolean | null;
  readonly consciousness?: Consciousness | null;
}

export type RejectReason =
  | 'no-breathing' // respiratory rate 0 ≤ w < READING_LIMITS.w.min: raised as an alert too
  | 'invalid-time' // time is not an integer number of milliseconds
  | 'incomplete' // a vital is missing (the four-vital tuple needs all four)
  | 'non-finite' // a vital is NaN, ±Infinity or not a number at all
  | 'unknown-unit' // units.pressure is neither 'mmHg' nor 'kPa'
  | 'out-of-range' // a vital outside READING_LIMITS (after conversion)
  | 'diastolic-not-below-systolic' // y ≥ z
  | 'duplicate-time' // a valid reading at the same time came first
  | 'out-of-order'; // order 'strict' only: earlier than a reading already kept

export const REJECT_REASONS: readonly RejectReason[] = Object.freeze([
  'no-breathing',
  'invalid-time',
  'incomplete',
  'non-finite',
  'unknown-unit',
  'out-of-range',
  'diastolic-not-below-systolic',
  'duplicate-time',
  'out-of-order',
]);

/** How formatReport names a reason. */
export const REJECT_REASON_NAMES: Readonly<Record<RejectReason, string>> = Object.freeze({
  'no-breathing': 'no breathing detected',
  'invalid-time': 'invalid time',
  incomplete: 'incomplete',
  'non-finite': 'not a number',
  'unknown-unit': 'unknown unit',
  'out-of-range': 'out of range',
  'diastolic-not-below-systolic': 'diastolic not below systolic',
  'duplicate-time': 'duplicate time',
  'out-of-order': 'out of order',
});

/** What became of one input reading. */
export type ReadingFate = 'kept' | 'corrected' | RejectReason;

export interface Rejection {
  /** Position in the input. */
  index: number;
  /** The reading's time as given (may be invalid when reason is 'invalid-time'). */
  time: unknown;
  reason: RejectReason;
  /** The first offending vital, when the reason concerns one. */
  vital?: Vital;
  /** Its value (in mmHg for pressures, after any conversion). */
  value?: unknown;
  /** A sentence naming the reading, the vital, the value and the rule. */
  message: string;
}

/** What the person is told when a reading shows no breathing (a sensor off, or worse). */
export const NO_BREATHING = 'no breathing detected: check the sensor';

/**
 * Something the person must see, not just a count: a respiratory rate of 0–1 breaths/min is
 * never dropped silently. The CLI prints each (formatReport), the browser shows each in its alert
 * box.
 */
export interface FilterAlert {
  /** Position in the input. */
  index: number;
  time: number;
  /**
   * no-breathing: a respiratory rate of 0–2, rejected. critical-corrected: a value in NEWS2's
   * red band (a single-parameter score of 3) replaced by its neighbours' median as an artifact:
   * it may be one, or the start of a real change, so the person is told either way.
   */
  kind: 'no-breathing' | 'critical-corrected';
  /** The value read (breaths/min for no-breathing; the vital's unit otherwise). */
  value: number;
  /** "reading 3 at 2024-…: no breathing detected: check the sensor (respiratory rate 0 breaths/min)". */
  message: string;
}

/** An observation left out of a kept reading (the reading's vitals were sent without it). */
export interface DroppedObservation {
  index: number;
  time: number;
  observation: Observation;
  value: unknown;
  message: string;
}

export interface Correction {
  /** Position in the input. */
  index: number;
  time: number;
  vital: Vital;
  /** The measured value and its replacement (the window median). */
  from: number;
  to: number;
  /** True when this value was not an outlier itself but its pressure partner was. */
  paired: boolean;
}

export interface FilterReport {
  received: number;
  /** Readings in the output (corrected ones included). received = kept + Σ rejected. */
  kept: number;
  /** Kept readings with at least one value replaced. */
  corrected: number;
  /** Every reason, zero or not. */
  rejected: Record<RejectReason, number>;
  /** Values replaced, per vital (paired pressure replacements included). */
  artifacts: Record<Vital, number>;
  /** Readings whose pressures were converted from kPa (whether kept or not). */
  converted: number;
  /** Fate of each input reading, by input index. */
  perReading: ReadingFate[];
  /** One entry per rejected reading, in input order. */
  rejections: Rejection[];
  /** One entry per replaced value, in time order. */
  corrections: Correction[];
  /** Readings the person must be told about (no breathing detected), in input order. */
  alerts: FilterAlert[];
  /** Observations left out of kept readings (not a number, outside OBSERVATION_LIMITS, …). */
  dropped: DroppedObservation[];
}

export interface FilterResult {
  /** Kept readings (plain `Reading`s, corrections applied), strictly increasing in time. */
  kept: Reading[];
  /** indices[i] is the input position of kept[i]. */
  indices: number[];
  report: FilterReport;
}

export interface HampelOptions {
  /** Readings each side of the centre (the window is 2·halfWidth + 1 readings). Default 3. */
  halfWidth?: number;
  /** An outlier lies more than this many scaled MADs from the window median. Default 3. */
  threshold?: number;
  /** MAD → standard deviation for normal data. Default 1.4826. */
  madScale?: number;
  /**
   * The filter is applied to a reading only when its window has at least this many other
   * readings. Default 2·halfWidth (a full window; near the ends the window is shifted inward,
   * so only a series shorter than 2·halfWidth + 1 is left unfiltered).
   */
  minNeighbours?: number;
  /**
   * Floor of the scaled MAD per vital, in the vital's units: integer readings often make
   * MAD = 0 (four of seven equal values) and a one-unit step would otherwise be an "outlier".
   * Defaults in DEFAULT_MIN_SCALE.
   */
  minScale?: Partial<Record<Vital, number>>;
  /** Replace both pressures when either is an outlier (one cuff measurement). Default true. */
  pairPressures?: boolean;
}

export interface FilterOptions {
  /**
   * 'sort' (default): readings may arrive in any order (a device replaying its memory after a
   * reconnection) and are put in time order; of two at the same time the first in input order is
   * kept. 'strict': the input must be in time order; a reading at or before the last kept one is
   * rejected ('duplicate-time' or 'out-of-order').
   */
  order?: 'sort' | 'strict';
  /** Artifact filter settings, or false to skip the stage. */
  hampel?: HampelOptions | false;
}

/**
 * The floor of the scale per vital: the error a validated device may make on its own (heart rate
 * ±5 beats/min, ANSI/AAMI EC13; cuff error SD up to 8 mmHg, ISO 81060-2; respiratory rate
 * ±2 breaths/min). A deviation the device's own error could produce is never an "artifact".
 */
export const DEFAULT_MIN_SCALE: Readonly<Record<Vital, number>> = Object.freeze({
  x: 5,
  y: 8,
  z: 8,
  w: 2,
});

export const DEFAULT_HAMPEL: Readonly<Required<Omit<HampelOptions, 'minNeighbours' | 'minScale'>>> =
  Object.freeze({ halfWidth: 3, threshold: 3, madScale: 1.4826, pairPressures: true });

const iso = (t: number) =>
  Number.isFinite(t) && Math.abs(t) <= 8.64e15 ? new Date(t).toISOString() : String(t);
const show = (v: unknown) => (typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v)));
const emptyReasons = () =>
  Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
const emptyVitals = (): Record<Vital, number> => ({ x: 0, y: 0, z: 0, w: 0 });

function checkHampel(h: HampelOptions) {
  const halfWidth = h.halfWidth ?? DEFAULT_HAMPEL.halfWidth;
  const threshold = h.threshold ?? DEFAULT_HAMPEL.threshold;
  const madScale = h.madScale ?? DEFAULT_HAMPEL.madScale;
  const minNeighbours = h.minNeighbours ?? 2 * halfWidth;
  const minScale = { ...DEFAULT_MIN_SCALE, ...h.minScale };
  const bad = (what: string, v: unknown) =>
    new FilterError('BAD_OPTIONS', `hampel.${what} is invalid: ${show(v)}`);
  if (!(Number.isSafeInteger(halfWidth) && halfWidth >= 1))
    throw bad('halfWidth (an integer ≥ 1)', halfWidth);
  if (!(Number.isFinite(threshold) && threshold > 0)) throw bad('threshold (> 0)', threshold);
  if (!(Number.isFinite(madScale) && madScale > 0)) throw bad('madScale (> 0)', madScale);
  if (!(Number.isSafeInteger(minNeighbours) && minNeighbours >= 1 && minNeighbours <= 2 * halfWidth)) {
    throw bad(`minNeighbours (an integer in 1…${2 * halfWidth})`, minNeighbours);
  }
  for (const v of VITALS) {
    if (!(Number.isFinite(minScale[v]) && minScale[v] >= 0)) throw bad(`minScale.${v} (≥ 0)`, minScale[v]);
  }
  return { halfWidth, threshold, madScale, minNeighbours, minScale, pairPressures: h.pairPressures ?? true };
}

interface Valid {
  index: number;
  reading: Reading;
  dropped: DroppedObservation[];
}

interface Checked {
  /** Set when the reading passes; else `rejection` is. */
  reading?: Reading;
  rejection?: Rejection;
  /** Its pressures were converted from kPa (a reading rejected before conversion was not). */
  converted: boolean;
  /** Observations of a passing reading that were left out. */
  dropped?: DroppedObservation[];
}

/** A passing reading's valid observations copied onto it; the others described. */
function observationsOf(raw: RawReading, reading: Reading, index: number): DroppedObservation[] {
  const dropped: DroppedObservation[] = [];
  const drop = (observation: Observation, value: unknown, why: string) =>
    dropped.push({
      index,
      time: reading.time,
      observation,
      value,
      message: `reading ${index} at ${iso(reading.time)}: ${OBSERVATION_NAMES[observation]} ${show(value)} ${why}; the reading is used without it`,
    });
  for (const o of ['spo2', 'temperature'] as const) {
    const v = raw[o];
    if (v === undefined || v === null) continue;
    const { min, max, unit } = OBSERVATION_LIMITS[o];
    if (typeof v !== 'number' || !Number.isFinite(v)) drop(o, v, 'is not a finite number');
    else if (!(v >= min && v <= max)) drop(o, v, `${unit} is outside ${min}–${max}`);
    else reading[o] = v;
  }
  if (raw.oxygen !== undefined && raw.oxygen !== null) {
    if (typeof raw.oxygen === 'boolean') reading.oxygen = raw.oxygen;
    else drop('oxygen', raw.oxygen, 'is not yes (true) or no (false)');
  }
  if (raw.consciousness !== undefined && raw.consciousness !== null) {
    if (CONSCIOUSNESS_LEVELS.includes(raw.consciousness)) reading.consciousness = raw.consciousness;
    else drop('consciousness', raw.consciousness, 'is not an ACVPU level');
  }
  return dropped;
}

/** Stage 1 and the per-reading part of stage 2: a reading, or why it is rejected. */
function validate(raw: RawReading, index: number): Checked {
  let converted = false;
  const reject = (reason: RejectReason, detail: string, vital?: Vital, value?: unknown): Checked => ({
    rejection: {
      index,
      time: raw?.time,
      reason,
      ...(vital === undefined ? {} : { vital, value }),
      message: `reading ${index}${Number.isSafeInteger(raw?.time) ? ` at ${iso(raw.time)}` : ''}: ${detail}`,
    },
    converted,
  });
  if (raw === null || typeof raw !== 'object') return reject('incomplete', `${show(raw)} is not a reading`);
  if (!Number.isSafeInteger(raw.time)) {
    return reject('invalid-time', `time ${show(raw.time)} is not an integer number of milliseconds`);
  }
  // Before anything else about the reading: whatever else is wrong with it, the person hears this.
  if (typeof raw.w === 'number' && raw.w >= 0 && raw.w < READING_LIMITS.w.min) {
    return reject('no-breathing', `${NO_BREATHING} (respiratory rate ${raw.w} ${VITAL_UNITS.w})`, 'w', raw.w);
  }
  const missing = VITALS.filter((v) => raw[v] === undefined || raw[v] === null);
  if (missing.length > 0) {
    const first = missing[0] as Vital;
    return reject('incomplete', `no ${missing.map((v) => VITAL_NAMES[v]).join(', ')}`, first, raw[first]);
  }
  for (const v of VITALS) {
    const value = raw[v];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      return reject('non-finite', `${VITAL_NAMES[v]} ${show(value)} is not a finite number`, v, value);
    }
  }
  const unit = raw.units?.pressure ?? 'mmHg';
  if (unit !== 'mmHg' && unit !== 'kPa') {
    return reject('unknown-unit', `pressure unit ${show(unit)} is neither mmHg nor kPa`);
  }
  converted = unit === 'kPa';
  // Rounded to 0.1 mmHg as the GATT parser does (a kPa device resolves 0.1 kPa ≈ 0.75 mmHg).
  const mmHg = (v: number) => (converted ? Number((v * MMHG_PER_KPA).toFixed(1)) : v);
  const reading: Reading = {
    time: raw.time,
    x: raw.x as number,
    y: mmHg(raw.y as number),
    z: mmHg(raw.z as number),
    w: raw.w as number,
  };
  const outside = VITALS.filter(
    (v) => !(reading[v] >= READING_LIMITS[v].min && reading[v] <= READING_LIMITS[v].max),
  );
  if (outside.length > 0) {
    const first = outside[0] as Vital;
    const what = outside.map((v) => {
      const { min, max } = READING_LIMITS[v];
      const from = converted && PRESSURES.includes(v) ? ` (${raw[v]} kPa)` : '';
      return `${VITAL_NAMES[v]} ${reading[v]} ${VITAL_UNITS[v]}${from} is outside ${min}–${max}`;
    });
    const hint = converted && outside.some((v) => PRESSURES.includes(v)) ? ' (was it already in mmHg?)' : '';
    return reject('out-of-range', what.join('; ') + hint, first, reading[first]);
  }
  if (!(reading.y < reading.z)) {
    return reject(
      'diastolic-not-below-systolic',
      `diastolic ${reading.y} mmHg is not below systolic ${reading.z} mmHg`,
      'y',
      reading.y,
    );
  }
  return { reading, converted, dropped: observationsOf(raw, reading, index) };
}

/**
 * The window around position i of a series of n: i − k … i + k, shifted inward at the ends so it
 * keeps 2k + 1 readings when the series has them. Inclusive bounds.
 */
function windowOf(n: number, i: number, k: number): [number, number] {
  const lo = Math.max(0, Math.min(i - k, n - 1 - 2 * k));
  return [lo, Math.min(n - 1, lo + 2 * k)];
}

/** Median of a non-empty array (sorted in place). */
function median(values: number[]): number {
  values.sort((a, b) => a - b);
  const mid = values.length >> 1;
  return values.length % 2 === 1
    ? (values[mid] as number)
    : ((values[mid - 1] as number) + (values[mid] as number)) / 2;
}

/**
 * Hampel outliers of one series: for each i the window of 2k + 1 readings around it (shifted
 * inward at the ends), its median m and scale s = max(madScale · MAD, minScale); i is an outlier
 * when |v_i − m| > threshold · s. Medians come from the measured values, never from corrections.
 * Returns the window median of each outlier, by position.
 */
function hampel(
  values: readonly number[],
  o: ReturnType<typeof checkHampel>,
  floor: number,
): Map<number, number> {
  const n = values.length;
  const out = new Map<number, number>();
  const k = o.halfWidth;
  if (n - 1 < o.minNeighbours) return out;
  const window: number[] = [];
  for (let i = 0; i < n; i++) {
    const [lo, hi] = windowOf(n, i, k);
    if (hi - lo < o.minNeighbours) continue;
    window.length = 0;
    for (let j = lo; j <= hi; j++) window.push(values[j] as number);
    const m = median(window);
    for (let j = 0; j < window.length; j++) window[j] = Math.abs((window[j] as number) - m);
    const scale = Math.max(o.madScale * median(window), floor);
    if (Math.abs((values[i] as number) - m) > o.threshold * scale) out.set(i, m);
  }
  return out;
}

/** Raw device readings → clean readings in time order, and what happened to each. */
export function filterReadings(input: readonly RawReading[], options: FilterOptions = {}): FilterResult {
  const order = options.order ?? 'sort';
  if (order !== 'sort' && order !== 'strict') {
    throw new FilterError('BAD_OPTIONS', `order must be 'sort' or 'strict', got ${show(order)}`);
  }
  const h = options.hampel === false ? undefined : checkHampel(options.hampel ?? {});
  const report: FilterReport = {
    received: input.length,
    kept: 0,
    corrected: 0,
    rejected: emptyReasons(),
    artifacts: emptyVitals(),
    converted: 0,
    perReading: new Array<ReadingFate>(input.length),
    rejections: [],
    corrections: [],
    alerts: [],
    dropped: [],
  };
  const rejected: Rejection[] = [];

  let valid: Valid[] = [];
  for (let i = 0; i < input.length; i++) {
    const { reading, rejection, converted, dropped } = validate(input[i] as RawReading, i);
    if (converted) report.converted++;
    if (reading !== undefined) valid.push({ index: i, reading, dropped: dropped ?? [] });
    else rejected.push(rejection as Rejection);
  }

  // Time order. Sorting is stable, so of two readings at one time the earlier in the input wins.
  if (order === 'sort') valid.sort((a, b) => a.reading.time - b.reading.time);
  const ordered: Valid[] = [];
  for (const v of valid) {
    const last = ordered.at(-1);
    if (last !== undefined && v.reading.time <= last.reading.time) {
      const same = v.reading.time === last.reading.time;
      rejected.push({
        index: v.index,
        time: v.reading.time,
        reason: same ? 'duplicate-time' : 'out-of-order',
        message: same
          ? `reading ${v.index} at ${iso(v.reading.time)}: reading ${last.index} has the same time`
          : `reading ${v.index} at ${iso(v.reading.time)}: earlier than reading ${last.index} at ${iso(last.reading.time)} (order 'strict')`,
      });
    } else ordered.push(v);
  }
  valid = ordered;

  const fates = report.perReading;
  for (const v of valid) fates[v.index] = 'kept';
  for (const r of rejected.sort((a, b) => a.index - b.index)) {
    fates[r.index] = r.reason;
    report.rejected[r.reason]++;
  }
  report.rejections = rejected;
  report.alerts = rejected
    .filter((r) => r.reason === 'no-breathing')
    .map((r) => ({
      index: r.index,
      time: r.time as number,
      kind: 'no-breathing' as const,
      value: r.value as number,
      message: r.message,
    }));
  report.dropped = valid.flatMap((v) => v.dropped).sort((a, b) => a.index - b.index);

  if (h !== undefined) correctArtifacts(valid, h, report);
  report.alerts.push(...criticalCorrections(report.corrections));
  report.alerts.sort((a, b) => a.index - b.index);

  report.kept = valid.length;
  return { kept: valid.map((v) => v.reading), indices: valid.map((v) => v.index), report };
}

/**
 * NEWS2's red band per vital the wearable measures (RCP 2017, Chart 1: a score of 3): respiration
 * ≤ 8 or ≥ 25 per minute, systolic ≤ 90 or ≥ 220 mmHg, pulse ≤ 40 or ≥ 131 per minute.
 */
const RED_BAND: Partial<Record<Vital, (v: number) => boolean>> = {
  w: (v) => v <= 8 || v >= 25,
  z: (v) => v <= 90 || v >= 220,
  x: (v) => v <= 40 || v >= 131,
};

/** Corrections that took a red-band value out of the red band: never silent. */
function criticalCorrections(corrections: readonly Correction[]): FilterAlert[] {
  return corrections
    .filter((c) => RED_BAND[c.vital]?.(c.from) && !RED_BAND[c.vital]?.(c.to))
    .map((c) => ({
      index: c.index,
      time: c.time,
      kind: 'critical-corrected' as const,
      value: c.from,
      message: `reading ${c.index} at ${new Date(c.time).toISOString()}: ${VITAL_NAMES[c.vital]} ${c.from} ${VITAL_UNITS[c.vital]} looked like a sensor artifact and was replaced by ${Math.round(c.to * 10) / 10} (its neighbours' median); if it was real, check the person now`,
    }));
}

/**
 * Stage 3: replaces each Hampel outlier by its window median, in place, and records it. With
 * pairPressures, an outlier in either pressure replaces both by their window medians.
 */
function correctArtifacts(valid: readonly Valid[], h: ReturnType<typeof checkHampel>, report: FilterReport) {
  const series = Object.fromEntries(VITALS.map((v) => [v, valid.map((r) => r.reading[v])])) as Record<
    Vital,
    number[]
  >;
  const outliers = Object.fromEntries(VITALS.map((v) => [v, hampel(series[v], h, h.minScale[v])])) as Record<
    Vital,
    Map<number, number>
  >;
  const partners: Record<Vital, Map<number, number>> = {
    x: new Map(),
    y: new Map(),
    z: new Map(),
    w: new Map(),
  };
  if (h.pairPressures) {
    for (const [v, other] of [
      ['y', 'z'],
      ['z', 'y'],
    ] as const) {
      for (const i of outliers[other].keys()) {
        if (!outliers[v].has(i)) {
          const [lo, hi] = windowOf(series[v].length, i, h.halfWidth);
          partners[v].set(i, median(series[v].slice(lo, hi + 1)));
        }
      }
    }
  }
  for (const [i, item] of valid.entries()) {
    let mine: Correction[] = [];
    for (const v of VITALS) {
      const own = outliers[v].get(i);
      const to = own ?? partners[v].get(i);
      if (to === undefined) continue;
      const { time } = item.reading;
      mine.push({ index: item.index, time, vital: v, from: item.reading[v], to, paired: own === undefined });
    }
    const after = { ...item.reading };
    for (const c of mine) after[c.vital] = c.to;
    // With pairPressures both pressures are medians of the same window, and y < z in every
    // reading makes median(y) < median(z). Without it a replaced pressure may cross its measured
    // partner: then the pressures are left as measured rather than made impossible.
    if (!(after.y < after.z)) mine = mine.filter((c) => !PRESSURES.includes(c.vital));
    if (mine.length === 0) continue;
    for (const c of mine) {
      item.reading[c.vital] = c.to;
      report.artifacts[c.vital]++;
    }
    report.corrections.push(...mine);
    report.perReading[item.index] = 'corrected';
    report.corrected++;
  }
}

/**
 * One paragraph for a person: "96 received, 93 kept (2 corrected: heart rate 2), 3 rejected: …",
 * then one line per alert: "ALERT: reading 5 at …: no breathing detected: check the sensor
 * (respiratory rate 0 breaths/min).".
 */
export function formatReport(report: FilterReport): string {
  const artifacts = VITALS.filter((v) => report.artifacts[v] > 0).map(
    (v) => `${VITAL_NAMES[v]} ${report.artifacts[v]}`,
  );
  const reasons = REJECT_REASONS.filter((r) => report.rejected[r] > 0).map(
    (r) => `${REJECT_REASON_NAMES[r]} ${report.rejected[r]}`,
  );
  const rejected = REJECT_REASONS.reduce((s, r) => s + report.rejected[r], 0);
  let text = `${report.received} received, ${report.kept} kept`;
  if (report.corrected > 0) text += ` (${report.corrected} corrected: ${artifacts.join(', ')})`;
  text += `, ${rejected} rejected`;
  if (reasons.length > 0) text += `: ${reasons.join(', ')}`;
  text += '.';
  if (report.converted > 0) {
    text += ` Blood pressure of ${report.converted} reading${report.converted === 1 ? '' : 's'} converted from kPa.`;
  }
  if (report.dropped.length > 0) {
    const counts = new Map<Observation, number>();
    for (const d of report.dropped) counts.set(d.observation, (counts.get(d.observation) ?? 0) + 1);
    const list = [...counts].map(([o, n]) => `${OBSERVATION_NAMES[o]} of ${n} reading${n === 1 ? '' : 's'}`);
    text += ` Not used (not valid): ${list.join(', ')}.`;
  }
  // Each alert on its own line: never folded into a count.
  const shown = report.alerts.slice(0, MAX_ALERTS_SHOWN).map((a) => `\nALERT: ${a.message}.`);
  const more = report.alerts.length - MAX_ALERTS_SHOWN;
  if (more > 0) shown.push(`\nALERT: and ${more} more reading${more === 1 ? '' : 's'} with ${NO_BREATHING}.`);
  return text + shown.join('');
}

/** formatReport lists this many alerts one per line, then how many more. */
const MAX_ALERTS_SHOWN = 5;

// ---------------------------------------------------------------------------------------------
// The grid

export interface GridOptions {
  /** Time of slot 0, ms since the epoch (for blood-pressure: the wearer's local midnight). */
  start: number;
  /** Minutes between slots (> 0). */
  intervalMinutes: number;
  /** Number of slots (an integer ≥ 1). */
  slots: number;
  /**
   * The longest run of empty slots that is filled (an integer ≥ 0). Default 4: one hour at
   * 15 minutes. Inner runs are interpolated linearly; a run at either end holds the nearest
   * measured value. Any longer run refuses the grid.
   */
  maxGapSlots?: number;
}

export interface GridGap {
  /** First and last empty slot, inclusive. */
  from: number;
  to: number;
  /** Their slot times. */
  fromTime: number;
  toTime: number;
  /** At the start or the end of the grid (no measured neighbour on that side). */
  edge?: 'leading' | 'trailing';
}

export interface GridResult {
  /** One reading per slot, time = the slot's time. */
  readings: Reading[];
  /** How each slot got its value. */
  source: ('measured' | 'interpolated' | 'carried')[];
  /** Slots with a measured reading. */
  measured: number;
  /** Slots filled by interpolation (inner gaps) or by carrying the nearest value (edge gaps). */
  filled: number;
  interpolated: number;
  carried: number;
  /** The runs that were filled. */
  gaps: GridGap[];
  /** Readings that lost their slot to one nearer the slot time. */
  superseded: number;
  /** Readings more than half an interval before slot 0 or after the last slot. */
  outside: number;
}

const isoMinute = (t: number) => iso(t).replace(/:00\.000Z$/, 'Z');

function describeGap(g: GridGap): string {
  const n = g.to - g.from + 1;
  const slots = g.from === g.to ? `slot ${g.from}` : `slots ${g.from}–${g.to}`;
  const times =
    g.from === g.to ? isoMinute(g.fromTime) : `${isoMinute(g.fromTime)} to ${isoMinute(g.toTime)}`;
  const edge = g.edge === undefined ? '' : `, ${g.edge}`;
  return `${slots} (${times}; ${n} empty${edge})`;
}

/**
 * Puts readings on a regular grid for a batch model. A reading belongs to the nearest slot,
 * i.e. slot i takes readings in [tᵢ − interval/2, tᵢ + interval/2) (a reading exactly halfway
 * goes to the later slot); of several in one slot the nearest to tᵢ is kept (the later on a tie),
 * not their average, which would shrink the spread a batch model's SD reads. Empty runs of up to
 * maxGapSlots are filled; a longer one throws FilterError GAP_TOO_LONG naming every such run.
 */
export function toGrid(readings: readonly Reading[], options: GridOptions): GridResult {
  const { start, intervalMinutes, slots } = options;
  const maxGapSlots = options.maxGapSlots ?? 4;
  if (!Number.isSafeInteger(start)) {
    throw new FilterError('BAD_OPTIONS', `start must be an integer ms timestamp, got ${show(start)}`);
  }
  const interval = intervalMinutes * MINUTE;
  if (!(Number.isFinite(interval) && interval >= 1)) {
    throw new FilterError('BAD_OPTIONS', `intervalMinutes must be > 0, got ${show(intervalMinutes)}`);
  }
  if (!(Number.isSafeInteger(slots) && slots >= 1)) {
    throw new FilterError('BAD_OPTIONS', `slots must be an integer ≥ 1, got ${show(slots)}`);
  }
  if (!(Number.isSafeInteger(maxGapSlots) && maxGapSlots >= 0)) {
    throw new FilterError('BAD_OPTIONS', `maxGapSlots must be an integer ≥ 0, got ${show(maxGapSlots)}`);
  }
  const slotTime = (i: number) => start + i * interval;

  const chosen: (Reading | undefined)[] = new Array(slots).fill(undefined);
  let superseded = 0;
  let outside = 0;
  for (const [n, r] of readings.entries()) {
    if (!Number.isFinite(r?.time) || VITALS.some((v) => !Number.isFinite(r[v]))) {
      throw new FilterError('BAD_READING', `reading ${n} is not a valid Reading (filter readings first)`);
    }
    const i = Math.floor((r.time - start) / interval + 0.5);
    if (i < 0 || i >= slots) {
      outside++;
      continue;
    }
    const held = chosen[i];
    if (held !== undefined) {
      superseded++;
      const d = Math.abs(r.time - slotTime(i));
      const dHeld = Math.abs(held.time - slotTime(i));
      if (d > dHeld || (d === dHeld && r.time < held.time)) continue;
    }
    chosen[i] = r;
  }

  const present = chosen.flatMap((r, i) => (r === undefined ? [] : [i]));
  if (present.length === 0) {
    throw new FilterError(
      'NO_READINGS',
      `no reading falls on the grid of ${slots} slots from ${isoMinute(start)} to ${isoMinute(slotTime(slots - 1))}` +
        ` (${readings.length} given, ${outside} outside)`,
      [{ from: 0, to: slots - 1, fromTime: start, toTime: slotTime(slots - 1) }],
    );
  }

  // Runs of empty slots, each with its measured neighbours (if any).
  const gaps: GridGap[] = [];
  const gap = (from: number, to: number, edge?: GridGap['edge']): GridGap => ({
    from,
    to,
    fromTime: slotTime(from),
    toTime: slotTime(to),
    ...(edge === undefined ? {} : { edge }),
  });
  const first = present[0] as number;
  const last = present.at(-1) as number;
  if (first > 0) gaps.push(gap(0, first - 1, 'leading'));
  for (let p = 1; p < present.length; p++) {
    const a = present[p - 1] as number;
    const b = present[p] as number;
    if (b - a > 1) gaps.push(gap(a + 1, b - 1));
  }
  if (last < slots - 1) gaps.push(gap(last + 1, slots - 1, 'trailing'));
  const long = gaps.filter((g) => g.to - g.from + 1 > maxGapSlots);
  if (long.length > 0) {
    const shown = long.slice(0, 5).map(describeGap).join('; ');
    const more = long.length > 5 ? `; and ${long.length - 5} more` : '';
    throw new FilterError(
      'GAP_TOO_LONG',
      `${long.length} gap${long.length === 1 ? '' : 's'} longer than maxGapSlots ${maxGapSlots} ` +
        `(${maxGapSlots * intervalMinutes} min): ${shown}${more}`,
      long,
    );
  }

  const out: Reading[] = [];
  const source: GridResult['source'] = [];
  let interpolated = 0;
  let carried = 0;
  let p = 0; // index into present of the next measured slot at or after i
  for (let i = 0; i < slots; i++) {
    while (p < present.length && (present[p] as number) < i) p++;
    const r = chosen[i];
    if (r !== undefined) {
      out.push({ time: slotTime(i), x: r.x, y: r.y, z: r.z, w: r.w });
      source.push('measured');
      continue;
    }
    const before = p > 0 ? chosen[present[p - 1] as number] : undefined;
    const after = p < present.length ? chosen[present[p] as number] : undefined;
    const cell: Reading = { time: slotTime(i), x: 0, y: 0, z: 0, w: 0 };
    if (before !== undefined && after !== undefined) {
      const a = present[p - 1] as number;
      const b = present[p] as number;
      const u = (i - a) / (b - a);
      for (const v of VITALS) cell[v] = before[v] + u * (after[v] - before[v]);
      source.push('interpolated');
      interpolated++;
    } else {
      const near = (before ?? after) as Reading;
      for (const v of VITALS) cell[v] = near[v];
      source.push('carried');
      carried++;
    }
    out.push(cell);
  }
  return {
    readings: out,
    source,
    measured: present.length,
    filled: interpolated + carried,
    interpolated,
    carried,
    gaps,
    superseded,
    outside,
  };
}
