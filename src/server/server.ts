/**
 * Starting and stopping the whole server: database, ledger (embedded, or Fabric through a
 * connection file), validation workers, the committer and the HTTP API. Shutdown is graceful:
 * requests in flight finish, the committer finishes its step, the ledger commits what it ordered.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import pino, { type Logger } from 'pino';
import { EmbeddedLedger } from '../ledger/embedded.ts';
import { DEFAULT_ENDORSERS, type EndorserOptions } from '../ledger/endorsers.ts';
import { FabricLedger } from '../ledger/fabric/adapter.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { RemoteLedger } from '../ledger/remote.ts';
import { WorkerPool } from '../workers/pool.ts';
import { listenForResults } from './announcements.ts';
import { buildApp, DEFAULT_SERVER_LIMITS, type Limits } from './app.ts';
import { pruneNonces } from './auth.ts';
import { backup } from './backup.ts';
import { Committer } from './committer.ts';
import { type Db, openDatabase, reclaimSpace } from './db/database.ts';
import { serveLedger } from './ledger-service.ts';
import { Metrics } from './metrics.ts';
import type { RegistrationMode } from './quotas.ts';
import { pruneRateLimits } from './rate-store.ts';
import type { CiphertextCheck } from './validation-worker.ts';
import { DEFAULT_WEB_DIR } from './web.ts';

export interface ServerConfig {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Holds the embedded ledger (ledger/) and the PGlite database (db/). */
  dataDir: string;
  /** postgres://… to use a PostgreSQL server instead of PGlite. */
  databaseUrl?: string;
  /** PostgreSQL connections this server keeps open at most (default 10). */
  databasePool?: number;
  /** A Fabric connection file; the embedded ledger when absent. */
  fabricConnection?: string;
  /** A ledger already open, used instead (the server closes it when it stops). */
  ledger?: Ledger;
  /** Another replica's embedded ledger, served at this URL (`serveLedger` there), and its token. */
  remoteLedger?: { url: string; token: string };
  /**
   * Serve this server's embedded ledger to the other replicas (src/server/ledger-service.ts),
   * behind `ledgerToken`, else <dataDir>/ledger-token (made on first start).
   */
  serveLedger?: boolean;
  ledgerToken?: string;
  /** How long the committer's claim on a submission lasts before another replica may take it. */
  claimLeaseMs?: number;
  /**
   * Simulation threads of the embedded ledger, per endorsing organisation (by default the cores
   * shared among the organisations), and ciphertext-validation threads.
   */
  simulationWorkers?: number;
  /** The embedded ledger's endorsing organisations (tests make one lag). */
  endorsers?: readonly EndorserOptions[];
  validationWorkers?: number;
  limits?: Partial<Limits>;
  /** Who may register (default `open`); `enrolment` needs an operator's code for each new user. */
  registration?: RegistrationMode;
  /**
   * Bearer token of the operator's routes (issuing enrolment codes). In enrolment mode without
   * one, the server makes one and keeps it in <dataDir>/admin-token (mode 0600).
   */
  adminToken?: string;
  /** A pino logger, a level, or false for silence. */
  log?: Logger | string | false;
  /**
   * The built browser client served at `/` (default: this checkout's web/dist; without an
   * index.html there, `/` says to run `npm run web:build`). false serves no page at all.
   */
  webDir?: string | false;
  /** PEM files of a certificate (chain) and its key: the server speaks HTTPS (HTTP/2 and 1.1). */
  tls?: { certFile: string; keyFile: string };
  /**
   * /metrics on an address of its own (plain HTTP, no token: bind it to an interface only the
   * monitoring reaches). By default it is on the API's port behind a bearer token instead.
   */
  metricsAddress?: { host: string; port: number };
  /** The bearer token of /metrics on the API's port; default <dataDir>/metrics-token (made on first start). */
  metricsToken?: string;
}

export interface RunningServer {
  url: string;
  db: Db;
  /** Which database `db` is: embedded PGlite, or a PostgreSQL server. */
  database: 'pglite' | 'postgresql';
  ledger: Ledger;
  committer: Committer;
  /** Where Prometheus scrapes, and the bearer token it sends (none on an address of its own). */
  metrics: { url: string; token?: string };
  close(): Promise<void>;
}

