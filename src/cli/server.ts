/** `pmhe server start`: the cloud server, configured by flags or environment variables. */
import { type Command, Option } from 'commander';

export function serverCommands(program: Command): void {
  const server = program.command('server').description('run the PMHE cloud server');
  server
    .command('start')
    .description('start the server (embedded ledger and PGlite by default) and run until SIGINT/SIGTERM')
    .addOption(new Option('--host <host>', 'address to listen on').env('PMHE_HOST').default('127.0.0.1'))
    .addOption(
      new Option('--port <port>', 'port (0: any free port)').env('PMHE_PORT').default(8080).argParser(port),
    )
    .addOption(
      new Option('--data-dir <dir>', 'folder for the embedded ledger and PGlite')
        .env('PMHE_DATA_DIR')
        .default('.pmhe/server'),
    )
    .addOption(
      new Option('--database-url <url>', 'a PostgreSQL server instead of PGlite').env('DATABASE_URL'),
    )
    .addOption(
      new Option('--database-pool <n>', 'PostgreSQL connections this server keeps open at most (default 10)')
        .env('PMHE_DATABASE_POOL')
        .argParser(count),
    )
    .addOption(
      new Option(
        '--serve-ledger',
        "serve this server's embedded ledger to other replicas (token: <data-dir>/ledger-token or PMHE_LEDGER_TOKEN)",
      ).env('PMHE_SERVE_LEDGER'),
    )
    .addOption(
      new Option(
        '--ledger-url <url>',
        'use the embedded ledger another replica serves (--serve-ledger there; token in PMHE_LEDGER_TOKEN)',
      ).env('PMHE_LEDGER_URL'),
    )
    .addOption(
      new Option('--fabric <file>', 'a Fabric connection file instead of the embedded ledger').env(
        'PMHE_FABRIC',
      ),
    )
    .addOption(
      new Option(
        '--simulation-workers <n>',
        'embedded ledger simulation threads per endorsing organisation (default: the cores shared between the two)',
      )
        .env('PMHE_SIMULATION_WORKERS')
        .argParser(count),
    )
    .addOption(
      new Option('--validation-workers <n>', 'ciphertext validation threads')
        .env('PMHE_VALIDATION_WORKERS')
        .default(1)
        .argParser(count),
    )
    .addOption(
      new Option('--body-limit <bytes>', 'largest request body').env('PMHE_BODY_LIMIT').argParser(count),
    )
    .addOption(
      new Option('--rate-limit <n>', 'requests per user per minute (counted once the signature verifies)')
        .env('PMHE_RATE_LIMIT')
        .argParser(count),
    )
    .addOption(
      new Option(
        '--address-rate-limit <n>',
        'requests per client address per minute (counted before any check)',
      )
        .env('PMHE_ADDRESS_RATE_LIMIT')
        .argParser(count),
    )
    .addOption(
      new Option('--registration <mode>', 'who may register: anyone, or holders of an enrolment code')
        .choices(['open', 'enrolment'])
        .env('PMHE_REGISTRATION')
        .default('open'),
    )
    .addOption(
      new Option('--quota-submissions <n>', 'submissions per user in any 24 hours')
        .env('PMHE_QUOTA_SUBMISSIONS')
        .argParser(count),
    )
    .addOption(
      new Option('--quota-bytes <n>', 'envelope bytes per user in any 24 hours')
        .env('PMHE_QUOTA_BYTES')
        .argParser(count),
    )
    .addOption(
      new Option('--quota-key-bytes <n>', 'evaluation-key bytes per user in any 24 hours (each registration)')
        .env('PMHE_QUOTA_KEY_BYTES')
        .argParser(count),
    )
    .addOption(
      new Option(
        '--registrations-per-address <n>',
        'registrations per client address in any 24 hours (open mode)',
      )
        .env('PMHE_REGISTRATIONS_PER_ADDRESS')
        .argParser(count),
    )
    .addOption(
      new Option(
        '--web-dir <dir>',
        'the built browser client served at / (default: web/dist of this checkout)',
      ).env('PMHE_WEB_DIR'),
    )
    .addOption(new Option('--no-web', 'serve no browser client at /'))
    .addOption(new Option('--log-level <level>', 'pino log level').env('PMHE_LOG_LEVEL').default('info'))
    .addOption(
      new Option(
        '--tls-cert <file>',
        'serve HTTPS (HTTP/2 and HTTP/1.1) with this PEM certificate (chain)',
      ).env('PMHE_TLS_CERT'),
    )
    .addOption(new Option('--tls-key <file>', "the certificate's PEM private key").env('PMHE_TLS_KEY'))
    .addOption(
      new Option(
        '--metrics-host <host>',
        '/metrics on an address of its own, without a token (else on the API port, behind <data-dir>/metrics-token or PMHE_METRICS_TOKEN)',
      ).env('PMHE_METRICS_HOST'),
    )
    .addOption(
      new Option('--metrics-port <port>', 'the port of --metrics-host (0: any free port)')
        .env('PMHE_METRICS_PORT')
        .default(9464)
        .argParser(port),
    )
    .action(async (options: StartOptions) => {
      if (options.ledgerUrl && !process.env.PMHE_LEDGER_TOKEN) {
        process.stderr.write(
          "pmhe server start: --ledger-url needs the serving replica's ledger token in PMHE_LEDGER_TOKEN\n",
        );
        process.exit(2);
      }
      if (!options.tlsCert !== !options.tlsKey) {
        process.stderr.write(
          'pmhe server start: --tls-cert and --tls-key go together: give both, or neither\n',
        );
        process.exit(2);
      }
      // Loaded here: other commands need not pay for the server's dependencies.
      const { startServer } = await import('../server/server.ts');
      const running = await startServer({
        ...(options.simulationWorkers ? { simulationWorkers: options.simulationWorkers } : {}),
        host: options.host,
        port: options.port,
        dataDir: options.dataDir,
        ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
        ...(options.databasePool ? { databasePool: options.databasePool } : {}),
        ...(options.serveLedger ? { serveLedger: true } : {}),
        ...(options.ledgerUrl
          ? { remoteLedger: { url: options.ledgerUrl, token: process.env.PMHE_LEDGER_TOKEN ?? '' } }
          : {}),
        ...(process.env.PMHE_LEDGER_TOKEN ? { ledgerToken: process.env.PMHE_LEDGER_TOKEN } : {}),
        ...(process.env.PMHE_CLAIM_LEASE_MS ? { claimLeaseMs: Number(process.env.PMHE_CLAIM_LEASE_MS) } : {}),
        ...(options.fabric ? { fabricConnection: options.fabric } : {}),
        validationWorkers: options.validationWorkers,
        limits: {
          ...(options.bodyLimit ? { bodyBytes: options.bodyLimit } : {}),
          ...(options.rateLimit ? { ratePerMinute: options.rateLimit } : {}),
          ...(options.addressRateLimit ? { addressRatePerMinute: options.addressRateLimit } : {}),
          ...(options.quotaSubmissions ? { submissionsPerDay: options.quotaSubmissions } : {}),
          ...(options.quotaBytes ? { bytesPerDay: options.quotaBytes } : {}),
          ...(options.quotaKeyBytes ? { keyBytesPerDay: options.quotaKeyBytes } : {}),
          ...(options.registrationsPerAddress
            ? { registrationsPerAddressPerDay: options.registrationsPerAddress }
            : {}),
        },
        registration: options.registration,
        ...(process.env.PMHE_ADMIN_TOKEN ? { adminToken: process.env.PMHE_ADMIN_TOKEN } : {}),
        log: options.logLevel,
        ...(options.web === false ? { webDir: false } : options.webDir ? { webDir: options.webDir } : {}),
        ...(options.tlsCert && options.tlsKey
          ? { tls: { certFile: options.tlsCert, keyFile: options.tlsKey } }
          : {}),
        ...(options.metricsHost
          ? { metricsAddress: { host: options.metricsHost, port: options.metricsPort } }
          : {}),
        ...(process.env.PMHE_METRICS_TOKEN ? { metricsToken: process.env.PMHE_METRICS_TOKEN } : {}),
      }).catch((error: unknown) => {
        // A refusal to start is the operator's to fix: say what and how, without a stack trace.
        process.stderr.write(`pmhe server start: ${startFailure(error, options)}\n`);
        process.exit(1);
      });
      process.stdout.write(
        `PMHE server listening on ${running.url} (app ${running.url}/, API ${running.url}/v1, docs ${running.url}/docs)\n`,
      );
      process.stdout.write(
        `metrics: ${running.metrics.url}${running.metrics.token ? ` (Authorization: Bearer <${process.env.PMHE_METRICS_TOKEN ? 'PMHE_METRICS_TOKEN' : `${options.dataDir}/metrics-token`}>)` : ''}\n`,
      );
      if (options.registration === 'enrolment') {
        process.stdout.write(
          `registration by enrolment code: \`pmhe server enrol --url ${running.url}\` issues one (operator token: ${process.env.PMHE_ADMIN_TOKEN ? 'PMHE_ADMIN_TOKEN' : `${options.dataDir}/admin-token`})\n`,
        );
      }
      const stop = async (signal: string) => {
        process.stdout.write(`${signal}: finishing committed work…\n`);
        await running.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
    });

  operatorCommand(
    server,
    'enrol',
    'issue a single-use enrolment code for one new user (a server started with --registration enrolment)',
  )
    .addOption(new Option('--hours <n>', 'how long the code stays valid').default(168).argParser(hours))
    .addOption(new Option('--note <text>', 'a note kept with the code (not shown to the user)'))
    .action(async (options: OperatorOptions & { hours: number; note?: string }) => {
      const body = (await operatorCall(options, 'enrol', '/v1/enrolments', {
        hours: options.hours,
        ...(options.note ? { note: options.note } : {}),
      })) as { token: string; expiresAt: string };
      process.stdout.write(
        `${body.token}\nvalid until ${body.expiresAt}; give it to one person: \`pmhe register --enrolment <code>\`\n`,
      );
    });

  operatorCommand(
    server,
    'backup <dir>',
    "a consistent backup of the running server's database and embedded ledger into <dir> (on the server's host)",
  ).action(async (dir: string, options: OperatorOptions) => {
    const { resolve } = await import('node:path');
    const manifest = (await operatorCall(options, 'backup', '/v1/admin/backup', { dir: resolve(dir) })) as {
      height: number | null;
      database: string;
      ledger: string;
      files: { bytes: number }[];
    };
    const bytes = manifest.files.reduce((n, f) => n + f.bytes, 0);
    process.stdout.write(
      `backup in ${resolve(dir)}: ${manifest.database} database and ${manifest.ledger === 'embedded' ? `embedded ledger (${manifest.height} blocks)` : 'no ledger (Fabric peers keep theirs)'}, ${manifest.files.length} files, ${bytes.toLocaleString('en-US')} bytes; restore with \`pmhe server restore ${dir} --data-dir <new folder>\`\n`,
    );
  });

  server
    .command('restore <dir>')
    .description('restore a backup into a new data folder (the server stopped); then start the server on it')
    .requiredOption('--data-dir <dir>', 'the new data folder (absent or empty)')
    .addOption(
      new Option('--database-url <url>', 'for a PostgreSQL backup: the empty database to restore into').env(
        'DATABASE_URL',
      ),
    )
    .action(async (dir: string, options: { dataDir: string; databaseUrl?: string }) => {
      const { restore } = await import('../server/backup.ts');
      const manifest = await restore(dir, {
        dataDir: options.dataDir,
        ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
      }).catch((error: unknown) => {
        process.stderr.write(`pmhe server restore: ${(error as Error).message}\n`);
        process.exit(1);
      });
      process.stdout.write(
        `restored the backup of ${manifest.createdAt} into ${options.dataDir}${manifest.height === null ? '' : ` (${manifest.height} blocks; the ledger's state is rebuilt from them at start)`}; check it with \`pmhe ledger verify ${options.dataDir}/ledger\`, then \`pmhe server start --data-dir ${options.dataDir}\`\n`,
      );
    });
}

interface OperatorOptions {
  url: string;
  dataDir: string;
  caFile?: string;
}

/** A command that calls the running server's operator routes (with the admin token). */
function operatorCommand(server: Command, name: string, description: string): Command {
  return server
    .command(name)
    .description(description)
    .addOption(
      new Option('--url <url>', 'the running server').env('PMHE_SERVER').default('http://127.0.0.1:8080'),
    )
    .addOption(
      new Option('--data-dir <dir>', "the server's data folder (its admin-token file)")
        .env('PMHE_DATA_DIR')
        .default('.pmhe/server'),
    )
    .addOption(
      new Option('--ca-file <file>', "trust this PEM certificate authority for the server's HTTPS").env(
        'PMHE_CA_FILE',
      ),
    );
}

/** POSTs JSON to an operator route with the admin token; exits with one line on any refusal. */
async function operatorCall(
  options: OperatorOptions,
  command: string,
  path: string,
  body: object,
): Promise<unknown> {
  const { readFile } = await import('node:fs/promises');
  const fail = (message: string): never => {
    process.stderr.write(`pmhe server ${command}: ${message}\n`);
    process.exit(1);
  };
  const token =
    process.env.PMHE_ADMIN_TOKEN ??
    (await readFile(`${options.dataDir}/admin-token`, 'utf8').catch(() => '')).trim();
  if (!token)
    fail(
      `no operator token: set PMHE_ADMIN_TOKEN, or --data-dir of the server (${options.dataDir}/admin-token)`,
    );
  const { fetchTrusting } = await import('../client/node/ca-fetch.ts');
  const send = options.caFile ? fetchTrusting(options.caFile) : fetch;
  const reply = await send(`${options.url.replace(/\/$/, '')}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  }).catch((error: unknown) => fail(`cannot reach ${options.url}: ${(error as Error).message}`));
  const answer = (await reply.json().catch(() => ({}))) as { message?: string; code?: string };
  if (reply.status === 404 && command === 'enrol')
    fail(`${options.url} does not issue enrolment codes (start it with --registration enrolment)`);
  if (!reply.ok) fail(`${reply.status} ${answer.code ?? ''}: ${answer.message ?? 'refused'}`);
  return answer;
}

interface StartOptions {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl?: string;
  databasePool?: number;
  serveLedger?: boolean;
  ledgerUrl?: string;
  fabric?: string;
  simulationWorkers?: number;
  validationWorkers: number;
  bodyLimit?: number;
  rateLimit?: number;
  addressRateLimit?: number;
  registration: 'open' | 'enrolment';
  quotaSubmissions?: number;
  quotaBytes?: number;
  quotaKeyBytes?: number;
  registrationsPerAddress?: number;
  logLevel: string;
  webDir?: string;
  /** false with --no-web. */
  web: boolean;
  tlsCert?: string;
  tlsKey?: string;
  metricsHost?: string;
  metricsPort: number;
}

function hours(value: string): number {
  const n = Number(value);
  if (!(Number.isFinite(n) && n > 0 && n <= 24 * 366))
    throw new Error(`expected hours in (0, 8784], got "${value}"`);
  return n;
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`expected a non-negative integer, got "${value}"`);
  return n;
}

function port(value: string): number {
  const n = count(value);
  if (n > 65535) throw new Error(`expected a port 0..65535, got "${value}"`);
  return n;
}

/** Why the server did not start, in words an operator can act on. */
function startFailure(error: unknown, options: StartOptions): string {
  const e = error as { code?: string; message?: string };
  if (e.code === 'EADDRINUSE')
    return `port ${options.port} on ${options.host} is in use (another server?); choose another with --port`;
  if (e.code === 'EACCES')
    return `not allowed to listen on ${options.host}:${options.port}; choose a port above 1023`;
  if (e.code === 'LOCKED')
    return `${e.message} (another pmhe server uses ${options.dataDir}; stop it, or choose another --data-dir)`;
  if (e.code === 'CORRUPT')
    return `${e.message} (run \`pmhe ledger verify ${options.dataDir}/ledger\` for the first bad block)`;
  return `${e.code ? `${e.code}: ` : ''}${e.message ?? String(error)}`;
}
