import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EmbeddedLedger } from '../../src/ledger/embedded.ts';
import { TX_VALID } from '../../src/ledger/ledger.ts';
import { decodeTx } from '../../src/ledger/transaction.ts';
import { verifyLedger } from '../../src/ledger/verify.ts';
import { tempDir } from './fixtures.ts';
import { killAfterReady } from './kill.ts';

/** Runs the child until it has acknowledged for a random while, then SIGKILLs it. */
async function runChild(dir: string, run: number): Promise<string[]> {
  const lines = await killAfterReady(
    new URL('./ledger-crash-child.ts', import.meta.url),
    [dir, String(run)],
    [400, 2000],
    60_000,
  );
  return lines.flatMap((l) => (/^ack [0-9a-f]{64}$/.test(l) ? [l.slice(4)] : []));
}

test('CRASH: 1,000+ receive transactions under SIGKILL: every acknowledged one is committed exactly once', async () => {
  const dir = await tempDir('crash');
  const acked: string[] = [];
  let runs = 0;
  while (acked.length < 1000 || runs < 4) {
    assert.ok(runs < 40, `only ${acked.length} acknowledged in ${runs} runs`);
    acked.push(...(await runChild(dir, runs++)));
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
