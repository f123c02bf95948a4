import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decode, encode, rfc8949EncodeOptions } from 'cborg';
import { BlockStore, LedgerError, verify } from '../../src/ledger/block-store.ts';
import { checksum, FRAME_BYTES, readFrame } from '../../src/ledger/record.ts';
import { killAfterReady } from './kill.ts';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pmhe-blocks-'));
  dirs.push(dir);
  return dir;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const meta = (n: number, timestamp = 1_700_000_000_000) => ({
  validation: new Array<number>(n).fill(0),
  timestamp,
});

/** A closed store of `count` blocks of two transactions each; block i holds "block i tx j". */
async function makeStore(count: number, maxFileSize?: number): Promise<string> {
  const dir = await tempDir();
  const store = await BlockStore.open(dir, maxFileSize === undefined ? {} : { maxFileSize });
  for (let i = 0; i < count; i++)
    await store.append([text(`block ${i} tx 0`), text(`block ${i} tx 1`)], meta(2, i));
  await store.close();
  return dir;
}

/** Record boundaries of one block file, parsed independently of the store. */
function records(bytes: Uint8Array): { offset: number; end: number }[] {
  const out: { offset: number; end: number }[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const frame = readFrame(bytes, offset);
    assert.ok(frame);
    const end = offset + FRAME_BYTES + frame.length;
    out.push({ offset, end });
    offset = end;
  }
  return out;
}

const FILE0 = 'blocks-000000.dat';

test('append, read back, reopen and continue the chain', async () => {
  const dir = await tempDir();
  const store = await BlockStore.open(dir);
  assert.equal(store.height, 0);
  assert.deepEqual(store.lastHash, new Uint8Array(32));
  const first = await store.append([text('a'), text('b')], { validation: [0, 11], timestamp: 5 });
  const second = await store.append([text('c')], meta(1, 6));
  assert.deepEqual([first.number, second.number], [0, 1]);
  const block0 = await store.get(0);
  assert.deepEqual(block0.transactions, [text('a'), text('b')]);
  assert.deepEqual(block0.metadata, { validation: [0, 11], timestamp: 5 });
  assert.deepEqual(block0.previousHash, new Uint8Array(32));
  assert.deepEqual(block0.hash, first.hash);
  assert.deepEqual((await store.get(1)).previousHash, first.hash);
  assert.deepEqual(store.lastHash, second.hash);
  await store.close();

  const again = await BlockStore.open(dir);
  assert.equal(again.recovered, null);
  assert.equal(again.height, 2);
  assert.deepEqual(again.lastHash, second.hash);
  const third = await again.append([text('d')], meta(1, 7));
  assert.equal(third.number, 2);
  const seen = [];
  for await (const block of again.blocks(1)) seen.push(block.number);
  assert.deepEqual(seen, [1, 2]);
  assert.deepEqual((await again.get(2)).previousHash, second.hash);
  await again.close();
  assert.deepEqual(await verify(dir), { ok: true, height: 3, lastHash: third.hash });
});

test('concurrent appends are serialized in call order', async () => {
  const dir = await tempDir();
  const store = await BlockStore.open(dir);
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => store.append([text(`t${i}`)], meta(1))),
  );
  assert.deepEqual(
    results.map((r) => r.number),
    Array.from({ length: 20 }, (_, i) => i),
  );
  for (let i = 0; i < 20; i++) assert.deepEqual((await store.get(i)).transactions, [text(`t${i}`)]);
  await store.close();
  assert.equal((await verify(dir)).ok, true);
});

test('bad arguments are refused without touching the chain', async () => {
  const dir = await tempDir();
  const store = await BlockStore.open(dir);
  const refuse = async (fn: () => Promise<unknown>, pattern: RegExp) =>
    assert.rejects(
      fn,
      (e: unknown) => e instanceof LedgerError && e.code === 'BAD_ARGUMENT' && pattern.test(e.message),
    );
  await refuse(
    () => store.append([text('a')], { validation: [0, 0], timestamp: 1 }),
    /2 codes for 1 transactions/,
  );
  await refuse(() => store.append([text('a')], { validation: [256], timestamp: 1 }), /codes 0\.\.255/);
  await refuse(() => store.append([text('a')], { validation: [0], timestamp: -1 }), /timestamp/);
  await refuse(() => store.get(0), /no block 0: height is 0/);
  assert.equal((await store.append([text('a')], meta(1))).number, 0);
  await store.close();
  await refuse(() => store.append([text('a')], meta(1)), /closed/);
  await refuse(() => BlockStore.open(dir, { maxFileSize: 0 }), /maxFileSize/);
});

