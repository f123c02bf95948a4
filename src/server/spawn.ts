/**
 * `pmhe server start` as a child process on a free loopback port: for the fault test, the load
 * benchmark and the demo, which need the server's memory and crashes to be its own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts the server (Node from node_modules, TypeScript through tsx); resolves once it listens. */
export interface SpawnOptions {
  /** pino level of the child (warn by default). */
  logLevel?: string;
  /** Everything the child prints, as it comes (e.g. to a log file). */
  output?: (chunk: Buffer) => void;
  /** Environment added to this process's (e.g. DATABASE_URL). */
  env?: Record<string, string>;
}

export async function spawnServer(
  dataDir: string,
  port: number,
  extra: string[] = [],
  options: SpawnOptions = {},
): Promise<ChildProcess> {
  const child = spawn(
    join(root, 'node_modules/.bin/node'),
    [
      // e.g. PMHE_SERVER_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the server
      ...(process.env.PMHE_SERVER_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? []),
      '--import',
      'tsx',
      'src/cli/pmhe.ts',
      'server',
      'start',
      '--port',
      String(port),
      '--data-dir',
      dataDir,
      '--log-level',
      options.logLevel ?? 'warn',
      ...extra,
    ],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      // glibc's per-thread malloc arenas fragment under the threads' ciphertext buffers: the load
      // benchmark's server peaked at 1,397 MiB with two arenas against 1,558–1,650 MiB without.
      env: { MALLOC_ARENA_MAX: '2', ...process.env, ...options.env },
    },
  );
  let out = '';
  const keep = (d: Buffer) => {
    options.output?.(d);
    if (out.length < 100_000) out += d;
  };
  child.stderr?.on('data', keep);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      keep(d);
      if (out.includes('listening on')) resolve();
    });
    child.on('exit', (code) =>
      reject(new Error(`the server exited (${code}) before listening: ${out.slice(-2000)}`)),
    );
  });
  return child;
}

/** Resolves when the child has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** A spawned server's /metrics, scraped with the bearer token it keeps in its data folder. */
export async function scrapeMetrics(base: string, dataDir: string): Promise<string> {
  const token = (await readFile(join(dataDir, 'metrics-token'), 'utf8')).trim();
  const reply = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  if (!reply.ok) throw new Error(`${base}/metrics: ${reply.status} ${await reply.text()}`);
  return reply.text();
}
