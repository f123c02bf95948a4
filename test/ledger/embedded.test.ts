import assert from 'node:assert/strict';
import { cp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { decode, encode } from 'cborg';
import { ClassicLevel } from 'classic-level';
import { LocalUser } from '../../src/client/user.ts';
import { EmbeddedLedger } from '../../src/ledger/embedded.ts';
import { LedgerError } from '../../src/ledger/errors.ts';
import { loadOrCreateCreator } from '../../src/ledger/identity.ts';
import { TX_MVCC_READ_CONFLICT, TX_PHANTOM_READ_CONFLICT } from '../../src/ledger/ledger.ts';
import { decodeTx } from '../../src/ledger/transaction.ts';
import { verifyLedger } from '../../src/ledger/verify.ts';
import { cohortUploads } from '../../src/models/cohort.ts';
import { readAnswer } from '../../src/protocol/contract.ts';
import { CounterContract, tempDir } from './fixtures.ts';

/** Every block's transactions and validation codes, as bytes. */
async function blockBytes(ledger: EmbeddedLedger): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (let n = 0; n < (await ledger.height()); n++) {
    const block = await ledger.block(n);
    out.push(
      encode({ transactions: block.transactions, validation: block.metadata.validation, hash: block.hash }),
    );
  }
  return out;
}

test('DETERMINISM: two independent ledgers given the same proposals write byte-identical blocks', async () => {
  const creator = await loadOrCreateCreator(await tempDir('identity'));
  const start = Date.now();
  const pinned = () => {
    let clock = start;
    let nonce = 0;
    return {
      creator,
      now: () => clock++,
      txNonce: () => new Uint8Array(24).fill(nonce++ % 256),
      batch: { maxTransactions: 1 },
    };
  };
  const ledgers = [
    await EmbeddedLedger.open(await tempDir(), pinned()),
    await EmbeddedLedger.open(await tempDir(), pinned()),
  ];
  using user = await LocalUser.create({
    userId: 'dana',
    modelId: 'chd-risk-paper',
    layout: 'packed',
    presetId: 'paper-p2',
  });
  const both = async (name: string, proposal: Parameters<EmbeddedLedger['submit']>[1]) => {
    const [a, b] = await Promise.all(ledgers.map((l) => l.submit(name, proposal)));
    assert.deepEqual(a, b, `${name}: same transaction id, block and payload`);
    return a as NonNullable<typeof a>;
  };
  await both('setup', await user.setup());
  const uploads = cohortUploads(user.plan, { readings: 2, seed: 1 });
  const received = await both(
    'receive',
    user.receive(await Promise.all(uploads.map((u) => user.envelope(u.readings, u.profile)))),
  );
  const ids = readAnswer('receive', received.payload).submissions.map((s) => s.id);
  const issued = await both('issue', await user.request('issue', { submissions: ids }));
  await both(
    'add',
    await user.request('add', { a: `result:${issued.txId}:0`, b: `result:${issued.txId}:1` }),
  );
  await both('mult', await user.request('mult', { a: `sub:${ids[0]}:0`, b: `sub:${ids[1]}:0` }));
  const [a, b] = await Promise.all(ledgers.map(blockBytes));
  assert.equal(a?.length, 5);
  assert.deepEqual(a, b);
  // Write sets are what Fabric compares between organisations: check they hold the ciphertexts.
  const issueTx = decodeTx((await ledgers[0]?.block(2))?.transactions[0] as Uint8Array);
  assert.ok(issueTx.rwset.writes.some((w) => w.key.startsWith('blob/') && (w.value?.length ?? 0) > 10_000));
  for (const l of ledgers) await l.close();
});

