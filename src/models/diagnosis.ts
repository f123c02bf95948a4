/**
 * Diagnoses and the band arithmetic reference criteria share. A criterion is data (half-open
 * bands [from, to) on a real value) plus a pure function; the values come from CKKS decryption
 * and carry an error bound, so a value near a band edge may belong to either side. Such a
 * diagnosis is `borderline`: it names every candidate instead of guessing one.
 */

/** Severity, in increasing order; a display scale shared by all criteria, not a clinical risk score. */
export const LEVELS = ['normal', 'low', 'low-medium', 'medium', 'high', 'critical'] as const;
export type Level = (typeof LEVELS)[number];

export interface Diagnosis {
  /** The model (or criteria set) that produced it. */
  model: string;
  /**
   * Categorical result; for a borderline diagnosis "borderline: A or B", and for early-warning
   * prefixed with its scope ("NEWS2: …" or "partial NEWS2 (n of 7 parameters): …"). Never
   * contains measured numbers.
   */
  label: string;
  /** The most severe candidate when borderline, so anything keyed on level errs towards caution. */
  level: Level;
  borderline: boolean;
  /** Candidate labels (least severe first); present when borderline. */
  candidates?: readonly string[];
  /** What it means against its guideline, when that says more than `level`; absent when borderline. */
  interpretation?: Interpretation;
  /** Human-readable reasons, each citing the rule it applied. */
  findings: string[];
}

/** A half-open band [from, to) of a real value; from may be −∞ and to +∞. */
export interface Band {
  readonly from: number;
  readonly to: number;
}

export interface Classification<B extends Band> {
  /** The band containing the value as measured. */
  band: B;
  /** Every band the true value may lie in, in table order; [band] unless borderline. */
  candidates: readonly B[];
  borderline: boolean;
}

/**
 * Error bounds come from Math.max over measured errors; over no errors (an exact evaluation)
 * that is −∞, so any negative bound means "exact". NaN is a caller's bug.
 */
export function normaliseErrorBound(errorBound: number): number {
  if (Number.isNaN(errorBound)) throw new RangeError('error bound is NaN');
  return Math.max(0, errorBound);
}

/** Bands must be contiguous, in increasing order and non-empty, or classification is ambiguous. */
function checkBands(bands: readonly Band[]): void {
  if (bands.length === 0) throw new RangeError('no bands');
  bands.forEach((b, i) => {
    if (!(b.from < b.to)) throw new RangeError(`band ${i} [${b.from}, ${b.to}) is empty`);
    const next = bands[i + 1];
    if (next && next.from !== b.to) throw new RangeError(`bands ${i} and ${i + 1} are not contiguous`);
  });
}

/**
 * The bands a true value in the closed interval [low, high] may lie in, with `value` (the
 * measured one, inside the interval) deciding the band as measured. Used directly when the
 * uncertainty is not symmetric (e.g. a ratio of two uncertain means).
 */
export function classifyInterval<B extends Band>(
  value: number,
  interval: readonly [number, number],
  bands: readonly B[],
): Classification<B> {
  checkBands(bands);
  const [low, high] = interval;
  if (!Number.isFinite(value)) throw new RangeError(`value ${value} is not a finite number`);
  if (!(low <= value && value <= high)) throw new RangeError(`value ${value} lies outside [${low}, ${high}]`);
  const band = bands.find((b) => b.from <= value && value < b.to);
  if (!band) throw new RangeError(`value ${value} lies in no band`);
  // Half-open: the true value reaches band b when some t ∈ [low, high] has from ≤ t < to.
  const candidates = bands.filter((b) => b.from <= high && low < b.to);
  return { band, candidates, borderline: candidates.length > 1 };
}

/**
 * Maps a value to its half-open band; borderline when the true value, within ±errorBound of
 * the measured one, could be on the other side of an edge: the upper edge `to` is reachable
 * when to − value ≤ errorBound, the lower edge when value − from < errorBound.
 */
export function classify<B extends Band>(
  value: number,
  bands: readonly B[],
  errorBound: number,
): Classification<B> {
  const e = normaliseErrorBound(errorBound);
  return classifyInterval(value, [value - e, value + e], bands);
}

