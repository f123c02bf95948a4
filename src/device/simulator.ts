/**
 * A seeded, reproducible wearable: day/night physiology per persona, within-person fluctuation,
 * device measurement error, artifacts and dropouts. Same options and seed → the same series, byte
 * for byte; the model and every parameter's source are in docs/simulator.md.
 */
import { sleepSchedule } from './circadian.ts';
import {
  ARTIFACT_SIZE,
  type ArtifactRates,
  DEFAULT_ARTIFACTS,
  MEASUREMENT,
  PERSONA_NAMES,
  type PersonaName,
  PHYSIOLOGY,
} from './personas.ts';
import { drawProfile, type PersonProfile } from './profile.ts';
import { deriveSeed, Rng, STREAM } from './random.ts';
import { READING_LIMITS, type SimulatedReading, type Vital, type Vitals } from './reading.ts';

export interface SimulationOptions {
  /** First scheduled reading, ms since the epoch (UTC). Default 2024-01-01T00:00:00Z (never "now": reproducible). */
  start?: number;
  /** Length of the series in days (> 0). */
  days: number;
  /** Minutes between scheduled readings. Default 15. */
  intervalMinutes?: number;
  /** The wearer's local time minus UTC, minutes (sleep follows the local clock). Default 0. */
  utcOffsetMinutes?: number;
  /** Artifact and dropout rates; unspecified ones take DEFAULT_ARTIFACTS. */
  artifacts?: Partial<ArtifactRates>;
}

export interface PersonOptions extends SimulationOptions {
  persona: PersonaName;
  /** Any safe integer. */
  seed: number;
}

export interface CohortOptions extends SimulationOptions {
  seed: number;
  /** Number of people (≥ 1). */
  people: number;
  /** Personas assigned in turn (person i gets personas[i mod length]). Default: all of them. */
  personas?: readonly PersonaName[];
}

export interface CohortMember {
  /** "person-001", … */
  personId: string;
  persona: PersonaName;
  /** The seed simulatePerson was given for this member: reproduces it alone. */
  seed: number;
  profile: PersonProfile;
  readings: SimulatedReading[];
}

export const DEFAULT_START = Date.UTC(2024, 0, 1);
const MAX_SLOTS = 5_000_000; // beyond this a caller almost surely mistyped days or interval
const VITALS: readonly Vital[] = ['x', 'y', 'z', 'w'];

interface Plan {
  start: number;
  intervalMs: number;
  slots: number;
  utcOffsetMinutes: number;
  rates: ArtifactRates;
}

function plan(options: SimulationOptions): Plan {
  const start = options.start ?? DEFAULT_START;
  const interval = options.intervalMinutes ?? 15;
  const utcOffsetMinutes = options.utcOffsetMinutes ?? 0;
  if (!Number.isSafeInteger(start))
    throw new RangeError(`start must be an integer ms timestamp, got ${start}`);
  if (!(Number.isFinite(options.days) && options.days > 0)) {
    throw new RangeError(`days must be > 0, got ${options.days}`);
  }
  const intervalMs = Math.round(interval * 60_000);
  if (!(Number.isFinite(interval) && intervalMs >= 1000)) {
    throw new RangeError(`intervalMinutes must be at least 1 second, got ${interval}`);
  }
  if (!(Number.isFinite(utcOffsetMinutes) && Math.abs(utcOffsetMinutes) <= 14 * 60)) {
    throw new RangeError(`utcOffsetMinutes must be within ±840, got ${utcOffsetMinutes}`);
  }
  const slots = Math.floor((options.days * 86_400_000) / intervalMs);
  if (slots < 1) throw new RangeError(`days (${options.days}) is shorter than one interval`);
  if (slots > MAX_SLOTS) throw new RangeError(`${slots} readings requested; at most ${MAX_SLOTS}`);
  const rates: ArtifactRates = { ...DEFAULT_ARTIFACTS, ...options.artifacts };
  checkRates(rates);
  return { start, intervalMs, slots, utcOffsetMinutes, rates };
}