test('MVCC: concurrent read-modify-writes of one key: one commits, the rest are invalid (code 11)', async () => {
  const ledger = await EmbeddedLedger.open(await tempDir(), {
    contracts: [CounterContract],
    // Conflicts inside one block: every transaction waits for the block's timer.
    batch: { timeoutMs: 50, cutWhenIdle: false },
  });
  const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => ledger.submit('increment')));
  const valid = outcomes.filter((o) => o.status === 'fulfilled');
  const invalid = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as LedgerError] : []));
  assert.equal(valid.length, 1);
  assert.equal(invalid.length, 4);
  for (const e of invalid) assert.deepEqual([e.code, e.validationCode], ['INVALID', TX_MVCC_READ_CONFLICT]);
  assert.equal(
    new TextDecoder().decode(await ledger.evaluate('increment')),
    '2',
    'the invalid writes were not applied',
  );
  // A range read that an earlier transaction of the same block changed is a phantom (code 12).
  await ledger.submit('insert', { args: ['a'] });
  const [insert, tally] = await Promise.allSettled([
    ledger.submit('insert', { args: ['b'] }),
    ledger.submit('tally'),
  ]);
  assert.equal(insert.status, 'fulfilled');
  assert.equal(tally.status, 'rejected');
  assert.equal((tally as PromiseRejectedResult).reason.validationCode, TX_PHANTOM_READ_CONFLICT);
  // Invalid transactions are on the ledger, marked, and verify agrees with the state.
  const block = await ledger.getBlock((await ledger.height()) - 1);
  assert.deepEqual(
    block.transactions.map((t) => t.validationCode),
    [0, TX_PHANTOM_READ_CONFLICT],
  );
  assert.ok((await ledger.verify()).ok);
  await ledger.close();
});

test('RECOVERY: a deleted state database is rebuilt from the blocks; a lagging one is caught up', async () => {
  const dir = await tempDir();
  const open = () =>
    EmbeddedLedger.open(dir, { contracts: [CounterContract], batch: { maxTransactions: 1 } });
  let ledger = await open();
  for (let i = 0; i < 4; i++) await ledger.submit('increment');
  await ledger.close();
  // The state as it was after block 3: what a crash between block append and state update leaves.
  await cp(join(dir, 'state'), join(dir, 'state-at-3'), { recursive: true });
  ledger = await open();
  for (let i = 0; i < 2; i++) await ledger.submit('increment');
  await ledger.close();
  await rm(join(dir, 'state'), { recursive: true });
  ledger = await open();
  assert.deepEqual([ledger.opened.rebuilt, ledger.opened.replayed], [true, 6]);
  assert.equal(new TextDecoder().decode(await ledger.evaluate('increment')), '7');
  await ledger.close();

  await rm(join(dir, 'state'), { recursive: true });
  await rename(join(dir, 'state-at-3'), join(dir, 'state'));
  // Not damage: verify checks the state up to its savepoint and counts the rest as pending replay.
  const pending = await verifyLedger(dir);
  assert.deepEqual([pending.ok, pending.pendingBlocks], [true, 2], pending.problems.join('\n'));
  ledger = await open();
  assert.deepEqual([ledger.opened.rebuilt, ledger.opened.replayed], [false, 2]);
  assert.equal(new TextDecoder().decode(await ledger.evaluate('increment')), '7');
  assert.ok((await ledger.verify()).ok);
  await ledger.close();
  const caughtUp = await verifyLedger(dir);
  assert.deepEqual([caughtUp.ok, caughtUp.pendingBlocks], [true, 0]);
});

test('LOCK: a second process (or instance) cannot open a ledger in use', async () => {
  const dir = await tempDir();
  const ledger = await EmbeddedLedger.open(dir, { contracts: [CounterContract] });
  await assert.rejects(
    EmbeddedLedger.open(dir, { contracts: [CounterContract] }),
    (e: unknown) => e instanceof LedgerError && e.code === 'LOCKED',
  );
  await assert.rejects(verifyLedger(dir), (e: unknown) => e instanceof LedgerError && e.code === 'LOCKED');
  await ledger.close();
});

