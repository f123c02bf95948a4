/**
 * The contract's evaluator cache under a budget smaller than two users' keys: transactions
 * interleave at every await, so one user's load can evict another's evaluator while that
 * transaction is still evaluating. It used to free those keys at once: EVALUATION_FAILED ("this
 * galoisKeys was disposed"), a good submission refused for ever. Found by `bench:server` with
 * PMHE_EVALUATOR_CACHE_BYTES = 32 MiB; at the default 256 MiB it takes 35 paper-p2 users.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CkksContext, SecretKey } from '../../src/ckks/index.ts';

// Read when plans.ts loads: a budget of one byte keeps only the newest evaluator.
process.env.PMHE_EVALUATOR_CACHE_BYTES = '1';
const { evaluatorFor } = await import('../../src/contract/plans.ts');

test('an evaluator evicted while a transaction uses it stays usable until that transaction is done', async () => {
  const context = await CkksContext.create('secure-4096');
  const stored = new Map<string, Uint8Array>();
  const sourceOf = (name: string) => {
    using secret = SecretKey.generate(context);
    stored.set(`${name}-relin`, secret.saveRelinKeys());
    stored.set(`${name}-galois`, secret.saveGaloisKeys([1]));
    return {
      source: {
        relinKeys: `${name}-relin`,
        galoisKeys: `${name}-galois`,
        load: async (hash: string) => stored.get(hash) as Uint8Array,
      },
    };
  };
  const a = sourceOf('a');
  const b = sourceOf('b');

  const leaseA = await evaluatorFor('secure-4096', a.source);
  // B's keys arrive while A's transaction is between two awaits: A is evicted from the cache…
  using leaseB = await evaluatorFor('secure-4096', b.source);
  // …but its keys are still A's to use.
  const galoisA = leaseA.evaluator.galoisKeys;
  assert.equal(galoisA?.disposed, false, 'evicted keys freed while in use');
  assert.ok(leaseA.evaluator.relinKeys && !leaseA.evaluator.relinKeys.disposed);
  // Once A's transaction is done, the evicted keys are freed (no leak).
  leaseA[Symbol.dispose]();
  assert.equal(galoisA?.disposed, true, 'evicted keys kept after their last user');
  // B, the cached one, is untouched; and A loads again on its next transaction.
  assert.equal(leaseB.evaluator.galoisKeys?.disposed, false);
  using again = await evaluatorFor('secure-4096', a.source);
  assert.notEqual(again.evaluator, leaseA.evaluator);
  assert.equal(again.evaluator.galoisKeys?.disposed, false);
});
