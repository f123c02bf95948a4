/** Crash tests: a child process killed with SIGKILL at a random moment after it is ready. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Runs a child script (TypeScript, through tsx) until it prints "ready", lets it work for a random
 * delay in [min, max) ms, then SIGKILLs it. Returns its stdout lines; fails if it never got ready
 * or died some other way.
 */
export async function killAfterReady(
  script: URL,
  args: string[],
  [min, max]: [number, number],
  guardMs: number,
): Promise<string[]> {
  const proc = spawn(
    join(root, 'node_modules/.bin/node'),
    ['--import', 'tsx', fileURLToPath(script), ...args],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    proc.on('exit', (_code, signal) => resolve(signal)),
  );
  proc.stdout.on('data', (d: Buffer) => {
    if (!out.includes('ready') && `${out}${d}`.includes('ready')) {
      setTimeout(() => proc.kill('SIGKILL'), min + Math.floor(Math.random() * (max - min)));
    }
    out += d;
  });
  // A guard so that a child that never gets ready cannot hang the suite.
  const guard = setTimeout(() => proc.kill('SIGKILL'), guardMs);
  const signal = await exited;
  clearTimeout(guard);
  assert.equal(signal, 'SIGKILL', `child did not run: ${err}`);
  assert.ok(out.includes('ready'), `child never got ready: ${err}`);
  return out.split('\n');
}