test('TAMPER: verify names the block whose bytes or state were altered', async () => {
  const dir = await tempDir();
  const ledger = await EmbeddedLedger.open(dir, {
    contracts: [CounterContract],
    batch: { maxTransactions: 1 },
  });
  for (let i = 0; i < 4; i++) await ledger.submit('insert', { args: [`k${i}`] });
  await ledger.close();
  assert.deepEqual(await verifyLedger(dir).then((v) => [v.ok, v.height, v.keys]), [true, 4, 4]);

  // State altered behind the ledger's back: the value of k2 (written by block 2).
  const db = new ClassicLevel<string, Uint8Array>(join(dir, 'state'), {
    keyEncoding: 'utf8',
    valueEncoding: 'view',
  });
  const entry = decode((await db.get('s!item/k2')) as Uint8Array) as { value: Uint8Array };
  await db.put('s!item/k2', encode({ ...entry, value: new TextEncoder().encode('forged') }));
  await db.close();
  const forged = await verifyLedger(dir);
  assert.deepEqual([forged.ok, forged.firstBadBlock], [false, 2], forged.problems.join('\n'));

  // A flipped byte inside block 1's record.
  const [file] = (await readdir(join(dir, 'blocks'))).filter((f) => f.endsWith('.dat'));
  const path = join(dir, 'blocks', file as string);
  const bytes = await readFile(path);
  const second = (await blockOffsets(dir))[1] as number;
  bytes[second + 40] = (bytes[second + 40] as number) ^ 0xff;
  await writeFile(path, bytes);
  const flipped = await verifyLedger(dir);
  assert.deepEqual([flipped.ok, flipped.firstBadBlock], [false, 1], flipped.problems.join('\n'));
  await assert.rejects(
    EmbeddedLedger.open(dir, { contracts: [CounterContract] }),
    (e: unknown) => e instanceof LedgerError && e.code === 'CORRUPT' && /block 1/.test(e.message),
  );
});

/** Byte offsets of each block record in the first block file (frame: magic, length, crc). */
async function blockOffsets(dir: string): Promise<number[]> {
  const [file] = (await readdir(join(dir, 'blocks'))).filter((f) => f.endsWith('.dat'));
  const bytes = await readFile(join(dir, 'blocks', file as string));
  const offsets: number[] = [];
  for (let at = 0; at < bytes.length; at += 12 + bytes.readUInt32LE(at + 4)) offsets.push(at);
  return offsets;
}

test('TAMPER: a damaged last block that the state already applied is refused, not truncated as torn', async () => {
  const dir = await tempDir();
  const ledger = await EmbeddedLedger.open(dir, {
    contracts: [CounterContract],
    batch: { maxTransactions: 1 },
  });
  for (let i = 0; i < 3; i++) await ledger.submit('insert', { args: [`k${i}`] });
  await ledger.close();
  const [file] = (await readdir(join(dir, 'blocks'))).filter((f) => f.endsWith('.dat'));
  const path = join(dir, 'blocks', file as string);
  const bytes = await readFile(path);
  bytes[bytes.length - 20] = (bytes[bytes.length - 20] as number) ^ 1;
  await writeFile(path, bytes);
  await assert.rejects(
    EmbeddedLedger.open(dir, { contracts: [CounterContract] }),
    (e: unknown) =>
      e instanceof LedgerError && e.code === 'CORRUPT' && /block 2: .*not a torn write/.test(e.message),
  );
  assert.equal((await readFile(path)).length, bytes.length, 'nothing was cut');
  // Whole block files gone while the state remembers them: refused as well.
  await writeFile(path, bytes.subarray(0, (await blockOffsets(dir))[1]));
  await assert.rejects(
    EmbeddedLedger.open(dir, { contracts: [CounterContract] }),
    (e: unknown) =>
      e instanceof LedgerError && e.code === 'CORRUPT' && /committed blocks were removed/.test(e.message),
  );
});

test('prepare: the transaction id is known before sending; after the commit the ledger returns its payload', async () => {
  const ledger = await EmbeddedLedger.open(await tempDir(), { contracts: [CounterContract] });
  const prepared = await ledger.prepare('increment');
  await assert.rejects(
    ledger.getTransaction(prepared.txId),
    (e: unknown) => e instanceof LedgerError && e.code === 'NOT_FOUND',
  );
  const committed = await prepared.submit();
  assert.equal(committed.txId, prepared.txId);
  const info = await ledger.getTransaction(prepared.txId);
  assert.deepEqual(
    [info.function, info.validationCode, new TextDecoder().decode(info.payload)],
    ['increment', 0, '1'],
  );
  await assert.rejects(prepared.submit(), /already submitted/);
  await ledger.close();
});
