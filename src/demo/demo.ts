/**
 * `npm run demo`: the whole system on this machine, end to end. Starts the server (embedded
 * ledger, PGlite) on loopback in a temporary folder; three simulated people wear the device for a
 * day (a week for the ambulatory blood-pressure model, which needs one); each runs every catalogue
 * model through the real client: vault, filter, encrypt, sign, outbox, upload, contract
 * evaluation on the ledger, result check, decryption, diagnosis. Prints Q beside the plaintext
 * reference, the diagnosis, bytes uploaded per reading and latency; then a clinician reads the
 * diagnoses a person shared with them, and `ledger verify` gives its verdict.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import { ApiClient } from '../client/api-client.ts';
import { PmheClient } from '../client/app.ts';
import { ClinicianClient } from '../client/clinician.ts';
import type { HistoryEntry } from '../client/history.ts';
import { FolderStore } from '../client/node/folder-store.ts';
import { type PersonaName, type Reading, simulatePerson } from '../device/index.ts';
import { verifyLedger } from '../ledger/verify.ts';
import { fmt } from '../models/diagnosis.ts';
import { finishedRows, runClear, tupleVectors } from '../models/runtime.ts';
import type { Profile } from '../protocol/meta-functions.ts';
import type { Layout } from '../protocol/schema.ts';
import { exited, freePort, spawnServer } from '../server/spawn.ts';

const PERSONAS: readonly { name: PersonaName; seed: number; profile: Profile }[] = [
  { name: 'healthy', seed: 11, profile: { age: 38, bmi: 23, cholesterol: 185, smoker: 0 } },
  { name: 'stage2-hypertensive', seed: 13, profile: { age: 54, bmi: 29, cholesterol: 240, smoker: 1 } },
  { name: 'sepsis', seed: 14, profile: { age: 67, bmi: 26, cholesterol: 210, smoker: 0 } },
];

/** Each model in the layouts a person would use it in; `realtime` readings go one by one. */
const RUNS: readonly { modelId: string; layout: Layout; days: number; realtime: number }[] = [
  { modelId: 'early-warning', layout: 'packed', days: 1, realtime: 4 },
  { modelId: 'early-warning', layout: 'batch', days: 1, realtime: 0 },
  { modelId: 'blood-pressure', layout: 'batch', days: 7, realtime: 0 },
  { modelId: 'chd-risk', layout: 'packed', days: 1, realtime: 1 },
];

const say = (text: string) => process.stdout.write(`${text}\n`);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function buildWeb(): boolean {
  const build = spawnSync(
    process.execPath,
    [
      join(ROOT, 'node_modules/vite/bin/vite.js'),
      'build',
      '--config',
      'web/vite.config.ts',
      '--logLevel',
      'error',
    ],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  );
  return build.status === 0;
}
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface Row {
  persona: string;
  model: string;
  q: string;
  clear: string;
  maxError: number;
  diagnosis: string;
  bytesPerReading: number;
  latency: string;
}

