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

/** One reading as a device reports it. */
export interface Reading extends Vitals {
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
