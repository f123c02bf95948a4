/**
 * The server's database: PGlite in a data directory by default (nothing to install), a
 * PostgreSQL server when DATABASE_URL is set. One query layer (Kysely) over both; migrations are
 * the files in ./migrations, applied in order on open.
 */

import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, PostgresDialect, sql } from 'kysely';
import { FileMigrationProvider, Migrator } from 'kysely/migration';
import pg from 'pg';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;

export interface DatabaseOptions {
  /** postgres://… : a PostgreSQL server. Otherwise PGlite in `dataDir` (in memory when omitted). */
  url?: string;
  dataDir?: string;
  /** PostgreSQL pool size. */
  maxConnections?: number;
}

export interface OpenedDatabase {
  db: Db;
  kind: 'pglite' | 'postgresql';
  /** The PGlite instance under `db` (for its data-directory dumps), when kind is pglite. */
  pglite?: PGlite;
  /** Migrations applied by this open. */
  migrated: string[];
}

const MIGRATIONS = fileURLToPath(new URL('./migrations', import.meta.url));

/**
 * PGlite turns bytea into hex one byte at a time in JavaScript (Array.from(…).map(…).join), which
 * took most of the server's main thread under load (envelopes and results are tens to hundreds
 * of kilobytes): Node's native hex codec instead.
 */
const BYTEA_OID = 17;
const BYTEA = { [BYTEA_OID]: (value: unknown) => `\\x${Buffer.from(value as Uint8Array).toString('hex')}` };
const BYTEA_PARSER = {
  [BYTEA_OID]: (text: string) => new Uint8Array(Buffer.from(text.slice(2), 'hex')),
};

/**
 * PostgreSQL's default 128 MB of shared buffers is resident in PGlite's WebAssembly memory (an
 * idle server measured 320 MiB for PGlite, 193 MiB with 16 MB). The server's rows are small and
 * an envelope is read once, so a cache of that size buys nothing.
 */
const PGLITE_CONF = 'shared_buffers = 16MB';

/**
 * Creating a PGlite data directory runs initdb inside the same WebAssembly memory, which never
 * shrinks: a server started on a new folder stayed 418 MiB larger (856 against 438 MiB idle)
 * than the same server reopened. A new folder is therefore created by a PGlite of its own, closed
 * before the server's opens it.
 */
async function createPgliteDir(dataDir: string): Promise<void> {
  try {
    await fs.access(path.join(dataDir, 'PG_VERSION'));
    return;
  } catch {
    // a new folder
  }
  // In a thread of its own: closing a PGlite does not give its memory back, ending a thread does.
  const worker = new Worker(
    `const { workerData: w, parentPort } = require('node:worker_threads');
     import(w.pglite).then(async ({ PGlite }) => {
       const db = new PGlite(w.dataDir, { postgresqlconf: w.conf });
       await db.waitReady;
       await db.close();
       parentPort.postMessage('ok');
     }).catch((e) => parentPort.postMessage(String(e?.message ?? e)));`,
    {
      eval: true,
      workerData: { dataDir, conf: PGLITE_CONF, pglite: import.meta.resolve('@electric-sql/pglite') },
    },
  );
  const [answer] = (await once(worker, 'message')) as [string];
  await worker.terminate();
  if (answer !== 'ok') throw new Error(`creating the PGlite database in ${dataDir}: ${answer}`);
}

/**
 * A PostgreSQL pool that survives the server restarting: an idle connection it closes is an
 * 'error' on the pool, which would end the process unheard; the pool makes a new one when asked.
 */
function postgresPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', (error) => process.emitWarning(`PostgreSQL closed an idle connection: ${error.message}`));
  return pool;
}

export async function openDatabase(options: DatabaseOptions = {}): Promise<OpenedDatabase> {
  const kind = options.url ? 'postgresql' : 'pglite';
  if (!options.url && options.dataDir) await createPgliteDir(options.dataDir);
  const pglite = options.url
    ? undefined
    : new PGlite(options.dataDir, { serializers: BYTEA, parsers: BYTEA_PARSER, postgresqlconf: PGLITE_CONF });
  const db = new Kysely<Database>({
    dialect: pglite
      ? new PGliteDialect({ pglite })
      : new PostgresDialect({ pool: postgresPool(options.url as string, options.maxConnections ?? 10) }),
  });
  try {
    const migrator = new Migrator({
      db,
      provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS }),
    });
    const { error, results = [] } = await migrator.migrateToLatest();
    if (error)
      throw new Error(`database migration failed: ${(error as Error).message ?? error}`, { cause: error });
    return {
      db,
      kind,
      ...(pglite ? { pglite } : {}),
      migrated: results.filter((r) => r.status === 'Success').map((r) => r.migrationName),
    };
  } catch (error) {
    await db.destroy();
    throw error;
  }
}

/**
 * Makes the space of deleted and nulled rows reusable (envelopes are nulled once committed).
 * PostgreSQL's autovacuum does this by itself; PGlite runs no autovacuum, so its files would
 * keep every envelope ever received.
 */
export async function reclaimSpace(db: Db, kind: OpenedDatabase['kind']): Promise<void> {
  if (kind !== 'pglite') return;
  for (const table of ['submissions', 'http_nonces'] as const) await sql.raw(`vacuum ${table}`).execute(db);
}
