import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { FolderStore } from '../../src/client/node/folder-store.ts';
import { SealedStore, SealedStoreError } from '../../src/client/sealed-store.ts';
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

test("SealedStore: the outbox and history are sealed under the vault's key; a moved, damaged or foreign value does not open; an older client's clear values are sealed on open", async () => {
  const dir = await tempDir('sealed');
  const raw = new FolderStore(dir);
  const seed = crypto.getRandomValues(new Uint8Array(32));
  // Left in the clear by an older client.
  const legacy = new TextEncoder().encode('{"diagnosis":"low clinical risk","x":72}');
  await raw.put('history/000000000000001-old', legacy);
  const store = await SealedStore.over(raw, seed);
  assert.deepEqual(await store.get('history/000000000000001-old'), legacy, 'an unsealed value is still read');
  assert.equal(await store.migrate(), 1);
  assert.equal(await store.migrate(), 0);

  const reading = new TextEncoder().encode('systolic 142, diastolic 91, a distinctive needle 7f3a');
  await store.put('outbox/000000000001', reading);
  await store.put('vault.cbor', Uint8Array.of(1, 2, 3)); // not sealed here: the vault seals itself
  assert.deepEqual(await store.get('outbox/000000000001'), reading);
  assert.deepEqual(await raw.get('vault.cbor'), Uint8Array.of(1, 2, 3));
  for (const key of ['outbox/000000000001', 'history/000000000000001-old']) {
    const onDisk = Buffer.from((await raw.get(key)) as Uint8Array);
    assert.equal(onDisk.subarray(0, 4).toString(), 'PMHS', key);
    assert.ok(!onDisk.includes('needle') && !onDisk.includes('diagnosis'), `${key} is readable on disk`);
  }
  // Moved to another key: the key is the associated data.
  await raw.put('outbox/000000000002', (await raw.get('outbox/000000000001')) as Uint8Array);
  await assert.rejects(store.get('outbox/000000000002'), SealedStoreError);
  // Damaged.
  const damaged = (await raw.get('outbox/000000000001')) as Uint8Array;
  damaged[damaged.length - 1] = (damaged.at(-1) as number) ^ 1;
  await raw.put('outbox/000000000003', damaged);
  await assert.rejects(store.get('outbox/000000000003'), /does not open/);
  // Another person's keys.
  const other = await SealedStore.over(raw, crypto.getRandomValues(new Uint8Array(32)));
  await assert.rejects(other.get('outbox/000000000001'), SealedStoreError);
  assert.deepEqual(await store.keys('outbox/'), [
    'outbox/000000000001',
    'outbox/000000000002',
    'outbox/000000000003',
  ]);
});