async function main(): Promise<void> {
  const started = performance.now();
  const dir = await mkdtemp(join(tmpdir(), 'pmhe-demo-'));
  const port = await freePort();
  say(`PMHE demo: server on http://127.0.0.1:${port} (embedded ledger + PGlite in ${dir})`);
  const url = `http://127.0.0.1:${port}`;
  let server: ChildProcess | undefined;
  const stop = async () => {
    if (!server) return;
    server.kill('SIGTERM');
    await exited(server);
    server = undefined;
  };
  // The browser client is served from web/dist; build it when missing (about a second).
  const webBuilt = existsSync(join(ROOT, 'web', 'dist', 'index.html')) || buildWeb();
  try {
    server = await spawnServer(join(dir, 'server'), port);
    const catalogue = await new ApiClient(url).catalogue();
    say(
      `catalogue: ${catalogue.models.map((m) => `${m.id} (${m.templates.map((t) => t.layout).join(', ')})`).join('; ')}`,
    );
    const rows: Row[] = [];
    for (const persona of PERSONAS) {
      say(`\n${persona.name}:`);
      for (const run of RUNS) rows.push(await demoRun(url, dir, persona, run));
    }
    const table = new Table({
      head: [
        'persona',
        'model',
        'Q (encrypted)',
        'plaintext',
        'max |Δ|',
        'diagnosis',
        'bytes/reading',
        'reading → diagnosis',
      ],
      colWidths: [20, 22, 30, 30, 10, 34, 14, 20],
      wordWrap: true,
      // Colours only on a terminal: CI logs stay readable.
      ...(process.stdout.isTTY ? {} : { style: { head: [], border: [] } }),
    });
    for (const r of rows) {
      table.push([
        r.persona,
        r.model,
        r.q,
        r.clear,
        r.maxError.toExponential(1),
        r.diagnosis,
        String(r.bytesPerReading),
        r.latency,
      ]);
    }
    say(`\n${table.toString()}`);
    await demoSharing(url, dir);
    await stop();
    const verdict = await verifyLedger(join(dir, 'server', 'ledger'));
    say(
      `\nledger verify: ${verdict.ok ? 'OK' : 'DAMAGED'} — ${verdict.height} blocks, ${verdict.transactions} transactions, ${verdict.keys} keys${verdict.ok ? '; the state matches the blocks' : `; first bad block ${verdict.firstBadBlock}`}`,
    );
    say(`\ndone in ${seconds(performance.now() - started)}. By hand:`);
    say('  npm run pmhe -- server start                      # the server on http://127.0.0.1:8080');
    say('  export PMHE_SERVER=http://127.0.0.1:8080 PMHE_PASSPHRASE="a long passphrase"');
    say('  npm run pmhe -- init --user me --model early-warning && npm run pmhe -- register');
    say(
      '  npm run pmhe -- device simulate --persona sepsis && npm run pmhe -- submit && npm run pmhe -- results',
    );
    say('  npm run pmhe -- diagnose; npm run pmhe -- export --out my-health.json');
    say('  npm run pmhe -- share grant <clinician id> --fingerprint "<theirs>"   # docs/sharing.md');
    say(
      `  the browser client: ${webBuilt ? '' : 'npm run web:build, then '}open http://127.0.0.1:8080/ once the server runs`,
    );
    if (!verdict.ok) process.exitCode = 1;
  } finally {
    await stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Sharing (docs/sharing.md): a clinician registers; a person compares the clinician's
 * fingerprint and grants them early-warning for a week; the person's next diagnoses are sealed to
 * the clinician, and the clinician's inbox shows them, each checked against the ledger.
 */
async function demoSharing(url: string, dir: string): Promise<void> {
  say('\nsharing with a clinician (docs/sharing.md):');
  const doctor = await ClinicianClient.init(new FolderStore(join(dir, 'clinician')), {
    clinicianId: 'dr-demo',
    name: 'Dr Demo',
    passphrase: randomBytes(12).toString('base64'),
    server: url,
  });
  const registered = await doctor.register();
  say(
    `  Dr Demo registered (transaction ${registered.txId.slice(0, 12)}…); fingerprint ${doctor.fingerprint}`,
  );
  using person = await PmheClient.init(new FolderStore(join(dir, 'clients', 'sharer')), {
    userId: 'sharer',
    modelId: 'early-warning',
    layout: 'packed',
    passphrase: randomBytes(12).toString('base64'),
    server: url,
  });
  await person.register();
  const looked = await person.clinician('dr-demo');
  if (looked.fingerprint !== doctor.fingerprint) throw new Error('the fingerprints differ');
  const { grant } = await person.grant(looked, {
    models: ['early-warning'],
    until: Date.now() + 7 * 86_400_000,
  });
  say(
    `  sharer compared the fingerprint and granted early-warning until ${grant.until.slice(0, 10)} (transaction ${grant.txId.slice(0, 12)}…)`,
  );
  await person.queue(simulatePerson({ persona: 'sepsis', seed: 21, days: 1 }).slice(-2));
  await person.flush();
  let shared = 0;
  await person.collect({ timeoutMs: 60_000, onShared: (r) => (shared += r.shared.length) });
  const inbox = await doctor.inbox();
  say(
    `  ${shared} diagnoses sealed to Dr Demo (HPKE) and their hashes recorded on the ledger; the inbox checked ${inbox.items.length}, refused ${inbox.refused.length}:`,
  );
  for (const item of inbox.items)
    say(
      `    ${item.userId}: ${item.diagnosis.label} (evaluation ${item.txId.slice(0, 12)}…, shared in ${item.shareTx.slice(0, 12)}…)`,
    );
}

async function demoRun(
  url: string,
  dir: string,
  persona: (typeof PERSONAS)[number],
  run: (typeof RUNS)[number],
): Promise<Row> {
  const userId = `${persona.name}.${run.modelId}.${run.layout}`;
  const t0 = performance.now();
  using client = await PmheClient.init(new FolderStore(join(dir, 'clients', userId)), {
    userId,
    modelId: run.modelId,
    layout: run.layout,
    passphrase: randomBytes(12).toString('base64'),
    server: url,
    profile: persona.profile,
  });
  await client.register();
  const readings = simulatePerson({ persona: persona.name, seed: persona.seed, days: run.days });
  const batch = run.realtime ? readings.slice(0, -run.realtime) : readings;
  const entries: HistoryEntry[] = [];
  let filtered = 0;
  let kept = 0;
  if (run.layout === 'batch') {
    const queued = await client.queue(batch);
    filtered += queued.report.received;
    kept += queued.report.kept;
    await client.flush();
    entries.push(...(await client.collect({ timeoutMs: 60_000 })));
  }
  // Real time: each reading on its own, as it arrives; latency is from arrival to diagnosis.
  for (const reading of readings.slice(readings.length - run.realtime)) {
    const queued = await client.queue([reading]);
    filtered += queued.report.received;
    kept += queued.report.kept;
    await client.flush();
    entries.push(...(await client.collect({ timeoutMs: 30_000 })));
  }
  const last = entries.at(-1);
  if (!last) throw new Error(`${userId}: no result arrived`);
  const clear = clearValues(client, last.readings, persona.profile);
  const names = Object.keys(last.values).slice(0, 3);
  const maxError = Math.max(
    ...Object.keys(last.values).map((k) => Math.abs((last.values[k] as number) - (clear[k] as number))),
  );
  const readingsSent = entries.reduce((n, e) => n + e.readings.length, 0);
  const bytes = entries.reduce((n, e) => n + e.uploadedBytes, 0);
  const latencies = entries.map((e) => e.latencyMs).sort((a, b) => a - b);
  say(
    `  ${run.modelId}/${run.layout}: ${kept}/${filtered} readings kept by the filter, ${entries.length} result(s), ${last.diagnosis.label} (${seconds(performance.now() - t0)})`,
  );
  return {
    persona: persona.name,
    model: `${run.modelId}/${run.layout}`,
    q: names.map((n) => `${n} ${fmt(last.values[n] as number)}`).join('\n'),
    clear: names.map((n) => `${n} ${fmt(clear[n] as number)}`).join('\n'),
    maxError,
    diagnosis: last.diagnosis.label,
    bytesPerReading: Math.round(bytes / readingsSent),
    latency: run.realtime
      ? `p50 ${latencies[Math.floor(latencies.length / 2)]} ms`
      : `${latencies[0]} ms (batch)`,
  };
}

/** The same model on the same readings in plaintext: what Q should be. */
function clearValues(
  client: PmheClient,
  readings: readonly Reading[],
  profile: Profile,
): Record<string, number> {
  const { plan } = client.user;
  const q = runClear(plan, tupleVectors(plan, readings, plan.model.profile.length ? profile : {}));
  return finishedRows(plan, q, plan.layout === 'batch' ? readings.length : 1).at(-1) as Record<
    string,
    number
  >;
}

await main();
