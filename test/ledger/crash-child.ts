/**
 * Child process for the crash test: appends blocks forever and prints "ack <number> <run>" for
 * each block once append() has resolved (pipes to a parent are synchronous on Linux, so a printed
 * line means the block was acknowledged). The parent kills it with SIGKILL.
 */
import { BlockStore } from '../../src/ledger/block-store.ts';

const [dir, run] = process.argv.slice(2);
if (dir === undefined || run === undefined) throw new Error('usage: crash-child.ts <dir> <run>');
const store = await BlockStore.open(dir, { maxFileSize: 4096 });
process.stdout.write(`ready ${store.height}\n`);
for (let i = 0; ; i++) {
  const payload = new TextEncoder().encode(`run ${run} tx ${i} `.padEnd(300, '.'));
  const { number } = await store.append([payload], { validation: [0], timestamp: 1_700_000_000_000 + i });
  process.stdout.write(`ack ${number} ${run} ${i}\n`);
}
