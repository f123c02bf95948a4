import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { EmbeddedLedger } from '../../src/ledger/embedded.ts';
import { CounterContract, tempDir } from '../ledger/fixtures.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

async function pmhe(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const run = promisify(execFile);
  try {
    const { stdout, stderr } = await run(
      join(root, 'node_modules/.bin/node'),
      ['--import', 'tsx', 'src/cli/pmhe.ts', ...args],
      { cwd: root },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('pmhe ledger verify: exit 0 and a summary on a sound ledger, exit 1 naming the block on a damaged one', async () => {
  const dir = await tempDir('cli');
  const ledger = await EmbeddedLedger.open(dir, {
    contracts: [CounterContract],
    batch: { maxTransactions: 1 },
  });
  for (let i = 0; i < 3; i++) await ledger.submit('insert', { args: [`k${i}`] });
  await ledger.close();

  const sound = await pmhe('ledger', 'verify', dir, '--json');
  assert.equal(sound.code, 0, sound.stderr);
  assert.deepEqual((({ ok, height, keys }) => ({ ok, height, keys }))(JSON.parse(sound.stdout)), {
    ok: true,
    height: 3,
    keys: 3,
  });
  const human = await pmhe('ledger', 'verify', dir);
  assert.match(human.stdout, /OK — 3 blocks, 3 transactions, 3 keys/);

  const [file] = await readdir(join(dir, 'blocks'));
  const path = join(dir, 'blocks', file as string);
  const bytes = await readFile(path);
  bytes[bytes.length - 20] = (bytes[bytes.length - 20] as number) ^ 1;
  await writeFile(path, bytes);
  const damaged = await pmhe('ledger', 'verify', dir);
  assert.equal(damaged.code, 1);
  assert.match(damaged.stdout, /DAMAGED — first bad block 2/);

  const missing = await pmhe('ledger', 'verify', join(dir, 'nothing-here'));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /pmhe ledger verify: IO: cannot list/);
});
