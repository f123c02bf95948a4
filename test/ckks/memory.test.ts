/**
 * Memory discipline: the WebAssembly heap never shrinks, so one leaked ciphertext per round
 * (~200 KB at N = 4096) would add gigabytes over this loop. The heap must stay under a fixed bound.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadCiphertext, wasmHeapBytes } from '../../src/ckks/index.ts';
import { kit } from './fixtures.ts';

const ROUNDS = 10_000;
const MiB = 1024 * 1024;
/** Heap after warm-up may grow this much at most (allocator fragmentation, constant cache). */
const GROWTH_BOUND = 16 * MiB;
const ABSOLUTE_BOUND = 256 * MiB;

test(`${ROUNDS} encrypt → evaluate → decrypt rounds keep the WebAssembly heap bounded`, async () => {
  const k = await kit('secure-4096', [1]);
  try {
    const values = [72, 80, 120, 16];
    const round = (i: number) => {
      using x = k.symmetric.encrypt(values);
      using y = k.evaluator.multiply(x, 0.5);
      using z = k.evaluator.add(y, x);
      const out = k.decryptor.decrypt(z, 1);
      assert.ok(Math.abs((out[0] as number) - 108) < 0.01);
      if (i % 100 === 0) {
        using back = loadCiphertext(k.context, x.save());
        using p = k.evaluator.polyval(back, [1, 0.5]);
        using r = k.evaluator.rotate(p, 1);
        k.decryptor.decrypt(r, 1);
      }
    };
    for (let i = 0; i < 200; i++) round(i);
    const warm = await wasmHeapBytes();
    assert.ok(warm > 0, 'the heap is observable');
    for (let i = 0; i < ROUNDS; i++) round(i);
    const end = await wasmHeapBytes();
    assert.ok(
      end - warm <= GROWTH_BOUND,
      `heap grew ${((end - warm) / MiB).toFixed(1)} MiB over ${ROUNDS} rounds`,
    );
    assert.ok(end <= ABSOLUTE_BOUND, `heap is ${(end / MiB).toFixed(1)} MiB`);
  } finally {
    k.dispose();
  }
});
