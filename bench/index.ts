/** `npm run bench`: every benchmark in turn, each in its own process (they measure memory and exit). */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
for (const name of ['paper', 'presets', 'ledger', 'server', 'client', 'sharing']) {
  process.stderr.write(`\n== bench:${name} ==\n`);
  const run = spawnSync(join(root, 'node_modules/.bin/node'), ['--import', 'tsx', `bench/${name}.ts`], {
    cwd: root,
    stdio: 'inherit',
  });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
