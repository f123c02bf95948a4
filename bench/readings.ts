/** Readings the benchmarks send one at a time. */
import { filterReadings, type RawReading } from '../src/client/filter.ts';
import type { Plan } from '../src/models/compiler.ts';
import { tupleVectors } from '../src/models/runtime.ts';
import type { Profile } from '../src/protocol/meta-functions.ts';

/** The readings of `series` that each pass the filter alone and are inside the model's domain. */
export function realTimePool(series: readonly RawReading[], plan: Plan, profile: Profile): RawReading[] {
  return series.filter((r) => {
    const kept = filterReadings([r]).kept;
    if (kept.length !== 1) return false;
    try {
      tupleVectors(plan, kept, profile);
      return true;
    } catch {
      return false;
    }
  });
}
