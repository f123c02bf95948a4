/**
 * What the contract derives from stored bytes, cached across transactions: plans by
 * (model, layout, preset), evaluators by the content hashes of their keys. Caching cannot change
 * a result: a content hash names exactly one key, and a plan is a pure function of its inputs.
 * It must not change the read set either (Fabric compares it): the contract reads the key blobs
 * whether or not the cache has them.
 */
import {
  CkksContext,
  Evaluator,
  type GaloisKeys,
  loadKey,
  type PresetId,
  type RelinKeys,
} from '../ckks/index.ts';
import { getModel } from '../models/catalogue/index.ts';
import type { Plan } from '../models/compiler.ts';
import { cachedPlan } from '../models/plans.ts';
import type { Layout } from '../protocol/schema.ts';
import { ContractError } from './errors.ts';

/** The plan, with an unknown model or an impossible layout as the contract's refusals. */
export function planFor(modelId: string, layout: Layout, presetId: string): Plan {
  try {
    getModel(modelId);
  } catch (error) {
    throw new ContractError('UNKNOWN_MODEL', (error as Error).message);
  }
  try {
    return cachedPlan(modelId, layout, presetId);
  } catch (error) {
    throw new ContractError(
      'BAD_REQUEST',
      `model ${modelId} (${layout}, ${presetId}): ${(error as Error).message}`,
    );
  }
}

interface CachedEvaluator {
  /** Serialized size of its keys: what the cache budget counts. */
  bytes: number;
  context: CkksContext;
  evaluator: Evaluator;
  keys: (RelinKeys | GaloisKeys)[];
  /** Transactions using it now: an evicted entry is freed only when the last one is done. */
  users: number;
  evicted: boolean;
}

/**
 * An evaluator lent to one transaction. Dispose of it (`using`) when the evaluation is over:
 * transactions interleave at every await, and a cache eviction in between must not free keys
 * another transaction is still evaluating with (it was EVALUATION_FAILED, "this galoisKeys was
 * disposed", refusing a good submission for ever).
 */
export interface EvaluatorLease extends Disposable {
  readonly evaluator: Evaluator;
}

function lend(entry: CachedEvaluator): EvaluatorLease {
  entry.users++;
  let returned = false;
  return {
    evaluator: entry.evaluator,
    [Symbol.dispose]() {
      if (returned) return;
      returned = true;
      entry.users--;
      if (entry.evicted && entry.users === 0) free(entry);
    },
  };
}

/**
 * Evaluation keys are megabytes (7.4 MB per packed user at paper-p2, 0.55 MB at secure-4096):
 * the cache keeps the most recently used within a budget of their serialized bytes per thread
 * (in SEAL's memory they take about twice that, and every endorsing organisation has its own
 * threads). Loading early-warning's seeded Galois keys at secure-4096 took 6.2 ms; the budget is
 * the server's largest memory cost: 128 MiB holds about 230 such users.
 */
export const EVALUATOR_CACHE_BYTES = Number(process.env.PMHE_EVALUATOR_CACHE_BYTES ?? 128 * 1024 * 1024);
const evaluators = new Map<string, CachedEvaluator>();
let cachedBytes = 0;

export interface KeySource {
  relinKeys: string | null;
  galoisKeys: string | null;
  load(hash: string): Promise<Uint8Array>;
}

export async function evaluatorFor(presetId: string, source: KeySource): Promise<EvaluatorLease> {
  const context = await CkksContext.create(presetId as PresetId);
  const key = `${presetId}|${source.relinKeys}|${source.galoisKeys}`;
  const cached = evaluators.get(key);
  if (cached && cached.context === context) {
    evaluators.delete(key); // re-insert: most recently used last
    evaluators.set(key, cached);
    return lend(cached);
  }
  if (cached) evict(key);
  const loaded: (RelinKeys | GaloisKeys)[] = [];
  let bytes = 0;
  try {
    const relinBytes = source.relinKeys ? await source.load(source.relinKeys) : undefined;
    const relinKeys = relinBytes ? loadKey(context, 'relinKeys', relinBytes) : undefined;
    if (relinKeys) loaded.push(relinKeys);
    const galoisBytes = source.galoisKeys ? await source.load(source.galoisKeys) : undefined;
    const galoisKeys = galoisBytes ? loadKey(context, 'galoisKeys', galoisBytes) : undefined;
    if (galoisKeys) loaded.push(galoisKeys);
    bytes = (relinBytes?.length ?? 0) + (galoisBytes?.length ?? 0);
    const evaluator = new Evaluator(context, {
      ...(relinKeys ? { relinKeys } : {}),
      ...(galoisKeys ? { galoisKeys } : {}),
    });
    const entry: CachedEvaluator = { bytes, context, evaluator, keys: loaded, users: 0, evicted: false };
    // Another transaction of this user may have loaded the same keys during the awaits above.
    if (evaluators.has(key)) evict(key);
    evaluators.set(key, entry);
    cachedBytes += bytes;
    const lease = lend(entry);
    while (cachedBytes > EVALUATOR_CACHE_BYTES && evaluators.size > 1) {
      evict(evaluators.keys().next().value as string);
    }
    return lease;
  } catch (error) {
    for (const k of loaded) k.dispose();
    throw error;
  }
}

function evict(key: string): void {
  const entry = evaluators.get(key);
  evaluators.delete(key);
  if (!entry) return;
  cachedBytes -= entry.bytes;
  entry.evicted = true;
  if (entry.users === 0) free(entry);
}

function free(entry: CachedEvaluator): void {
  entry.evaluator.dispose();
  for (const k of entry.keys) k.dispose();
}
