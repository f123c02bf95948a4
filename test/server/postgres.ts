/**
 * A PostgreSQL server for the tests: Debian's `postgresql` (installed by .ci/run), initialised in
 * a temp directory and started on a loopback port, as the `postgres` user when we are root (the
 * server refuses to run as root). Stopped and removed afterwards.
 */
import { execFile, spawn } from 'node:child_process';
import { chmod, chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../../src/server/spawn.ts';

const run = promisify(execFile);

export interface PostgresServer {
  url: string;
  /** The cluster's data directory (the secrecy test searches its files). */
  dataDir: string;
  stop(): Promise<void>;
}

/** The newest installed PostgreSQL's bin directory, or undefined. */
export async function postgresBin(): Promise<string | undefined> {
  try {
    const versions = (await readdir('/usr/lib/postgresql')).sort((a, b) => Number(b) - Number(a));
    return versions[0] ? join('/usr/lib/postgresql', versions[0], 'bin') : undefined;
  } catch {
    return undefined;
  }
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = await postgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed (apt-get install -y postgresql; .ci/run does)');
  const dir = await mkdtemp(join(tmpdir(), 'pmhe-pg-'));
  const root = process.getuid?.() === 0;
  const { stdout: uid } = root ? await run('id', ['-u', 'postgres']) : { stdout: '' };
  const { stdout: gid } = root ? await run('id', ['-g', 'postgres']) : { stdout: '' };
  if (root) {
    await chown(dir, Number(uid), Number(gid));
    await chmod(dir, 0o700);
  }
  const as = (cmd: string, args: string[]) =>
    (root ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]) as [string, string[]];
  await run(
    ...as(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '-E', 'UTF8']),
  );
  const port = await freePort();
  const [cmd, args] = as(join(bin, 'postgres'), [
    '-D',
    join(dir, 'data'),
    '-p',
    String(port),
    '-h',
    '127.0.0.1',
    '-k',
    dir,
    '-c',
    'fsync=off',
    '-c',
    'max_connections=50',
  ]);
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d: Buffer) => (log += d));
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  for (let i = 0; ; i++) {
    try {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.end();
      break;
    } catch (error) {
      if (i > 100 || proc.exitCode !== null)
        throw new Error(`PostgreSQL did not start: ${(error as Error).message}\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    dataDir: join(dir, 'data'),
    async stop() {
      const exited = new Promise((r) => (proc.exitCode !== null ? r(null) : proc.on('exit', r)));
      await run(...as(join(bin, 'pg_ctl'), ['-D', join(dir, 'data'), 'stop', '-m', 'fast', '-w'])).catch(() =>
        proc.kill('SIGKILL'),
      );
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
