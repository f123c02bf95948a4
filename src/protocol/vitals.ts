/**
 * The base vitals of a tuple (paper §4.1: x, y, z, w) with units and the physiological range a
 * reading must fall in before it is encrypted. A value outside is a sensor fault, not a patient,
 * and is refused by name rather than encrypted into a model that would extrapolate.
 */
export type Vital = 'x' | 'y' | 'z' | 'w';

export interface VitalSpec {
  readonly name: string;
  readonly unit: string;
  /** Accepted range [min, max], inclusive. */
  readonly min: number;
  readonly max: number;
}

export const VITALS: Readonly<Record<Vital, VitalSpec>> = Object.freeze({
  x: { name: 'heart rate', unit: 'beats/min', min: 20, max: 300 },
  y: { name: 'diastolic blood pressure', unit: 'mmHg', min: 20, max: 200 },
  z: { name: 'systolic blood pressure', unit: 'mmHg', min: 40, max: 300 },
  w: { name: 'respiratory rate', unit: 'breaths/min', min: 2, max: 80 },
});

export const VITAL_KEYS = Object.freeze(['x', 'y', 'z', 'w'] as const);

/** One reading of the four vitals; `time` in ms since the Unix epoch (UTC). */
export interface VitalReading {
  time: number;
  x: number;
  y: number;
  z: number;
  w: number;
}
