/**
 * Tests clean up after themselves: a folder from tempDir is gone once its test process exits
 * (`npm test` used to leave about 36 of them, ~620 MB, in the temp dir).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('a temp folder made by a test is deleted when its process exits', () => {
  const script = `
    import { writeFile } from 'node:fs/promises';
    import { join } from 'node:path';
    import { tempDir } from './test/ledger/fixtures.ts';
    const dir = await tempDir('cleanup-check');
    await writeFile(join(dir, 'data'), 'x'.repeat(1000));
    console.log(dir);`;
  const run = spawnSync(
    join(root, 'node_modules/.bin/node'),
    ['--import', 'tsx', '--input-type=module', '-e', script],
    {
      cwd: root,
      encoding: 'utf8',
    },
  );
  assert.equal(run.status, 0, run.stderr);
  const dir = run.stdout.trim();
  assert.match(dir, /pmhe-cleanup-check-/);
  assert.equal(existsSync(dir), false, `${dir} was left behind`);
});
