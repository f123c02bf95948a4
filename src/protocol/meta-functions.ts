/**
 * The meta-function registry (paper §4.1: F_i(x, y, z, w)): named pure functions of the base
 * vitals that the client computes in plaintext before encryption, so the encrypted model only
 * has to add and multiply. Each declares its unit and the range of its output given the vitals'
 * accepted ranges; the model compiler uses those ranges to choose scales and bound errors.
 */
import type { Static } from '@sinclair/typebox';
import { ProtocolError } from './errors.ts';
import type { ElementSpecSchema } from './schema.ts';
import { VITALS, type Vital, type VitalReading } from './vitals.ts';

/** Values a user enters once (not measured by the wearable), with units and accepted ranges. */
export const PROFILE_FIELDS = Object.freeze({
  age: { name: 'age', unit: 'years', min: 18, max: 110 },
  bmi: { name: 'body-mass index', unit: 'kg/m²', min: 12, max: 70 },
  cholesterol: { name: 'total cholesterol', unit: 'mg/dL', min: 70, max: 500 },
  smoker: { name: 'current smoker', unit: '0 or 1', min: 0, max: 1 },
});
export type ProfileField = keyof typeof PROFILE_FIELDS;
export type Profile = Partial<Record<ProfileField, number>>;

/** One tuple element as a template declares it (JSON data, shared by server and client). */
export type ElementSpec = Static<typeof ElementSpecSchema>;

export interface MetaContext {
  reading: VitalReading;
  /** Every reading of the upload (for window statistics); contains `reading`. */
  batch: readonly VitalReading[];
  profile: Profile;
}

interface MetaFunction {
  readonly description: string;
  unit(spec: ElementSpec): string;
  /** Output range given the vitals' (and profile's) accepted ranges. */
  range(spec: ElementSpec): [number, number];
  compute(spec: ElementSpec, context: MetaContext): number;
  /** Checks the arguments; throws a ProtocolError naming the element. */
  check(spec: ElementSpec): void;
}

function fail(spec: ElementSpec, message: string): never {
  throw new ProtocolError('BAD_TEMPLATE', `element "${spec.name}" (${spec.fn}): ${message}`);
}

function vitalOf(spec: ElementSpec): Vital {
  if (typeof spec.of !== 'string' || !(spec.of in VITALS))
    fail(spec, `needs one vital in "of" (x, y, z or w)`);
  return spec.of;
}

function rangeOf(v: Vital): [number, number] {
  return [VITALS[v].min, VITALS[v].max];
}

const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;

