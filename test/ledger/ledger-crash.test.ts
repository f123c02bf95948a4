import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EmbeddedLedger } from '../../src/ledger/embedded.ts';
import { TX_VALID } from '../../src/ledger/ledger.ts';
import { decodeTx } from '../../src/ledger/transaction.ts';
import { verifyLedger } from '../../src/ledger/verify.ts';
import { tempDir } from './fixtures.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const child = fileURLToPath(new URL('./ledger-crash-child.ts', import.meta.url));

/** Runs the child until it has acknowledged for a random while, then SIGKILLs it. */
async function runChild(dir: string, run: number): Promise<{ acked: string[]; ready: string }> {
  const proc = spawn(join(root, 'node_modules/.bin/node'), ['--import', 'tsx', child, dir, String(run)], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    proc.on('exit', (_code, signal) => resolve(signal)),
  );
  proc.stdout.on('data', (d: Buffer) => {
    if (!out.includes('ready') && `${out}${d}`.includes('ready')) {
      setTimeout(() => proc.kill('SIGKILL'), 400 + Math.floor(Math.random() * 1600));
    }
    out += d;
  });
  const guard = setTimeout(() => proc.kill('SIGKILL'), 60_000);
  const signal = await exited;
  clearTimeout(guard);
  assert.equal(signal, 'SIGKILL', `child failed: ${err}`);
  const lines = out.split('\n');
  const ready = lines.find((l) => l.startsWith('ready')) ?? '';
  assert.ok(ready, `child never got ready: ${err}`);
  return { ready, acked: lines.flatMap((l) => (/^ack [0-9a-f]{64}$/.test(l) ? [l.slice(4)] : [])) };
}

test('CRASH: 1,000+ receive transactions under SIGKILL: every acknowledged one is committed exactly once', async () => {
  const dir = await tempDir('crash');
  const acked: string[] = [];
  let runs = 0;
  while (acked.length < 1000 || runs < 4) {
    assert.ok(runs < 40, `only ${acked.length} acknowledged in ${runs} runs`);
    acked.push(...(await runChild(dir, runs++)).acked);
  }
  const verdict = await verifyLedger(dir);
  assert.ok(verdict.ok, verdict.problems.join('\n'));
  const ledger = await EmbeddedLedger.open(dir);
  const committed = new Map<string, number>();
  for (let n = 0; n < (await ledger.height()); n++) {
    const block = await ledger.block(n);
    for (const [i, bytes] of block.transactions.entries()) {
      const tx = decodeTx(bytes);
      if (block.metadata.validation[i] === TX_VALID && tx.function === 'receive') {
        committed.set(tx.txId, (committed.get(tx.txId) ?? 0) + 1);
      }
    }
  }
  for (const txId of acked)
    assert.equal(committed.get(txId), 1, `acknowledged ${txId} committed ${committed.get(txId) ?? 0} times`);
  assert.ok(committed.size >= acked.length);
  await ledger.close();
});
