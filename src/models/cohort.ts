/**
 * A simulated cohort cut into uploads for a plan: the device simulator's personas, each with a
 * profile (for models that read one), grouped as the plan's layout uploads them. The client's
 * preliminary filtering is applied the simple way: a reading outside the accepted ranges (a
 * sensor artifact) is dropped; in a batch, a missing or dropped slot repeats the last good
 * reading so slot i stays minute i·interval of the batch (the windows depend on it).
 */
import { PERSONA_NAMES, simulateCohort } from '../device/index.ts';
import type { Profile } from '../protocol/meta-functions.ts';
import type { VitalReading } from '../protocol/vitals.ts';
import type { Plan } from './compiler.ts';
import { tupleVectors } from './runtime.ts';
import type { Upload } from './validation.ts';

const MINUTE = 60_000;
/** Midnight UTC, 1 March 2026: batches start at midnight so their slots map to clock time. */
const START = Date.UTC(2026, 2, 1);

/** What the client's filter keeps: readings in the accepted ranges and, per model, its domain. */
function valid(plan: Plan, reading: VitalReading, profile: Profile): boolean {
  try {
    tupleVectors(plan, [reading], profile);
    return true;
  } catch {
    return false;
  }
}

/**
 * A deterministic profile per person, spread uniformly over the whole WCGS training ranges
 * (src/models/chd-risk/weights.json `trainingRange`: men aged 39–59, BMI 15.7–38.9, cholesterol
 * 103–414 mg/dL, smokers and not), so error bounds are measured on high-risk people too.
 */
function profileFor(person: number): Profile {
  const h = (k: number) => ((person * 2654435761 + k * 40503) >>> 0) / 2 ** 32;
  return {
    age: 39 + Math.floor(h(1) * 21),
    bmi: Math.round(157 + h(2) * (389 - 157)) / 10,
    cholesterol: 103 + Math.floor(h(3) * (414 - 103 + 1)),
    smoker: h(4) < 0.5 ? 1 : 0,
  };
}

export interface CohortOptions {
  /** At least this many readings in all. */
  readings: number;
  /** And at least this many uploads (a batch upload holds many readings). */
  minUploads?: number;
  seed: number;
}

export function cohortUploads(plan: Plan, options: CohortOptions): Upload[] {
  const batch = plan.layout === 'batch';
  const interval = plan.model.batch?.intervalMinutes ?? 15;
  const perUpload = plan.readingsPerUpload;
  const days = batch ? Math.ceil((perUpload * interval) / (24 * 60)) : 7;
  const perPerson = batch ? perUpload : Math.floor((days * 24 * 60) / interval);
  const wanted = Math.max(options.readings, (options.minUploads ?? 0) * perUpload);
  // A tenth more people than needed: the client filter drops artifacts and out-of-range readings.
  const people = Math.max(PERSONA_NAMES.length, Math.ceil((1.1 * wanted) / perPerson));
  const cohort = simulateCohort({
    seed: options.seed,
    people,
    days,
    intervalMinutes: interval,
    start: START,
  });
  const uploads: Upload[] = [];
  const perPersonUploads: Upload[][] = [];
  cohort.forEach((person, p) => {
    const profile = profileFor(p);
    const readings: VitalReading[] = person.readings.map((r) => ({
      time: r.time,
      x: r.x,
      y: r.y,
      z: r.z,
      w: r.w,
    }));
    if (!batch) {
      perPersonUploads.push(
        readings.filter((r) => valid(plan, r, profile)).map((r) => ({ readings: [r], profile })),
      );
      return;
    }
    // Align to the batch grid: slot i is START + i·interval; gaps repeat the last good reading.
    const bySlot = new Map<number, VitalReading>();
    for (const r of readings) {
      const slot = Math.round((r.time - START) / (interval * MINUTE));
      if (slot >= 0 && slot < perUpload && valid(plan, r, profile)) bySlot.set(slot, r);
    }
    const first = bySlot.get(Math.min(...bySlot.keys()));
    if (!first) return;
    let last = first;
    const grid: VitalReading[] = [];
    for (let slot = 0; slot < perUpload; slot++) {
      last = bySlot.get(slot) ?? last;
      grid.push({ ...last, time: START + slot * interval * MINUTE });
    }
    uploads.push({ readings: grid, profile });
  });
  if (batch) return uploads.slice(0, Math.max(1, Math.ceil(wanted / perUpload)));
  // Paper and packed layouts: one reading per upload, taken from every person in turn.
  for (let i = 0; uploads.length < wanted; i++) {
    let any = false;
    for (const list of perPersonUploads) {
      const upload = list[i];
      if (upload && uploads.length < wanted) {
        uploads.push(upload);
        any = true;
      }
    }
    if (!any) break;
  }
  return uploads;
}