function checkRates(r: ArtifactRates): void {
  for (const k of ['motion', 'cuff', 'dropout'] as const) {
    if (!(r[k] >= 0 && r[k] <= 1)) throw new RangeError(`artifacts.${k} must be in [0, 1], got ${r[k]}`);
  }
  if (r.motion + r.cuff > 1) throw new RangeError('artifacts.motion + artifacts.cuff must be at most 1');
  if (!(r.meanGapReadings >= 1)) {
    throw new RangeError(`artifacts.meanGapReadings must be ≥ 1, got ${r.meanGapReadings}`);
  }
  if (!(r.dropout < 1) || r.dropout / (1 - r.dropout) / r.meanGapReadings > 1) {
    throw new RangeError('artifacts.dropout is too high for artifacts.meanGapReadings');
  }
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const limit = (k: Vital, v: number) => clamp(v, READING_LIMITS[k].min, READING_LIMITS[k].max);
const tenth = (v: number) => Math.round(v * 10) / 10;
const smoothstep = (u: number) => {
  const c = clamp(u, 0, 1);
  return c * c * (3 - 2 * c);
};

/** One person's series. Dropped readings are absent; the others carry their ground truth. */
export function simulatePerson(options: PersonOptions): SimulatedReading[] {
  const p = plan(options);
  const profile = drawProfile(options.persona, options.seed);
  return series(profile, options.seed, p);
}

/** Several people; person i's series does not depend on how many others there are. */
export function simulateCohort(options: CohortOptions): CohortMember[] {
  const p = plan(options);
  const personas = options.personas ?? PERSONA_NAMES;
  if (!(Number.isSafeInteger(options.people) && options.people >= 1)) {
    throw new RangeError(`people must be a positive integer, got ${options.people}`);
  }
  if (personas.length === 0) throw new RangeError('personas must not be empty');
  const width = Math.max(3, String(options.people).length);
  const members: CohortMember[] = [];
  for (let i = 0; i < options.people; i++) {
    const persona = personas[i % personas.length] as PersonaName;
    const seed = deriveSeed(options.seed, STREAM.cohortMember, i);
    const profile = drawProfile(persona, seed);
    members.push({
      personId: `person-${String(i + 1).padStart(width, '0')}`,
      persona,
      seed,
      profile,
      readings: series(profile, seed, p),
    });
  }
  return members;
}

function series(profile: PersonProfile, seed: number, p: Plan): SimulatedReading[] {
  const end = p.start + (p.slots - 1) * p.intervalMs;
  const sleep = sleepSchedule(profile, seed, p.start, end, p.utcOffsetMinutes);
  const physiology = new Rng(deriveSeed(seed, STREAM.physiology));
  const measurement = new Rng(deriveSeed(seed, STREAM.measurement));
  const artifacts = new Rng(deriveSeed(seed, STREAM.artifact));
  const dropouts = new Rng(deriveSeed(seed, STREAM.dropout));

  // AR(1) fluctuation per vital, unit variance: e ← φe + √(1−φ²)·innovation.
  const phi: Vitals = { x: 0, y: 0, z: 0, w: 0 };
  for (const k of VITALS) phi[k] = Math.exp(-p.intervalMs / 60_000 / PHYSIOLOGY.tauMinutes[k]);
  const rho = PHYSIOLOGY.sbpDbpCorrelation;
  const innovations = (): Vitals => {
    const z = physiology.normal();
    const y = rho * z + Math.sqrt(1 - rho * rho) * physiology.normal();
    return { x: physiology.normal(), y, z, w: physiology.normal() };
  };
  const e = innovations(); // start in the stationary distribution
  const span = end - p.start;
  const d = profile.deterioration;
  const onset = d === undefined ? 0 : p.start + d.onsetFraction * span;
  const complete = d === undefined ? 0 : p.start + d.completeFraction * span;

  // Dropouts: a two-state Markov chain whose long-run missing fraction is `dropout` and whose
  // runs of missing readings last `meanGapReadings` on average.
  const { rates } = p;
  const recover = 1 / rates.meanGapReadings;
  const fail = rates.dropout === 0 ? 0 : (rates.dropout / (1 - rates.dropout)) * recover;
  let missing = dropouts.uniform() < rates.dropout;

  const out: SimulatedReading[] = [];
  for (let i = 0; i < p.slots; i++) {
    const time = p.start + i * p.intervalMs;
    if (i > 0) {
      const n = innovations();
      for (const k of VITALS) e[k] = phi[k] * e[k] + Math.sqrt(1 - phi[k] * phi[k]) * n[k];
      missing = dropouts.uniform() < (missing ? 1 - recover : fail);
    }
    const s = sleep.sleepiness(time);
    // 0 before onset … 1 once complete (a one-reading series has no time to deteriorate).
    const progress =
      d === undefined || complete <= onset ? 0 : smoothstep((time - onset) / (complete - onset));
    const truth: Vitals = { x: 0, y: 0, z: 0, w: 0 };
    for (const k of VITALS) {
      const awake =
        d === undefined ? profile.awake[k] : profile.awake[k] + progress * (d.end[k] - profile.awake[k]);
      // The day/night rhythm fades as a deterioration takes hold.
      const level = awake * (1 - profile.dip[k] * (1 - progress) * s);
      truth[k] = tenth(limit(k, level * (1 + PHYSIOLOGY.withinCv[k] * e[k])));
    }
    // Draw every random number of a slot even when unused, so that one rate never shifts
    // another stream (a dropped reading still consumes its measurement draws).
    const errors = {
      x: MEASUREMENT.hrErrorSd * measurement.normal(),
      y: profile.cuffBias.y + MEASUREMENT.cuffErrorSd * measurement.normal(),
      z: profile.cuffBias.z + MEASUREMENT.cuffErrorSd * measurement.normal(),
      w: MEASUREMENT.rrErrorSd * measurement.normal(),
    };
    const kind = artifacts.uniform();
    const a1 = artifacts.uniform();
    const a2 = artifacts.uniform();
    const a3 = artifacts.uniform();
    if (missing) continue;

    let x = truth.x + errors.x;
    let y = truth.y + errors.y;
    let z = truth.z + errors.z;
    const w = truth.w + errors.w;
    const reading: SimulatedReading = { time, x: 0, y: 0, z: 0, w: 0, truth, asleep: s > 0.5 };
    if (kind < rates.motion) {
      const size = ARTIFACT_SIZE.motionHr;
      x += size.lo + (size.hi - size.lo) * a1;
      reading.artifact = 'motion';
    } else if (kind < rates.motion + rates.cuff) {
      const sbp = ARTIFACT_SIZE.cuffSbp;
      const dbp = ARTIFACT_SIZE.cuffDbp;
      // a3 picks one of the four sign pairs (−−, −+, ++, +−) with equal chance.
      z += (a3 < 0.5 ? -1 : 1) * (sbp.lo + (sbp.hi - sbp.lo) * a1);
      y += (a3 < 0.25 || a3 >= 0.75 ? -1 : 1) * (dbp.lo + (dbp.hi - dbp.lo) * a2);
      reading.artifact = 'cuff';
    }
    reading.x = limit('x', Math.round(x));
    reading.z = limit('z', Math.round(z));
    // An oscillometric cuff never reports diastolic at or above systolic.
    reading.y = limit('y', Math.min(Math.round(y), reading.z - ARTIFACT_SIZE.minPulsePressure));
    reading.w = limit('w', Math.round(w));
    out.push(reading);
  }
  return out;
}
