/**
 * A thread that checks uploaded ciphertexts before the server accepts them: they load under the
 * user's preset, count and level fit the plan. SEAL runs here, so a WebAssembly abort or a
 * pathological input kills at most this thread (the pool replaces it), never the server.
 */
import { CkksError } from '../ckks/errors.ts';
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
  await checkTuple(planFor(check.modelId, check.layout, check.presetId), check.ciphertexts).catch(
    (error: unknown) => {
      // The code crosses the thread as a string: say which layer's it is (the API's CKKS_<code>).
      if (error instanceof CkksError)
        throw Object.assign(new Error(error.message), { code: `CKKS_${error.code}` });
      throw error;
    },
  );
  return true;
});