export const META_FUNCTIONS = Object.freeze({
  vital: {
    description: 'a base vital as measured',
    unit: (s) => VITALS[vitalOf(s)].unit,
    range: (s) => rangeOf(vitalOf(s)),
    compute: (s, c) => c.reading[vitalOf(s)],
    check: (s) => void vitalOf(s),
  },
  power: {
    description: 'a base vital to an integer power (moments, polynomial features)',
    unit: (s) => `(${VITALS[vitalOf(s)].unit})^${s.k}`,
    range: (s) => {
      const [lo, hi] = rangeOf(vitalOf(s));
      return [lo ** (s.k ?? 1), hi ** (s.k ?? 1)];
    },
    compute: (s, c) => c.reading[vitalOf(s)] ** (s.k ?? 1),
    check: (s) => {
      vitalOf(s);
      if (!Number.isInteger(s.k) || (s.k ?? 0) < 2 || (s.k ?? 0) > 4)
        fail(s, 'k must be an integer from 2 to 4');
    },
  },
  product: {
    description: 'the product of two base vitals (cross terms)',
    unit: (s) => (Array.isArray(s.of) ? `${VITALS[s.of[0]].unit}·${VITALS[s.of[1]].unit}` : ''),
    range: (s) => {
      const [a, b] = s.of as [Vital, Vital];
      return [VITALS[a].min * VITALS[b].min, VITALS[a].max * VITALS[b].max];
    },
    compute: (s, c) => {
      const [a, b] = s.of as [Vital, Vital];
      return c.reading[a] * c.reading[b];
    },
    check: (s) => {
      if (!Array.isArray(s.of) || s.of.length !== 2 || !s.of.every((v) => v in VITALS)) {
        fail(s, 'needs two vitals in "of"');
      }
    },
  },
  deviation: {
    description: 'a scaled deviation ((v − center)/spread)^k, e.g. for variances without huge squares',
    unit: (s) => `(${VITALS[vitalOf(s)].unit}/${s.spread})^${s.k ?? 1}`,
    range: (s) => {
      const [lo, hi] = rangeOf(vitalOf(s));
      const c = s.center ?? 0;
      const d = Math.max(Math.abs(lo - c), Math.abs(hi - c)) / (s.spread ?? 1);
      const k = s.k ?? 1;
      return k % 2 === 0 ? [0, d ** k] : [-(d ** k), d ** k];
    },
    compute: (s, c) => ((c.reading[vitalOf(s)] - (s.center ?? 0)) / (s.spread ?? 1)) ** (s.k ?? 1),
    check: (s) => {
      vitalOf(s);
      if (typeof s.center !== 'number' || typeof s.spread !== 'number' || !(s.spread > 0)) {
        fail(s, 'needs a numeric "center" and a positive "spread"');
      }
      if (s.k !== undefined && (!Number.isInteger(s.k) || s.k < 1 || s.k > 4)) fail(s, 'k must be 1 to 4');
    },
  },
  pulsePressure: {
    description: 'pulse pressure z − y',
    unit: () => 'mmHg',
    range: () => [0, VITALS.z.max - VITALS.y.min],
    compute: (_, c) => c.reading.z - c.reading.y,
    check: () => {},
  },
  meanArterialPressure: {
    description: 'mean arterial pressure (z + 2y)/3',
    unit: () => 'mmHg',
    range: () => [(VITALS.z.min + 2 * VITALS.y.min) / 3, (VITALS.z.max + 2 * VITALS.y.max) / 3],
    compute: (_, c) => (c.reading.z + 2 * c.reading.y) / 3,
    check: () => {},
  },
  shockIndex: {
    description: 'shock index x/z (heart rate over systolic pressure)',
    unit: () => 'beats/min per mmHg',
    range: () => [VITALS.x.min / VITALS.z.max, VITALS.x.max / VITALS.z.min],
    compute: (_, c) => c.reading.x / c.reading.z,
    check: () => {},
  },
  band: {
    description: 'band indicator 1[from ≤ v < to]',
    unit: () => '0 or 1',
    range: () => [0, 1],
    compute: (s, c) => {
      const v = c.reading[vitalOf(s)];
      return (s.from == null || v >= s.from) && (s.to == null || v < s.to) ? 1 : 0;
    },
    check: (s) => {
      vitalOf(s);
      if (s.from == null && s.to == null) fail(s, 'a band needs at least one edge');
      if (s.from != null && s.to != null && !(s.from < s.to)) fail(s, `empty band [${s.from}, ${s.to})`);
    },
  },
  profile: {
    description: 'a value the user entered once (age, BMI, cholesterol, smoking)',
    unit: (s) => PROFILE_FIELDS[s.field as ProfileField].unit,
    range: (s) => {
      const f = PROFILE_FIELDS[s.field as ProfileField];
      return [f.min, f.max];
    },
    compute: (s, c) => {
      const value = c.profile[s.field as ProfileField];
      if (value === undefined)
        throw new ProtocolError('BAD_FIELD', `profile.${s.field} is required by this template`);
      return value;
    },
    check: (s) => {
      if (!s.field || !(s.field in PROFILE_FIELDS)) {
        fail(s, `needs "field", one of ${Object.keys(PROFILE_FIELDS).join(', ')}`);
      }
    },
  },
  batchMean: {
    description: 'mean of a vital over the readings of the upload (window statistic)',
    unit: (s) => VITALS[vitalOf(s)].unit,
    range: (s) => rangeOf(vitalOf(s)),
    compute: (s, c) => mean(c.batch.map((r) => r[vitalOf(s)])),
    check: (s) => void vitalOf(s),
  },
  batchSd: {
    description: 'standard deviation of a vital over the readings of the upload (window statistic)',
    unit: (s) => VITALS[vitalOf(s)].unit,
    range: (s) => {
      const [lo, hi] = rangeOf(vitalOf(s));
      return [0, (hi - lo) / 2];
    },
    compute: (s, c) => {
      const values = c.batch.map((r) => r[vitalOf(s)]);
      const m = mean(values);
      return Math.sqrt(mean(values.map((v) => (v - m) ** 2)));
    },
    check: (s) => void vitalOf(s),
  },
} satisfies Record<string, MetaFunction>);

export type MetaFunctionId = keyof typeof META_FUNCTIONS;

export function metaFunction(spec: ElementSpec): MetaFunction {
  const fn = (META_FUNCTIONS as Record<string, MetaFunction | undefined>)[spec.fn];
  if (!fn) {
    throw new ProtocolError(
      'UNKNOWN_META_FUNCTION',
      `element "${spec.name}": unknown meta-function "${spec.fn}"; known: ${Object.keys(META_FUNCTIONS).join(', ')}`,
    );
  }
  return fn;
}

/** Checks a reading's vitals against their accepted ranges, naming the first one outside. */
export function checkReading(reading: VitalReading, index = 0): void {
  for (const key of Object.keys(VITALS) as Vital[]) {
    const v = reading[key];
    const spec = VITALS[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new ProtocolError('OUT_OF_RANGE', `reading ${index}: ${key} (${spec.name}) is not a number`);
    }
    if (v < spec.min || v > spec.max) {
      throw new ProtocolError(
        'OUT_OF_RANGE',
        `reading ${index}: ${key} (${spec.name}) = ${v} ${spec.unit} is outside [${spec.min}, ${spec.max}]`,
      );
    }
  }
}

export function checkProfile(profile: Profile, fields: readonly ProfileField[]): void {
  for (const field of fields) {
    const v = profile[field];
    const spec = PROFILE_FIELDS[field];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new ProtocolError('BAD_FIELD', `profile.${field} (${spec.name}) is required`);
    }
    if (v < spec.min || v > spec.max) {
      throw new ProtocolError(
        'OUT_OF_RANGE',
        `profile.${field} (${spec.name}) = ${v} ${spec.unit} is outside [${spec.min}, ${spec.max}]`,
      );
    }
  }
}
