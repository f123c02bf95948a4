/**
 * The simulated people: every distribution parameter in one place. docs/simulator.md gives the
 * source of each number, or says plainly that it is an assumption and why it is reasonable.
 */
import type { Vital } from './reading.ts';

export type PersonaName =
  | 'healthy'
  | 'stage2-hypertensive'
  | 'sepsis'
  | 'athlete'
  | 'elderly-isolated-systolic'
  | 'non-dipper';

export const PERSONA_NAMES: readonly PersonaName[] = Object.freeze([
  'healthy',
  'stage2-hypertensive',
  'sepsis',
  'athlete',
  'elderly-isolated-systolic',
  'non-dipper',
]);

/** A person-level value: Normal(mean, sd) restricted to [lo, hi] so a persona stays what it claims. */
export interface Spread {
  readonly mean: number;
  readonly sd: number;
  readonly lo: number;
  readonly hi: number;
}

/** A slow change from the person's usual state toward `end` (the sepsis persona). */
export interface Deterioration {
  /** Values at the end of the deterioration (awake and asleep alike: the day/night rhythm fades). */
  readonly end: Readonly<Record<Vital, Spread>>;
  /** The change starts at a fraction of the series drawn uniformly from this interval. */
  readonly onsetFraction: readonly [number, number];
  /** …and is complete at this fraction of the series; the rest is held at `end`. */
  readonly completeFraction: number;
}

export interface PersonaSpec {
  readonly name: PersonaName;
  readonly description: string;
  /** The person's mean of each vital while awake (units as in Vitals). */
  readonly awake: Readonly<Record<Vital, Spread>>;
  /** Nocturnal fall of systolic pressure, as a fraction of the awake level. */
  readonly sbpDip: Spread;
  /** Nocturnal fall of heart rate, fraction of the awake level. */
  readonly hrDip: number;
  /** Nocturnal fall of respiratory rate, fraction of the awake level. */
  readonly rrDip: number;
  readonly deterioration?: Deterioration;
}

const spread = (mean: number, sd: number, lo: number, hi: number): Spread =>
  Object.freeze({ mean, sd, lo, hi });

const HEALTHY_AWAKE = Object.freeze({
  x: spread(76, 9, 60, 92),
  y: spread(72, 4, 64, 79),
  z: spread(112, 5, 100, 119),
  w: spread(15, 1.5, 12, 18),
});
const DIPPER = spread(0.13, 0.05, 0.12, 0.18);

export const PERSONAS: Readonly<Record<PersonaName, PersonaSpec>> = Object.freeze({
  healthy: {
    name: 'healthy',
    description: 'normotensive adult (AHA/ACC 2017 "normal" < 120/80), normal dipper',
    awake: HEALTHY_AWAKE,
    sbpDip: DIPPER,
    hrDip: 0.14,
    rrDip: 0.08,
  },
  'stage2-hypertensive': {
    name: 'stage2-hypertensive',
    description: 'untreated stage 2 hypertension (AHA/ACC 2017: ≥ 140 or ≥ 90 mmHg)',
    awake: {
      x: spread(78, 9, 62, 95),
      y: spread(96, 5, 90, 110),
      z: spread(152, 8, 140, 175),
      w: spread(16, 1.5, 13, 19),
    },
    sbpDip: spread(0.13, 0.05, 0, 0.2),
    hrDip: 0.14,
    rrDip: 0.08,
  },
  sepsis: {
    name: 'sepsis',
    description:
      'starts as healthy, then deteriorates toward sepsis: HR and RR rise, BP falls (qSOFA positive)',
    awake: HEALTHY_AWAKE,
    sbpDip: DIPPER,
    hrDip: 0.14,
    rrDip: 0.08,
    deterioration: {
      end: {
        x: spread(120, 8, 100, 145),
        y: spread(52, 4, 42, 60),
        z: spread(88, 4, 76, 94),
        w: spread(28, 2, 24, 34),
      },
      onsetFraction: [0.2, 0.5],
      completeFraction: 0.85,
    },
  },
  athlete: {
    name: 'athlete',
    description: 'endurance-trained adult with training-related sinus bradycardia',
    awake: {
      x: spread(56, 4, 48, 64),
      y: spread(70, 5, 60, 79),
      z: spread(114, 6, 100, 125),
      w: spread(14, 1.5, 11, 17),
    },
    sbpDip: DIPPER,
    hrDip: 0.14,
    rrDip: 0.08,
  },
  'elderly-isolated-systolic': {
    name: 'elderly-isolated-systolic',
    description: 'older adult with isolated systolic hypertension (SBP ≥ 140, DBP < 90), blunted dip',
    awake: {
      x: spread(68, 8, 55, 85),
      y: spread(76, 5, 65, 86),
      z: spread(158, 8, 142, 180),
      w: spread(16, 2, 12, 20),
    },
    sbpDip: spread(0.08, 0.05, 0, 0.18),
    hrDip: 0.14,
    rrDip: 0.08,
  },
  'non-dipper': {
    name: 'non-dipper',
    description: 'high-normal pressure whose nocturnal fall is under 10% (ESH non-dipper)',
    awake: {
      x: spread(76, 9, 60, 92),
      y: spread(80, 5, 70, 89),
      z: spread(126, 7, 112, 139),
      w: spread(15, 1.5, 12, 18),
    },
    sbpDip: spread(0.04, 0.03, 0, 0.08),
    hrDip: 0.14,
    rrDip: 0.08,
  },
} satisfies Record<PersonaName, PersonaSpec>);

