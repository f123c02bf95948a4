/**
 * Sleep and wake: for each night a bedtime and a wake time (the person's usual hours shifted a
 * little night to night), and a smooth 0 (awake) … 1 (asleep) factor that scales the nocturnal dip.
 */
import { PHYSIOLOGY } from './personas.ts';
import type { PersonProfile } from './profile.ts';
import { deriveSeed, Rng, STREAM } from './random.ts';

const HOUR_MS = 3_600_000;

export interface SleepSchedule {
  /** 0 awake … 1 asleep at `time` (ms since the epoch, UTC). */
  sleepiness(time: number): number;
}

const logistic = (v: number) => 1 / (1 + Math.exp(-v));

/**
 * Nights covering [fromMs, toMs]. Night k begins on the evening of local day k; local time is UTC
 * shifted by utcOffsetMinutes (the person's time zone).
 */
export function sleepSchedule(
  profile: PersonProfile,
  seed: number,
  fromMs: number,
  toMs: number,
  utcOffsetMinutes: number,
): SleepSchedule {
  const rng = new Rng(deriveSeed(seed, STREAM.sleep));
  const localHours = (t: number) => (t + utcOffsetMinutes * 60_000) / HOUR_MS;
  const firstNight = Math.floor(localHours(fromMs) / 24) - 1;
  const lastNight = Math.floor(localHours(toMs) / 24);
  const shift = PHYSIOLOGY.nightlyShiftHours;
  const bed: number[] = [];
  const wake: number[] = [];
  for (let k = firstNight; k <= lastNight; k++) {
    bed.push(24 * k + profile.bedtimeHour + rng.truncatedNormal(shift.mean, shift.sd, shift.lo, shift.hi));
    wake.push(
      24 * (k + 1) + profile.wakeHour + rng.truncatedNormal(shift.mean, shift.sd, shift.lo, shift.hi),
    );
  }
  const scale = PHYSIOLOGY.transitionMinutes / 60;
  const inNight = (i: number, h: number): number => {
    const b = bed[i];
    const w = wake[i];
    if (b === undefined || w === undefined) return 0;
    return logistic((h - b) / scale) * logistic((w - h) / scale);
  };
  return {
    sleepiness(time: number): number {
      const h = localHours(time);
      const i = Math.floor(h / 24) - firstNight;
      // The night that began yesterday evening, or the one beginning this evening.
      return Math.max(inNight(i - 1, h), inNight(i, h));
    },
  };
}
