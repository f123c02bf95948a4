/**
 * Backups (docs/operations.md): a consistent snapshot of the server's database and embedded
 * ledger while it runs, and its restoration into a new data folder.
 *
 * Consistent: the committer finishes its transactions in flight and pauses, and the writes the
 * server sends to the ledger itself (registrations, grants, shares, closing) wait at a gate, so
 * no transaction is half recorded; then the database is dumped (PGlite's data directory, or
 * pg_dump for PostgreSQL), then the ledger's blocks are copied. Uploads keep being accepted
 * meanwhile. A Fabric ledger is not copied: its peers keep their own (docs/operations.md).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { EmbeddedLedger } from '../ledger/embedded.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { Committer } from './committer.ts';
import type { OpenedDatabase } from './db/database.ts';
import { HttpError } from './errors.ts';

export interface BackupManifest {
  format: 1;
  createdAt: string;
  database: 'pglite' | 'postgresql';
  ledger: 'embedded' | 'fabric';
  /** The embedded ledger's height in the backup (blocks 0 … height − 1). */
  height: number | null;
  /** Every file of the backup but this manifest, with its size and SHA-256. */
  files: { path: string; bytes: number; sha256: string }[];
}

const MANIFEST = 'manifest.json';
const PGLITE_DUMP = 'database.tar.gz';
const PG_DUMP = 'database.pgdump';

/** Writers that may run together, or one snapshot alone (the ledger's direct writes and a backup). */
export class WriteGate {
  #writers = 0;
  #snapshot: Promise<void> | null = null;
  #idle: (() => void)[] = [];

  async write<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#snapshot) await this.#snapshot;
    this.#writers++;
    try {
      return await fn();
    } finally {
      if (--this.#writers === 0) for (const wake of this.#idle.splice(0)) wake();
    }
  }

  async alone<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#snapshot) await this.#snapshot;
    let release = () => {};
    this.#snapshot = new Promise<void>((resolve) => (release = resolve));
    try {
      while (this.#writers > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
      return await fn();
    } finally {
      this.#snapshot = null;
      release();
    }
  }
}

const gates = new WeakMap<Ledger, WriteGate>();

/** The gate of the server's writes to this ledger (one per ledger, whoever writes). */
export function writeGate(ledger: Ledger): WriteGate {
  const gate = gates.get(ledger) ?? new WriteGate();
  gates.set(ledger, gate);
  return gate;
}

export interface BackupSources {
  database: OpenedDatabase;
  databaseUrl?: string;
  ledger: Ledger;
  committer: Committer;
}

/** Takes a backup into `dir` (absolute; absent or empty) while the server runs. */
export async function backup(sources: BackupSources, dir: string): Promise<BackupManifest> {
  if (!isAbsolute(dir))
    throw new HttpError(400, 'BAD_FIELD', `dir: "${dir}" is not an absolute path on the server`);
  const existing = await readdir(dir).catch(() => []);
  if (existing.length > 0) throw new HttpError(409, 'BACKUP_EXISTS', `dir: ${dir} is not empty`);
  // Not recursive: its parent must exist (a recursive mkdir under a file hung Node 22 here).
  await mkdir(dir, { mode: 0o700 }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw new HttpError(400, 'BAD_FIELD', `dir: cannot create ${dir}: ${(error as Error).message}`);
  });
  const { database, ledger } = sources;
  let height: number | null = null;
  const resume = await sources.committer.pause();
  try {
    await writeGate(ledger).alone(async () => {
      // The database first: a transaction it names is then always in the blocks copied after it.
      if (database.pglite) {
        const dump = await database.pglite.dumpDataDir('gzip');
        await writeFile(join(dir, PGLITE_DUMP), new Uint8Array(await dump.arrayBuffer()), { mode: 0o600 });
      } else {
        await run('pg_dump', ['--format=custom', '--file', join(dir, PG_DUMP), sources.databaseUrl ?? '']);
      }
      if (ledger instanceof EmbeddedLedger) height = await ledger.snapshot(join(dir, 'ledger'));
    });
  } catch (error) {
    // A full disk or an unwritable file is the operator's to fix, said as such (never a 500).
    if (error instanceof HttpError) throw error;
    throw new HttpError(503, 'BACKUP_FAILED', `writing the backup into ${dir}: ${(error as Error).message}`);
  } finally {
    resume();
  }
  const manifest: BackupManifest = {
    format: 1,
    createdAt: new Date().toISOString(),
    database: database.kind,
    ledger: ledger instanceof EmbeddedLedger ? 'embedded' : 'fabric',
    height,
    files: await filesOf(dir),
  };
  await writeFile(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  return manifest;
}

/**
 * Restores a backup into a new data folder (the server stopped): the ledger's blocks (its state
 * is rebuilt from them on start) and the database, into PGlite there, or with pg_restore into
 * the empty PostgreSQL database at `databaseUrl`. Every file is checked against the manifest
 * first; nothing is written if one differs.
 */
export async function restore(
  dir: string,
  target: { dataDir: string; databaseUrl?: string },
): Promise<BackupManifest> {
  const manifest = JSON.parse(
    await readFile(join(dir, MANIFEST), 'utf8').catch((error: unknown) => {
      throw new Error(`${dir}: no backup manifest (${(error as Error).message})`);
    }),
  ) as BackupManifest;
  if (manifest.format !== 1)
    throw new Error(`${dir}: backup format ${manifest.format}, not one this version reads`);
  const found = new Map((await filesOf(dir)).filter((f) => f.path !== MANIFEST).map((f) => [f.path, f]));
  for (const f of manifest.files) {
    const here = found.get(f.path);
    if (!here || here.sha256 !== f.sha256)
      throw new Error(`${dir}/${f.path}: ${here ? 'altered' : 'missing'} since the backup`);
  }
  if ((await readdir(target.dataDir).catch(() => [])).length > 0) {
    throw new Error(`${target.dataDir} is not empty: restore into a new data folder`);
  }
  if (manifest.database === 'postgresql' && !target.databaseUrl) {
    throw new Error(
      'the backup holds a PostgreSQL dump: give the empty database to restore it into (--database-url)',
    );
  }
  await mkdir(target.dataDir, { recursive: true, mode: 0o700 });
  if (manifest.ledger === 'embedded')
    await cp(join(dir, 'ledger'), join(target.dataDir, 'ledger'), { recursive: true });
  if (manifest.database === 'pglite') {
    const dump = await readFile(join(dir, PGLITE_DUMP));
    const db = new PGlite(join(target.dataDir, 'db'), { loadDataDir: new Blob([dump]) });
    await db.waitReady;
    await db.close();
  } else {
    await run('pg_restore', [
      '--no-owner',
      '--exit-on-error',
      '--dbname',
      target.databaseUrl ?? '',
      join(dir, PG_DUMP),
    ]);
  }
  return manifest;
}

async function filesOf(dir: string): Promise<BackupManifest['files']> {
  const out: BackupManifest['files'] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || entry.name === MANIFEST) continue;
    const path = join(entry.parentPath, entry.name).slice(dir.length + 1);
    const bytes = await readFile(join(dir, path));
    out.push({ path, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** Runs a PostgreSQL client tool, naming it when it is missing or fails. */
function run(tool: 'pg_dump' | 'pg_restore', args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', (error) =>
      reject(
        new HttpError(503, 'BACKUP_FAILED', `${tool}: ${error.message} (install Debian's postgresql-client)`),
      ),
    );
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(
            new HttpError(503, 'BACKUP_FAILED', `${tool} exited ${code}: ${stderr.trim().slice(0, 500)}`),
          ),
    );
  });
}
