/**
 * What a wearable hands the client: one timed reading of the four base vitals, named with the
 * paper's symbols (§4.1: x, y, z, w) so the code can be held against it. Structurally the same as
 * `VitalReading` in src/protocol/vitals.ts; device/ imports nothing of ours, so it is declared here.
 */

/** The four base vitals. */
export interface Vitals {
  /** Heart rate, beats/min. */
  x: number;
  /** Diastolic blood pressure, mmHg. */
  y: number;
  /** Systolic blood pressure, mmHg. */
  z: number;
  /** Respiratory rate, breaths/min. */
  w: number;
}

export type Vital = keyof Vitals;

export const VITAL_NAMES: Readonly<Record<Vital, string>> = Object.freeze({
  x: 'heart rate',
  y: 'diastolic blood pressure',
  z: 'systolic blood pressure',
  w: 'respiratory rate',
});

export const VITAL_UNITS: Readonly<Record<Vital, string>> = Object.freeze({
  x: 'beats/min',
  y: 'mmHg',
  z: 'mmHg',
  w: 'breaths/min',
});

/**
 * Level of consciousness on the ACVPU scale (RCP NEWS2 2017, Chart 1 row "Consciousness" and its
 * text on "new confusion"): Alert, new Confusion, responds to Voice, responds to Pain, Unresponsive.
 */
export const CONSCIOUSNESS_LEVELS = Object.freeze([
  'alert',
  'confusion',
  'voice',
  'pain',
  'unresponsive',
] as const);
export type Consciousness = (typeof CONSCIOUSNESS_LEVELS)[number];

/** The ACVPU letter of each level, as charts and CSV files write it. */
export const ACVPU_LETTERS: Readonly<Record<Consciousness, string>> = Object.freeze({
  alert: 'A',
  confusion: 'C',
  voice: 'V',
  pain: 'P',
  unresponsive: 'U',
});

/**
 * What NEWS2 reads beside the four vitals: measured by other devices (a pulse oximeter, a
 * thermometer) or entered by the person. Every one is optional. They stay on the device in the
 * clear: they are never encrypted or sent, and the client scores them itself (docs/models.md).
 */
export interface Observations {
  /** Peripheral oxygen saturation, % (a pulse oximeter). */
  spo2?: number;
  /** Body temperature, °C (a thermometer reporting °F is converted by its parser). */
  temperature?: number;
  /** Breathing supplemental oxygen (true) or air (false), as entered. */
  oxygen?: boolean;
  /** Level of consciousness, as entered. */
  consciousness?: Consciousness;
}

export type Observation = keyof Observations;

export const OBSERVATIONS: readonly Observation[] = Object.freeze([
  'spo2',
  'temperature',
  'oxygen',
  'consciousness',
]);

export const OBSERVATION_NAMES: Readonly<Record<Observation, string>> = Object.freeze({
  spo2: 'SpO2',
  temperature: 'temperature',
  oxygen: 'supplemental oxygen',
  consciousness: 'consciousness',
});

/**
 * Values a device can report for the numeric observations; anything outside is a sensor fault
 * (or another unit) and is not used. Inclusive. These are plausibility bounds chosen here, not
 * clinical thresholds: a saturation is a percentage (0 means no signal), and a body temperature
 * below 25 °C or above 45 °C from a wearable is far likelier a probe off the skin than a person.
 */
export const OBSERVATION_LIMITS: Readonly<
  Record<'spo2' | 'temperature', { readonly min: number; readonly max: number; readonly unit: string }>
> = Object.freeze({
  spo2: Object.freeze({ min: 1, max: 100, unit: '%' }),
  temperature: Object.freeze({ min: 25, max: 45, unit: '°C' }),
});

/** One reading as a device reports it, with whatever observations came with it. */
export interface Reading extends Vitals, Observations {
  /** Milliseconds since the Unix epoch (UTC), an integer. */
  time: number;
}

/** How a reading was corrupted: a heart-rate spike from movement, or a bad cuff measurement. */
export type ArtifactKind = 'motion' | 'cuff';

/** A simulated reading carrying the ground truth that tests compare against. */
export interface SimulatedReading extends Reading {
  /** The physiological values before measurement error, artifact and rounding (same units). */
  truth: Vitals;
  /** Whether the person was asleep (the simulator's sleep state, > 50% through the transition). */
  asleep: boolean;
  /** Present only when the measured values were corrupted. */
  artifact?: ArtifactKind;
}

/**
 * Values a device can report; anything outside is a sensor fault, not a patient. The same bounds
 * as the protocol's VITALS (src/protocol/vitals.ts), so a series that replays here is accepted
 * there. Inclusive.
 */
export const READING_LIMITS: Readonly<Record<Vital, { readonly min: number; readonly max: number }>> =
  Object.freeze({
    x: Object.freeze({ min: 20, max: 300 }),
    y: Object.freeze({ min: 20, max: 200 }),
    z: Object.freeze({ min: 40, max: 300 }),
    w: Object.freeze({ min: 2, max: 80 }),
  });
