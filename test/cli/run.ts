/** Runs `pmhe` as a real process (Node 22 from node_modules, tsx), as the CLI tests do. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function pmhe(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(
      join(root, 'node_modules/.bin/node'),
      ['--import', 'tsx', 'src/cli/pmhe.ts', ...args],
      {
        cwd: root,
        env: { ...process.env, PMHE_PASSPHRASE: 'a passphrase for the cli test', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export const json = <T>(run: Run): T => {
  assert.equal(run.code, 0, `exit ${run.code}: ${run.stderr}${run.stdout}`);
  return JSON.parse(run.stdout) as T;
};
