/**
 * A thread that checks uploaded ciphertexts before the server accepts them: they load under the
 * user's preset, count and level fit the plan. SEAL runs here, so a WebAssembly abort or a
 * pathological input kills at most this thread (the pool replaces it), never the server.
 */
import { checkTuple } from '../models/admission.ts';
import { cachedPlan as planFor } from '../models/plans.ts';
import type { Layout } from '../protocol/schema.ts';
import { serveJobs } from '../workers/pool.ts';

export interface CiphertextCheck {
  modelId: string;
  layout: Layout;
  presetId: string;
  ciphertexts: Uint8Array[];
}

await serveJobs<CiphertextCheck, true>(async () => async (check) => {
  await checkTuple(planFor(check.modelId, check.layout, check.presetId), check.ciphertexts);
  return true;
});