export async function startServer(config: ServerConfig): Promise<RunningServer> {
  const logger =
    config.log === false
      ? false
      : typeof config.log === 'object'
        ? config.log
        : pino({ level: config.log ?? 'info', redact: ['req.headers.authorization'] });
  const log = (message: string, fields: Record<string, unknown> = {}) => {
    if (logger) logger.info(fields, message);
  };
  // A fresh data folder is created (PGlite makes only its last segment).
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  // The ledger first: the embedded ledger's lock keeps a second server out of this data folder
  // before it touches the database beside it.
  const endorsers = config.endorsers ?? DEFAULT_ENDORSERS;
  const ledger: Ledger = config.ledger
    ? config.ledger
    : config.remoteLedger
      ? new RemoteLedger(config.remoteLedger.url, config.remoteLedger.token)
      : config.fabricConnection
        ? await FabricLedger.connect(config.fabricConnection)
        : await EmbeddedLedger.open(join(config.dataDir, 'ledger'), {
            workers:
              config.simulationWorkers ?? Math.max(1, Math.floor(availableParallelism() / endorsers.length)),
            endorsers,
          });
  const cleanup: (() => Promise<unknown>)[] = [() => ledger.close()];
  try {
    const database = await openDatabase(
      config.databaseUrl
        ? { url: config.databaseUrl, ...(config.databasePool ? { maxConnections: config.databasePool } : {}) }
        : { dataDir: join(config.dataDir, 'db') },
    );
    const { db, kind, migrated } = database;
    cleanup.push(() => db.destroy());
    log('database open', { kind, migrated });
    if (ledger instanceof EmbeddedLedger)
      log('embedded ledger open', { ...ledger.opened, height: await ledger.height() });
    const validator = new WorkerPool<CiphertextCheck, true>(
      new URL('./validation-worker.ts', import.meta.url),
      {
        size: config.validationWorkers ?? 1,
      },
    );
    cleanup.unshift(() => validator.close());
    // The operator's token (enrolment codes, backups): given, or kept beside the data.
    const adminToken = config.adminToken ?? (await tokenFile(config.dataDir, 'admin-token'));
    const metricsToken = config.metricsAddress
      ? undefined
      : (config.metricsToken ?? (await tokenFile(config.dataDir, 'metrics-token')));
    // On PostgreSQL other replicas may share the database: results are announced between them.
    const committer = new Committer(db, ledger, {
      log,
      notify: kind === 'postgresql',
      ...(config.claimLeaseMs ? { leaseMs: config.claimLeaseMs } : {}),
    });
    committer.start();
    cleanup.unshift(() => committer.stop());
    if (config.databaseUrl) {
      const listening = await listenForResults(config.databaseUrl, committer, log);
      cleanup.unshift(() => listening.close());
    }
    const metrics = new Metrics({ committer, ledger, validator, dataDir: config.dataDir });
    const tls = config.tls ? await readTls(config.tls) : undefined;
    const app = await buildApp({
      db,
      ledger,
      validator,
      committer,
      metrics,
      limits: { ...DEFAULT_SERVER_LIMITS, ...config.limits },
      registration: config.registration ?? 'open',
      adminToken,
      sharedRateLimits: kind === 'postgresql',
      backup: (dir: string) =>
        backup(
          { database, ledger, committer, ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}) },
          dir,
        ),
      ...(metricsToken ? { metricsToken } : {}),
      logger,
      ...(config.webDir === false ? {} : { webDir: config.webDir ?? DEFAULT_WEB_DIR }),
      ...(tls ? { tls } : {}),
    });
    if (config.serveLedger) {
      if (!(ledger instanceof EmbeddedLedger))
        throw new Error('--serve-ledger serves an embedded ledger only');
      await serveLedger(app, ledger, config.ledgerToken ?? (await tokenFile(config.dataDir, 'ledger-token')));
    }
    const pruner = setInterval(
      () =>
        void pruneNonces(db)
          .then(() => pruneRateLimits(db))
          .then(() => reclaimSpace(db, kind))
          .catch(() => undefined),
      60_000,
    );
    pruner.unref();
    const address = await app.listen({ host: config.host ?? '127.0.0.1', port: config.port ?? 8080 });
    cleanup.unshift(async () => {
      clearInterval(pruner);
      await app.close();
    });
    let metricsUrl = `${address}/metrics`;
    if (config.metricsAddress) {
      const scrapes = await serveMetrics(metrics, config.metricsAddress);
      cleanup.unshift(() => scrapes.close());
      metricsUrl = scrapes.url;
    }
    log('listening', {
      url: address,
      ledger:
        ledger instanceof EmbeddedLedger
          ? config.serveLedger
            ? 'embedded, served to other replicas'
            : 'embedded'
          : config.remoteLedger
            ? `another replica's (${config.remoteLedger.url})`
            : config.fabricConnection
              ? 'fabric'
              : 'given',
      database: kind,
    });
    let closing: Promise<void> | null = null;
    return {
      url: address,
      db,
      database: kind,
      ledger,
      committer,
      metrics: { url: metricsUrl, ...(metricsToken ? { token: metricsToken } : {}) },
      close: () => {
        closing ??= (async () => {
          for (const step of cleanup) await step();
        })();
        return closing;
      },
    };
  } catch (error) {
    for (const step of cleanup) await step().catch(() => undefined);
    throw error;
  }
}

/** The certificate and key files, read now: a missing or unreadable one is named. */
async function readTls(files: { certFile: string; keyFile: string }): Promise<{ cert: Buffer; key: Buffer }> {
  const read = (path: string, what: string) =>
    readFile(path).catch((error: unknown) => {
      throw new Error(`${what} ${path}: ${(error as Error).message}`);
    });
  const [cert, key] = [await read(files.certFile, 'TLS certificate'), await read(files.keyFile, 'TLS key')];
  // Checked here, so a certificate that does not match its key is one clear line at start.
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new Error(`TLS: ${files.certFile} and ${files.keyFile}: ${(error as Error).message}`);
  }
  return { cert, key };
}

/** A token kept beside the data (made on first use, readable by the owner only). */
async function tokenFile(
  dataDir: string,
  name: 'admin-token' | 'metrics-token' | 'ledger-token',
): Promise<string> {
  const path = join(dataDir, name);
  const existing = await readFile(path, 'utf8').catch(() => undefined);
  if (existing?.trim()) return existing.trim();
  const token = randomBytes(32).toString('base64url');
  await mkdir(dataDir, { recursive: true });
  await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' }).catch(async (error: unknown) => {
    if ((error as { code?: string }).code !== 'EEXIST') throw error;
  });
  return (await readFile(path, 'utf8')).trim();
}

/** /metrics alone on its own address: GET /metrics, everything else 404. */
async function serveMetrics(
  metrics: Metrics,
  at: { host: string; port: number },
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    metrics.scrape().then(
      (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => response.writeHead(503, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = at.host.includes(':') ? `[${at.host}]` : at.host;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