test('rolls over to the next file past the size limit', async () => {
  const dir = await makeStore(30, 512);
  const files = (await readdir(dir)).sort();
  assert.ok(files.length > 3, `expected several files, got ${files.join()}`);
  assert.deepEqual(
    files,
    files.map((_, i) => `blocks-${String(i).padStart(6, '0')}.dat`),
  );
  for (const file of files) assert.ok((await stat(join(dir, file))).size <= 512);
  const store = await BlockStore.open(dir, { maxFileSize: 512 });
  assert.equal(store.height, 30);
  let n = 0;
  for await (const block of store.blocks()) {
    assert.deepEqual(block.transactions[1], text(`block ${n} tx 1`));
    n++;
  }
  assert.equal(n, 30);
  await store.append([text('next')], meta(1));
  await store.close();
  const result = await verify(dir);
  assert.ok(result.ok);
  assert.equal(result.height, 31);
});

test('TAMPER: every single flipped byte is found by verify, naming its block', async () => {
  const dir = await makeStore(6);
  const path = join(dir, FILE0);
  const original = await readFile(path);
  const ranges = records(original);
  assert.equal(ranges.length, 6);
  assert.ok(original.length >= 200, `only ${original.length} bytes`);
  for (let at = 0; at < original.length; at++) {
    const block = ranges.findIndex((r) => at >= r.offset && at < r.end);
    const tampered = Buffer.from(original);
    tampered[at] = (tampered[at] as number) ^ 0x01;
    await writeFile(path, tampered);
    const result = await verify(dir);
    assert.equal(result.ok, false, `flip at ${at} not detected`);
    if (!result.ok) {
      assert.equal(result.block, block, `flip at ${at}: ${result.reason}`);
      assert.equal(result.offset, ranges[block]?.offset);
      assert.equal(result.file, FILE0);
      assert.match(result.reason, new RegExp(`^block ${block}: `));
    }
  }
  await writeFile(path, original);
  assert.equal((await verify(dir)).ok, true);
});

/** Rewrites block `n`'s body with `edit` and fixes its CRC, as a careful forger would. */
async function forge(dir: string, n: number, edit: (body: Record<string, unknown>) => void): Promise<void> {
  const path = join(dir, FILE0);
  const bytes = await readFile(path);
  const range = records(bytes)[n];
  assert.ok(range);
  const body = decode(bytes.subarray(range.offset + FRAME_BYTES, range.end)) as Record<string, unknown>;
  edit(body);
  const newBody = encode(body, rfc8949EncodeOptions);
  const frame = Buffer.alloc(FRAME_BYTES);
  bytes.copy(frame, 0, range.offset, range.offset + 4);
  frame.writeUInt32LE(newBody.length, 4);
  frame.writeUInt32LE(checksum(newBody), 8);
  await writeFile(
    path,
    Buffer.concat([bytes.subarray(0, range.offset), frame, newBody, bytes.subarray(range.end)]),
  );
}

test('TAMPER with a fixed CRC: the hash chain names the block', async () => {
  const altered = text('block 3 tx 0 (altered)');
  const cases: [string, (body: Record<string, unknown>) => void, RegExp][] = [
    ['transaction', (b) => ((b.transactions as Uint8Array[])[0] = altered), /^block 3: dataHash mismatch/],
    [
      'transaction and dataHash',
      (b) => {
        (b.transactions as Uint8Array[])[0] = altered;
        b.dataHash = new Uint8Array(
          createHash('sha256').update(encode(b.transactions, rfc8949EncodeOptions)).digest(),
        );
      },
      /^block 4: previousHash does not match block 3's hash/,
    ],
    ['number', (b) => (b.number = 7), /^block 3: number is 7, expected 3/],
    [
      'validation codes',
      (b) => (b.metadata = { validation: [0], timestamp: 3 }),
      /^block 3: 1 validation codes for 2/,
    ],
  ];
  for (const [what, edit, pattern] of cases) {
    const dir = await makeStore(6);
    await forge(dir, 3, edit);
    const result = await verify(dir);
    assert.equal(result.ok, false, what);
    if (!result.ok) assert.match(result.reason, pattern, what);
    await assert.rejects(
      BlockStore.open(dir),
      (e: unknown) => e instanceof LedgerError && e.code === 'CORRUPT',
    );
  }
});

