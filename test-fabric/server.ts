/**
 * `pmhe server start` as a child process (Node 22 from node_modules, tsx), its output appended to
 * a log file; on Fabric with `fabric` (a connection file), else on the embedded ledger.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exited, freePort, scrapeMetrics, spawnServer } from '../src/server/spawn.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface PmheServer {
  url: string;
  child: ChildProcess;
  log: string;
  /** The committer's counters and the ledger height, from /metrics. */
  metrics(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startPmheServer(options: {
  dataDir: string;
  log: string;
  fabric?: string;
}): Promise<PmheServer> {
  const port = await freePort();
  const file = createWriteStream(options.log, { flags: 'a' });
  const extra = ['--no-web', ...(options.fabric ? ['--fabric', options.fabric] : [])];
  const child = await spawnServer(options.dataDir, port, extra, {
    logLevel: 'info',
    output: (d) => file.write(d),
  }).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}\n(see ${options.log})`);
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    child,
    log: options.log,
    async metrics() {
      const text = await scrapeMetrics(url, options.dataDir);
      return text
        .split('\n')
        .filter((l) => /^pmhe_(committer_total|ledger_height|submissions_backlog)/.test(l));
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited(child);
      clearTimeout(timer);
      file.end();
    },
  };
}

export interface ChannelCheck {
  /** The command as run, for messages. */
  command: string;
  code: number | null;
  /** `--json`'s verdict (src/ledger/fabric/verify.ts ChannelVerdict, or { ok: false, error }). */
  verdict: {
    ok: boolean;
    height?: number;
    transactions?: number;
    claims?: number;
    firstBadBlock?: number | null;
    problems?: string[];
    error?: string;
  } | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/**
 * `pmhe ledger verify --fabric <connection> --data-dir <dir> --json` as a child process
 * (node_modules/.bin/tsx run by the project's Node 22): every block of the channel chained and
 * hashed, and every transaction the server's database (PGlite in `dataDir`, the server stopped)
 * records as committed valid on the channel.
 */
export async function verifyChannelAgainst(connectionFile: string, dataDir: string): Promise<ChannelCheck> {
  const args = ['ledger', 'verify', '--fabric', connectionFile, '--data-dir', dataDir, '--json'];
  const command = `tsx src/cli/pmhe.ts ${args.join(' ')}`;
  const start = performance.now();
  const child = spawn(
    join(ROOT, 'node_modules/.bin/node'),
    [join(ROOT, 'node_modules/.bin/tsx'), 'src/cli/pmhe.ts', ...args],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      // tsx's `#!/usr/bin/env node` and anything it starts find Node 22, never the system's.
      env: { ...process.env, PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH ?? ''}` },
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d));
  child.stderr?.on('data', (d: Buffer) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null));
    child.once('exit', (status) => resolve(status));
  });
  let verdict: ChannelCheck['verdict'] = null;
  const json = stdout.slice(stdout.indexOf('{'));
  try {
    verdict = JSON.parse(json) as NonNullable<ChannelCheck['verdict']>;
  } catch {
    // left null: the caller reports stdout and stderr
  }
  return { command, code, verdict, stdout, stderr, seconds: (performance.now() - start) / 1000 };
}

/**
 * The server log's failures, grouped: each distinct message (transaction ids, ephemeral ports
 * and hashes blanked) with how often it came, most frequent first.
 */
export async function logSummary(file: string, top = 15): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let entry: {
      level?: number;
      msg?: string;
      error?: unknown;
      reason?: unknown;
      err?: { message?: string };
    };
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    const error = entry.error ?? entry.reason ?? entry.err?.message;
    if ((entry.level ?? 0) < 40 && error === undefined) continue;
    const key = normalise(`${entry.msg ?? ''}${error === undefined ? '' : ` | ${String(error)}`}`);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([message, n]) => `${n}× ${message}`);
}

/** A message with its transaction ids, hashes and ephemeral ports blanked, to group alike ones. */
export function normalise(message: string): string {
  return (
    message
      .replace(/[0-9a-f]{64}/g, '…')
      .replace(/\[[0-9a-f]{8}\]/g, '[…]')
      .replace(/transaction [0-9a-f]{8,}/g, 'transaction …')
      .replace(/127\.0\.0\.1:\d{5}->/g, '127.0.0.1:…->')
      // Fabric's "chaincode server not there" chain, in one phrase.
      .replace(
        /could not launch chaincode (\S+?):…: (?:chaincode registration failed: )?connection to .*?dial tcp (\S+): connect: connection refused"/g,
        'could not launch chaincode $1 (dial $2: connection refused)',
      )
  );
}