/** Every result of `f` over one pick from each list (a cartesian product), duplicates kept. */
export function everyOutcome<T, R>(choices: readonly (readonly T[])[], f: (picked: readonly T[]) => R): R[] {
  let picks: T[][] = [[]];
  for (const options of choices) picks = picks.flatMap((p) => options.map((o) => [...p, o]));
  return picks.map(f);
}

export const severity = (level: Level): number => LEVELS.indexOf(level);

export const mostSevere = (levels: readonly Level[]): Level =>
  levels.reduce<Level>((a, b) => (severity(b) > severity(a) ? b : a), 'normal');

/**
 * What a result means against its guideline, for clinical records (FHIR's N, A, H, L, AA): set by
 * criteria whose guideline says more than the display level does (NEWS2's 0 is "continue routine
 * monitoring" though Chart 2 calls 0–4 low risk; an ATP III risk above 10% is a high value).
 */
export type Interpretation = 'normal' | 'abnormal' | 'high' | 'low' | 'critical';

export interface Outcome {
  label: string;
  level: Level;
  interpretation?: Interpretation;
}

/**
 * A diagnosis from its possible outcomes: one distinct label → that label; several →
 * "borderline: A or B" (least severe first). `uncertain` forces borderline even when the
 * outcomes agree (an input that should be exact is not, e.g. a non-integral score).
 */
export function conclude(
  model: string,
  outcomes: readonly Outcome[],
  findings: string[],
  uncertain = false,
): Diagnosis {
  if (outcomes.length === 0) throw new RangeError('no outcome');
  const distinct = [...new Map(outcomes.map((o) => [o.label, o])).values()].sort(
    (a, b) => severity(a.level) - severity(b.level),
  );
  const level = mostSevere(distinct.map((o) => o.level));
  const labels = distinct.map((o) => o.label);
  if (distinct.length === 1 && !uncertain) {
    const meaning = distinct[0]?.interpretation;
    return {
      model,
      label: labels[0] as string,
      level,
      borderline: false,
      ...(meaning ? { interpretation: meaning } : {}),
      findings,
    };
  }
  return {
    model,
    label: `borderline: ${labels.join(' or ')}`,
    level,
    borderline: true,
    candidates: labels,
    findings,
  };
}

/**
 * Several criteria read together (e.g. ambulatory thresholds and dipping): labels joined in
 * order, the most severe level, borderline if any part is, candidates the combinations of the
 * parts' candidates.
 */
export function mergeDiagnoses(model: string, parts: readonly Diagnosis[]): Diagnosis {
  if (parts.length === 0) throw new RangeError('nothing to merge');
  const borderline = parts.some((d) => d.borderline);
  const merged: Diagnosis = {
    model,
    label: parts.map((d) => d.label).join('; '),
    level: mostSevere(parts.map((d) => d.level)),
    borderline,
    findings: parts.flatMap((d) => d.findings),
  };
  if (borderline) {
    merged.candidates = everyOutcome(
      parts.map((d) => d.candidates ?? [d.label]),
      (labels) => labels.join('; '),
    );
  }
  return merged;
}

/** Freezes a table of bands (rows and list) so criteria data cannot drift at run time. */
export const freezeBands = <B extends Band>(rows: readonly B[]): readonly B[] =>
  Object.freeze(rows.map((r) => Object.freeze({ ...r })));

/** A number as findings print it: at most 4 decimals, no trailing zeros. */
export const fmt = (v: number): string =>
  Number.isFinite(v) ? String(Number.parseFloat(v.toFixed(4))) : String(v);

/** A band as findings print it, e.g. "[120, 130)", "[−∞, 9)". */
export const formatBand = (b: Band): string =>
  `[${b.from === -Infinity ? '−∞' : fmt(b.from)}, ${b.to === Infinity ? '∞' : fmt(b.to)})`;

/**
 * A value compared with a published threshold, kept to 9 decimals: float64 rounding (10⁻¹² here)
 * must not move a mean of exactly 130 mmHg, or a dip of exactly 10%, to the other side of the
 * threshold, and no two clinically different values are within 10⁻⁹ of each other.
 */
export function exactValue(v: number): number {
  return Math.round(v * 1e9) / 1e9;
}