test('a torn tail is cut away on open; earlier blocks stay intact and appendable', async () => {
  const reference = await makeStore(5);
  const original = await readFile(join(reference, FILE0));
  const last = records(original)[4];
  assert.ok(last);
  const cuts = [
    last.offset + 1,
    last.offset + 7,
    last.offset + FRAME_BYTES,
    last.offset + FRAME_BYTES + 5,
    last.end - 1,
  ];
  const variants: [string, Uint8Array][] = cuts.map((cut) => [`cut at ${cut}`, original.subarray(0, cut)]);
  variants.push(['garbage appended', Buffer.concat([original, Buffer.alloc(37, 0xab)])]);
  variants.push(['zeros appended', Buffer.concat([original, Buffer.alloc(FRAME_BYTES + 40)])]);
  for (const [what, bytes] of variants) {
    const dir = await tempDir();
    await writeFile(join(dir, FILE0), bytes);
    const before = await verify(dir);
    assert.equal(before.ok, false, what);
    const store = await BlockStore.open(dir);
    const expectedHeight = bytes.length > original.length ? 5 : 4;
    assert.equal(store.height, expectedHeight, what);
    assert.ok(store.recovered, what);
    assert.equal(store.recovered.lastGoodBlock, expectedHeight - 1, what);
    assert.equal(
      store.recovered.truncatedBytes,
      Math.abs(bytes.length - (expectedHeight === 5 ? original.length : last.offset)),
      what,
    );
    assert.equal(
      (await stat(join(dir, FILE0))).size,
      expectedHeight === 5 ? original.length : last.offset,
      what,
    );
    for (let i = 0; i < expectedHeight; i++)
      assert.deepEqual((await store.get(i)).transactions[0], text(`block ${i} tx 0`));
    assert.equal((await store.append([text('after')], meta(1))).number, expectedHeight, what);
    await store.close();
    assert.equal((await verify(dir)).ok, true, what);
    const reopened = await BlockStore.open(dir);
    assert.equal(reopened.recovered, null);
    await reopened.close();
  }
});

test('corruption before the tail makes open fail, naming block and offset, and changes nothing', async () => {
  const dir = await makeStore(5);
  const path = join(dir, FILE0);
  const original = await readFile(path);
  const ranges = records(original);
  const block2 = ranges[2];
  assert.ok(block2);
  const positions = [block2.offset, block2.offset + 5, block2.offset + 9, block2.offset + 20, block2.end - 1];
  for (const at of positions) {
    const tampered = Buffer.from(original);
    tampered[at] = (tampered[at] as number) ^ 0x80;
    await writeFile(path, tampered);
    await assert.rejects(
      BlockStore.open(dir),
      (e: unknown) =>
        e instanceof LedgerError &&
        e.code === 'CORRUPT' &&
        e.message.startsWith('block 2: ') &&
        e.message.includes(`${FILE0} at offset ${block2.offset}`),
      `flip at ${at}`,
    );
    assert.deepEqual(await readFile(path), tampered, 'open must not truncate');
  }
  // A whole last record whose length field was changed is tampering too, not a torn write.
  const lastRange = ranges[4];
  assert.ok(lastRange);
  const longer = Buffer.from(original);
  longer.writeUInt32LE(lastRange.end - lastRange.offset, lastRange.offset + 4);
  await writeFile(path, longer);
  await assert.rejects(BlockStore.open(dir), /block 4: short body/);
  // A missing file in the middle.
  const rolled = await makeStore(20, 300);
  await rm(join(rolled, 'blocks-000001.dat'));
  await assert.rejects(BlockStore.open(rolled), /file blocks-000001\.dat is missing/);
});

test('CRASH: SIGKILL at random moments loses no acknowledged block', async (t) => {
  const dir = await tempDir();
  const acked = new Map<number, string>();
  let recoveries = 0;
  for (let run = 0; run < 5; run++) {
    const out = await killAfterReady(
      new URL('./crash-child.ts', import.meta.url),
      [dir, String(run)],
      [50, 300],
      15_000,
    );
    for (const line of out) {
      const m = /^ack (\d+) (\d+) (\d+)$/.exec(line);
      if (m) acked.set(Number(m[1]), `run ${m[2]} tx ${m[3]} `);
    }
    const store = await BlockStore.open(dir, { maxFileSize: 4096 });
    if (store.recovered) recoveries++;
    const seen = new Map<string, number>();
    let n = 0;
    for await (const block of store.blocks()) {
      assert.equal(block.number, n++);
      const tx = new TextDecoder().decode(block.transactions[0]).replace(/\.+$/, '');
      seen.set(tx, (seen.get(tx) ?? 0) + 1);
    }
    for (const [number, tx] of acked) {
      assert.ok(number < store.height, `acknowledged block ${number} lost (height ${store.height})`);
      assert.equal(seen.get(tx), 1, `${tx} should be stored exactly once`);
      const block = await store.get(number);
      assert.equal(new TextDecoder().decode(block.transactions[0]).replace(/\.+$/, ''), tx);
    }
    await store.close();
    const result = await verify(dir);
    assert.ok(result.ok, result.ok ? '' : result.reason);
  }
  assert.ok(acked.size > 0, 'the child acknowledged nothing');
  t.diagnostic(`acknowledged ${acked.size} blocks, ${recoveries} torn tails recovered`);
});

test('get() of a block altered after open fails with CORRUPT', async () => {
  const dir = await makeStore(3);
  const store = await BlockStore.open(dir);
  const path = join(dir, FILE0);
  const bytes = await readFile(path);
  const range = records(bytes)[1];
  assert.ok(range);
  bytes[range.end - 3] = (bytes[range.end - 3] as number) ^ 0xff;
  await writeFile(path, bytes);
  await assert.rejects(
    store.get(1),
    (e: unknown) => e instanceof LedgerError && /^block 1: CRC mismatch/.test(e.message),
  );
  assert.equal((await store.get(0)).number, 0);
  await store.close();
});