/** Within-person physiology shared by every persona. */
export const PHYSIOLOGY = Object.freeze({
  /** SD of within-person fluctuation as a fraction of the current level (coefficient of variation). */
  withinCv: Object.freeze({ x: 0.1, y: 0.1, z: 0.09, w: 0.1 }),
  /** Time constant of the AR(1) fluctuation (minutes): how long a deviation persists. */
  tauMinutes: Object.freeze({ x: 15, y: 30, z: 30, w: 30 }),
  /** Correlation of systolic and diastolic fluctuations (innovations of the AR(1) processes). */
  sbpDbpCorrelation: 0.85,
  /** Diastolic dip = systolic dip × this ratio. */
  dbpDipRatio: 1.4,
  /** Clock hour (local, 24 = midnight) of falling asleep and of waking, person-level. */
  bedtimeHour: spread(23, 0.5, 22, 24),
  wakeHour: spread(7, 0.5, 6, 8),
  /** Night-to-night shift of each of the two times, drawn independently (hours). */
  nightlyShiftHours: spread(0, 0.25, -0.5, 0.5),
  /** Scale of the logistic sleep/wake transition (minutes). */
  transitionMinutes: 10,
});

/** Measurement error of the devices. */
export const MEASUREMENT = Object.freeze({
  /** Per-device constant bias of the cuff (mmHg), one draw for SBP and one for DBP. */
  cuffBias: spread(0, 2, -4, 4),
  /** Per-reading random error of the cuff (mmHg SD), independent for SBP and DBP. */
  cuffErrorSd: 5,
  /** Per-reading error of optical heart rate at rest (beats/min SD). */
  hrErrorSd: 2,
  /** Per-reading error of respiratory rate (breaths/min SD). */
  rrErrorSd: 1,
});

/** How often readings are corrupted or missing. */
export interface ArtifactRates {
  /** Fraction of emitted readings whose heart rate is a motion spike. */
  readonly motion: number;
  /** Fraction of emitted readings whose blood pressure is a failed cuff measurement. */
  readonly cuff: number;
  /** Long-run fraction of scheduled readings that are missing. */
  readonly dropout: number;
  /** Mean length of a run of missing readings (dropouts come in bursts: off-wrist, radio loss). */
  readonly meanGapReadings: number;
}

export const DEFAULT_ARTIFACTS: ArtifactRates = Object.freeze({
  motion: 0.02,
  cuff: 0.03,
  dropout: 0.04,
  meanGapReadings: 3,
});

/** No artifacts and no dropouts: the measured series is truth plus measurement error only. */
export const NO_ARTIFACTS: ArtifactRates = Object.freeze({
  motion: 0,
  cuff: 0,
  dropout: 0,
  meanGapReadings: 1,
});

/** Size of an artifact (assumptions; see docs/simulator.md). */
export const ARTIFACT_SIZE = Object.freeze({
  /** Motion: the optical sensor locks onto the movement cadence, adding this many beats/min. */
  motionHr: Object.freeze({ lo: 20, hi: 60 }),
  /** Failed cuff: SBP off by ± this many mmHg… */
  cuffSbp: Object.freeze({ lo: 15, hi: 40 }),
  /** …and DBP by ± this many mmHg, signs independent. */
  cuffDbp: Object.freeze({ lo: 10, hi: 25 }),
  /** A cuff never reports a pulse pressure below this (mmHg); diastolic is pushed down instead. */
  minPulsePressure: 10,
});
