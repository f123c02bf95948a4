import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guard } from '../../src/ckks/errors.ts';
import { CkksContext, CkksError } from '../../src/ckks/index.ts';

test('a SEAL exception becomes a CkksError with the code of the attempted operation', async () => {
  const context = await CkksContext.create('secure-4096');
  assert.throws(
    () =>
      guard('SEAL_REJECTED', 'loading a plaintext', () => {
        const plain = new context.seal.Plaintext();
        try {
          plain.loadFromArray(context.context, new Uint8Array([1, 2, 3]));
        } finally {
          plain.delete();
        }
      }),
    (e: unknown) =>
      e instanceof CkksError &&
      e.code === 'SEAL_REJECTED' &&
      /^loading a plaintext: std::\w+: .+/.test(e.message),
  );
});

test('a WebAssembly abort becomes WASM_ABORT and the next context comes from a fresh module', async () => {
  const before = await CkksContext.create('secure-4096');
  assert.throws(
    () =>
      guard('SEAL_ERROR', 'evaluating', () => {
        throw new WebAssembly.RuntimeError('unreachable');
      }),
    (e: unknown) => e instanceof CkksError && e.code === 'WASM_ABORT' && /module reloaded/.test(e.message),
  );
  assert.equal(before.alive, false);
  const after = await CkksContext.create('secure-4096');
  assert.notEqual(after, before);
  assert.notEqual(after.seal, before.seal);
  assert.ok(after.alive);
});
