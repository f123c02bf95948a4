/**
 * A thread that checks uploaded ciphertexts before the server accepts them: they load under the
 * user's preset, count and level fit the plan. SEAL runs here, so a WebAssembly abort or a
 * pathological input kills at most this thread (the pool replaces it), never the server.
 */
import { CkksContext } from '../ckks/index.ts';
import { cachedPlan as planFor } from '../models/plans.ts';
import { loadTuple } from '../models/runtime.ts';
import type { Layout } from '../protocol/schema.ts';
import { serveJobs } from '../workers/pool.ts';

export interface CiphertextCheck {
  modelId: string;
  layout: Layout;
  presetId: string;
  ciphertexts: Uint8Array[];
}

await serveJobs<CiphertextCheck, true>(async () => async (check) => {
  const plan = planFor(check.modelId, check.layout, check.presetId);
  const context = await CkksContext.create(plan.preset.id);
  for (const c of loadTuple(plan, context, check.ciphertexts)) c.dispose();
  return true;
});
