/**
 * One simulated person: the levels, dips, sleep times and device bias drawn once from their
 * persona. Drawn from its own random stream, so it depends on (persona, seed) only.
 */
import { MEASUREMENT, PERSONAS, type PersonaName, PHYSIOLOGY, type Spread } from './personas.ts';
import { deriveSeed, Rng, STREAM } from './random.ts';
import type { Vital, Vitals } from './reading.ts';

export interface PersonProfile {
  readonly persona: PersonaName;
  /** Mean of each vital while awake (before any deterioration). */
  readonly awake: Readonly<Vitals>;
  /** Nocturnal fall of each vital as a fraction of its awake level (0.13 = 13% lower asleep). */
  readonly dip: Readonly<Vitals>;
  /** Usual local clock hour of falling asleep (22–24) and of waking (6–8). */
  readonly bedtimeHour: number;
  readonly wakeHour: number;
  /** Constant error of this person's cuff (mmHg). */
  readonly cuffBias: Readonly<{ y: number; z: number }>;
  /** Where the person ends up and when the change runs, for a deteriorating persona. */
  readonly deterioration?: Readonly<{
    end: Readonly<Vitals>;
    onsetFraction: number;
    completeFraction: number;
  }>;
}

const VITALS: readonly Vital[] = ['x', 'y', 'z', 'w'];

export function isPersonaName(name: string): name is PersonaName {
  return Object.hasOwn(PERSONAS, name);
}

export function drawProfile(persona: PersonaName, seed: number): PersonProfile {
  if (!isPersonaName(persona)) throw new RangeError(`unknown persona '${String(persona)}'`);
  const spec = PERSONAS[persona];
  const rng = new Rng(deriveSeed(seed, STREAM.profile));
  const draw = (s: Spread) => rng.truncatedNormal(s.mean, s.sd, s.lo, s.hi);
  const vitals = (of: Readonly<Record<Vital, Spread>>): Vitals => {
    const v = { x: 0, y: 0, z: 0, w: 0 };
    for (const k of VITALS) v[k] = draw(of[k]);
    return v;
  };
  const awake = vitals(spec.awake);
  const sbpDip = draw(spec.sbpDip);
  const dip: Vitals = { x: spec.hrDip, y: sbpDip * PHYSIOLOGY.dbpDipRatio, z: sbpDip, w: spec.rrDip };
  const bedtimeHour = draw(PHYSIOLOGY.bedtimeHour);
  const wakeHour = draw(PHYSIOLOGY.wakeHour);
  const cuffBias = { y: draw(MEASUREMENT.cuffBias), z: draw(MEASUREMENT.cuffBias) };
  const d = spec.deterioration;
  if (d === undefined) return { persona, awake, dip, bedtimeHour, wakeHour, cuffBias };
  return {
    persona,
    awake,
    dip,
    bedtimeHour,
    wakeHour,
    cuffBias,
    deterioration: {
      end: vitals(d.end),
      onsetFraction: rng.between(d.onsetFraction[0], d.onsetFraction[1]),
      completeFraction: d.completeFraction,
    },
  };
}
