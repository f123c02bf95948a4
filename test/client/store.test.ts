import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { FolderStore } from '../../src/client/node/folder-store.ts';
import { type ClientStore, MemoryStore } from '../../src/client/store.ts';
import { tempDir } from '../ledger/fixtures.ts';

for (const [name, make] of [
  ['MemoryStore', async () => new MemoryStore()],
  ['FolderStore', async () => new FolderStore(await tempDir('store'))],
] as const) {
  test(`${name}: put replaces, keys lists a prefix sorted, delete forgets, unsafe keys are refused`, async () => {
    const store: ClientStore = await make();
    await store.put('outbox/000002', Uint8Array.of(2));
    await store.put('outbox/000001', Uint8Array.of(1));
    await store.put('history/000001-a', Uint8Array.of(9));
    await store.put('vault.cbor', Uint8Array.of(7));
    await store.put('outbox/000001', Uint8Array.of(3));
    assert.deepEqual(await store.get('outbox/000001'), Uint8Array.of(3));
    assert.deepEqual(await store.keys('outbox/'), ['outbox/000001', 'outbox/000002']);
    assert.deepEqual(await store.keys(''), [
      'history/000001-a',
      'outbox/000001',
      'outbox/000002',
      'vault.cbor',
    ]);
    assert.deepEqual(await store.keys('nothing/'), []);
    await store.delete('outbox/000001');
    assert.equal(await store.get('outbox/000001'), undefined);
    for (const bad of ['../escape', '/abs', 'a//b', '.hidden', 'a/../b']) {
      await assert.rejects(store.put(bad, Uint8Array.of(0)), RangeError, bad);
    }
  });
}

test('FolderStore: a temporary file left by a crash is neither listed nor read', async () => {
  const dir = await tempDir('store');
  const store = new FolderStore(dir);
  await store.put('outbox/000001', Uint8Array.of(1));
  await writeFile(join(dir, 'outbox', '000002.abc.tmp'), Uint8Array.of(2));
  assert.deepEqual(await store.keys('outbox/'), ['outbox/000001']);
  assert.ok((await readdir(join(dir, 'outbox'))).includes('000002.abc.tmp'));
});
