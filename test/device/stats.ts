/** Small statistics for the device tests. */
import type { SimulatedReading } from '../../src/device/reading.ts';

export const mean = (values: readonly number[]): number => {
  if (values.length === 0) throw new Error('mean of nothing');
  return values.reduce((s, v) => s + v, 0) / values.length;
};

export const sd = (values: readonly number[]): number => {
  const m = mean(values);
  return Math.sqrt(values.reduce((s, v) => s + (v - m) ** 2, 0) / (values.length - 1));
};

export const correlation = (a: readonly number[], b: readonly number[]): number => {
  const ma = mean(a);
  const mb = mean(b);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  a.forEach((va, i) => {
    const da = va - ma;
    const db = (b[i] as number) - mb;
    ab += da * db;
    aa += da * da;
    bb += db * db;
  });
  return ab / Math.sqrt(aa * bb);
};

const hour = (r: SimulatedReading) => new Date(r.time).getUTCHours();

/** 10:00–20:00 UTC: awake for everyone (waking is at 08:30 at the latest, sleep at 21:30 at the earliest). */
export const daytime = (rs: readonly SimulatedReading[]) => rs.filter((r) => hour(r) >= 10 && hour(r) < 20);

/** 02:00–05:00 UTC: asleep for everyone (bed at 00:30 at the latest, waking at 05:30 at the earliest). */
export const nighttime = (rs: readonly SimulatedReading[]) => rs.filter((r) => hour(r) >= 2 && hour(r) < 5);

/**
 * Nocturnal systolic fall from the measured values, 1 − asleep mean / awake mean: ABPM defines
 * day and night by the wearer's sleep (a diary), which the simulator records as `asleep`.
 */
export const systolicDip = (rs: readonly SimulatedReading[]) =>
  1 - mean(rs.filter((r) => r.asleep).map((r) => r.z)) / mean(rs.filter((r) => !r.asleep).map((r) => r.z));
