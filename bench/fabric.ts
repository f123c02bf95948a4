/**
 * `npm run bench:fabric`: PMHE on the project's Fabric dev network beside the embedded ledger, in
 * one run, on this machine. Skipped (one line, exit 0) without the Fabric binaries.
 *
 * For each ledger — the embedded ledger (`pmhe server start`), then Fabric at each
 * `--batch-timeouts` value (`npm run fabric:up` with PMHE_FABRIC_BATCH_TIMEOUT, then
 * `pmhe server start --fabric`, then `npm run fabric:down`) — the real server runs as a child
 * process (PGlite in a temporary folder, as test-fabric/server.ts starts it) and the real client
 * (PmheClient: vault, filter, encrypt, sign, outbox, HTTP, result checks, decryption, diagnosis)
 * runs here, for each of `--models` in the packed layout at its catalogue preset:
 *
 *  - Latency: one user sends one reading at a time. queue() (filter, encrypt, sign) is not timed;
 *    the clock starts when flush() starts its POST /v1/submissions and stops when the server's
 *    `result` event for that submission reaches the client (GET /v1/events, which the server
 *    sends once the result is stored, i.e. listed by GET /v1/results). collect() then fetches,
 *    checks, decrypts and diagnoses it (also reported: POST → diagnosis) before the next reading.
 *    `--warmup` readings first are not counted (a user's first issue loads their evaluation keys
 *    into every chaincode / simulation cache).
 *  - Throughput: `--users` users (registered; the latency user, and each added one after 4
 *    readings in flight together, so that every simulation thread of the embedded ledger and each
 *    chaincode server has their keys loaded), `--burst` readings queued (encrypted, signed) before
 *    the clock; then every user flushes at once (its readings in one POST); readings/s = readings /
 *    (last result event − first POST start). Results are collected and decrypted afterwards.
 *
 * On Fabric the latency of each reading is also split with the peers' and the orderer's logs
 * (chaincode time per organisation, ordering wait, commit), and the CPU time of every process
 * during the burst is read from /proc. Progress goes to stderr, the report (Markdown) to stdout.
 *
 * Options (defaults): --readings 30 (latency readings per model; the issue asks for ≥ 20),
 * --burst 40, --users 4, --warmup 2, --batch-timeouts 100ms,500ms (empty: the embedded ledger
 * only), --models early-warning,chd-risk, --keep (keep the servers' and Fabric's logs in the
 * temporary folder, named at the end), --out FILE (also write the report). About 4 minutes here.
 * A Fabric network already up is refused: the benchmark brings up its own, one per BatchTimeout.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BINARIES, bin, DIR, FABRIC_BIN, NODE22, ROOT, run } from '../scripts/fabric/config.ts';
import { isUp, type NetworkState, readNetwork } from '../scripts/fabric/network.ts';
import { PmheClient } from '../src/client/app.ts';
import type { RawReading } from '../src/client/filter.ts';
import type { HistoryEntry } from '../src/client/history.ts';
import { FolderStore } from '../src/client/node/folder-store.ts';
import { FAST_KDF_FOR_TESTS } from '../src/client/vault.ts';
import { type PersonaName, simulatePerson } from '../src/device/index.ts';
import { CATALOGUE } from '../src/models/catalogue/index.ts';
import type { Plan } from '../src/models/compiler.ts';
import type { Profile } from '../src/protocol/meta-functions.ts';
import { registerPatiently } from '../test-fabric/flow.ts';
import { type PmheServer, startPmheServer } from '../test-fabric/server.ts';
import { realTimePool } from './readings.ts';
import { table } from './report.ts';

const DEFAULTS = {
  readings: '30',
  burst: '40',
  users: '4',
  warmup: '2',
  'batch-timeouts': '100ms,500ms',
  models: 'early-warning,chd-risk',
} as const;
const { values: args } = parseArgs({
  options: {
    readings: { type: 'string', default: DEFAULTS.readings },
    burst: { type: 'string', default: DEFAULTS.burst },
    users: { type: 'string', default: DEFAULTS.users },
    warmup: { type: 'string', default: DEFAULTS.warmup },
    'batch-timeouts': { type: 'string', default: DEFAULTS['batch-timeouts'] },
    models: { type: 'string', default: DEFAULTS.models },
    keep: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const READINGS = Number(args.readings);
const BURST = Number(args.burst);
const USERS = Number(args.users);
const WARMUP = Number(args.warmup);
for (const [name, v, min] of [
  ['--readings', READINGS, 1],
  ['--burst', BURST, 1],
  ['--users', USERS, 1],
  ['--warmup', WARMUP, 0],
] as const) {
  if (!(Number.isSafeInteger(v) && v >= min))
    throw new Error(`bench:fabric: ${name} must be an integer ≥ ${min}`);
}
/** Orderer BatchTimeout values as written (Fabric's duration syntax) and in ms. */
const BATCH_TIMEOUTS = args['batch-timeouts']
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '')
  .map((text) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(text);
    if (!m) throw new Error(`bench:fabric: --batch-timeouts: "${text}" is not like 100ms or 2s`);
    return { text, ms: Number(m[1]) * (m[2] === 's' ? 1000 : 1) };
  });
const MODELS = args.models
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '');
for (const id of MODELS) {
  const model = CATALOGUE.find((m) => m.id === id);
  if (!model?.layouts.packed)
    throw new Error(
      `bench:fabric: --models: "${id}" is not a catalogue model with a packed layout (${CATALOGUE.filter(
        (m) => m.layouts.packed,
      )
        .map((m) => m.id)
        .join(', ')})`,
    );
}

/** Warm-up readings per added burst user, sent together (see measure()). */
const BURST_WARMUP = 4;
/** Issue targets: on Fabric, reading → result p50 ≤ BatchTimeout + 250 ms; throughput ≥ 0.8× embedded. */
const TARGET = { latencyOverBatchTimeoutMs: 250, throughputRatio: 0.8 };
const PERSONAS: Record<string, PersonaName> = {
  'early-warning': 'sepsis',
  'chd-risk': 'stage2-hypertensive',
};
const PROFILES: Record<string, Profile> = { 'chd-risk': { age: 54, bmi: 29, cholesterol: 240, smoker: 1 } };

const given = (Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[])
  .filter((k) => args[k] !== DEFAULTS[k])
  .map((k) => `--${k} ${args[k]}`);
if (args.keep) given.push('--keep');
if (args.out) given.push(`--out ${args.out}`);
const COMMAND = `npm run bench:fabric${given.length ? ` -- ${given.join(' ')}` : ''}`;

// ---- small helpers ----------------------------------------------------------------------------

const t0 = performance.now();
const log = (line: string) =>
  process.stderr.write(
    `[bench:fabric +${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${line}\n`,
  );
/** Wall-clock ms with sub-ms precision (comparable with the Fabric logs' UTC timestamps). */
const wall = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Nearest-rank quantile (as the other benchmarks). */
function quantile(xs: readonly number[], q: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : (s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number);
}
const median = (xs: readonly number[]) => quantile(xs, 0.5);
const ms = (v: number) => (Number.isNaN(v) ? '—' : v >= 100 || v <= -100 ? v.toFixed(0) : v.toFixed(1));
const signed = (v: number) => (Number.isNaN(v) ? '—' : `${v >= 0 ? '+' : '−'}${ms(Math.abs(v))}`);

// ---- the machine --------------------------------------------------------------------------------

async function peerVersion(): Promise<string> {
  try {
    const out = await run(bin('peer'), ['version'], { timeoutMs: 10_000 });
    const field = (name: string) => new RegExp(`^\\s*${name}:\\s*(.+)$`, 'm').exec(out)?.[1]?.trim();
    return `peer version: Version ${field('Version') ?? '?'}, Commit SHA ${field('Commit SHA') ?? '?'}, ${field('Go version') ?? '?'} (${FABRIC_BIN})`;
  } catch (error) {
    return `peer version failed: ${(error as Error).message.split('\n')[0]}`;
  }
}

function machineLine(fabric: string): string {
  const cpus = os.cpus();
  return [
    `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    `${os.type()} ${os.release()}`,
    `Node ${process.version}`,
    fabric,
  ].join('; ');
}

/** CPU seconds the whole machine has been busy (/proc/stat, 100 ticks a second). */
function machineBusy(): number {
  try {
    const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
    return (user + nice + system + irq + softirq + steal) / 100;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds (user + system, all threads) of a process; NaN when it is gone. */
function processCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

type CpuSnapshot = Map<string, number>;

/** CPU seconds so far of the server, this process (the clients), Fabric's processes and the machine. */
function cpuSnapshot(server: PmheServer, net: NetworkState | undefined): CpuSnapshot {
  const snap: CpuSnapshot = new Map();
  snap.set(
    'PMHE server (HTTP, database, committer; embedded: the ledger)',
    processCpu(server.child.pid ?? -1),
  );
  const own = process.cpuUsage();
  snap.set('clients (this process)', (own.user + own.system) / 1e6);
  if (net) {
    for (const o of net.orgs) snap.set(`peer0.org${o.org}`, processCpu(o.peer.pid));
    snap.set('orderer', processCpu(net.orderer.pid));
    for (const o of net.orgs)
      snap.set(
        `Org${o.org}'s chaincode server`,
        o.chaincode.proc ? processCpu(o.chaincode.proc.pid) : Number.NaN,
      );
  }
  snap.set('machine', machineBusy());
  return snap;
}

function cpuDelta(before: CpuSnapshot, after: CpuSnapshot): CpuSnapshot {
  const d: CpuSnapshot = new Map();
  let listed = 0;
  for (const [name, v] of after) {
    const x = v - (before.get(name) ?? Number.NaN);
    d.set(name, x);
    if (name !== 'machine' && Number.isFinite(x)) listed += x;
  }
  d.set('other processes', (d.get('machine') ?? Number.NaN) - listed);
  return d;
}

// ---- Fabric: up, down, logs -----------------------------------------------------------------------

/** `npm run fabric:up` / `fabric:down` (scripts/fabric) as a child process; its step lines shown. */
async function fabricScript(name: 'up' | 'down', env: NodeJS.ProcessEnv = {}): Promise<void> {
  const child = spawn(NODE22, ['--import', 'tsx', `scripts/fabric/${name}.ts`], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const show = (d: Buffer) => {
    output += d;
    for (const line of String(d).split('\n')) {
      if (/done in|FAILED|failed|fabric:up: \/|stopped|removed/.test(line))
        log(`  fabric:${name} │ ${line.replace(/^\[[^\]]*\] /, '')}`);
    }
  };
  child.stdout.on('data', show);
  child.stderr.on('data', show);
  const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1)));
  if (code !== 0) throw new Error(`fabric:${name} failed (exit ${code}):\n${output.slice(-3000)}`);
}

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const STAMP = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) UTC/;

interface FabricLogs {
  /** Per organisation: the chaincode's end time and duration of each transaction (8-hex id prefix). */
  chaincode: Map<number, Map<string, { end: number; ms: number }>>;
  /** When the gateway (peer0.org1) sent each transaction to the orderer. */
  sent: Map<string, number>;
  /** When the orderer cut each block. */
  cut: Map<number, number>;
  /** When peer0.org1 committed each block, with its transaction count and commit time. */
  committed: Map<number, { at: number; txs: number; ms: number }>;
  /** Evaluate calls (queries) answered by peer0.org1's gateway: when, and how long they took. */
  evaluated: { at: number; ms: number }[];
}

/** A Go duration as the gRPC log prints it (850µs, 19.0ms, 1.2s) in ms. */
function goDuration(text: string): number {
  const m = /^([\d.]+)(µs|us|ms|s|m)$/.exec(text);
  if (!m) return Number.NaN;
  const unit = { µs: 0.001, us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms'];
  return Number(m[1]) * unit;
}

async function readFabricLogs(net: NetworkState): Promise<FabricLogs> {
  const logs: FabricLogs = {
    chaincode: new Map(),
    sent: new Map(),
    cut: new Map(),
    committed: new Map(),
    evaluated: [],
  };
  const lines = async (file: string) =>
    (await readFile(file, 'utf8').catch(() => '')).replace(ANSI, '').split('\n');
  const at = (line: string) => {
    const m = STAMP.exec(line);
    return m ? Date.parse(`${m[1]}T${m[2]}Z`) : Number.NaN;
  };
  for (const o of net.orgs) {
    const mine = new Map<string, { end: number; ms: number }>();
    logs.chaincode.set(o.org, mine);
    for (const line of await lines(o.peer.log)) {
      let m = /finished chaincode: pmhe duration: (\d+)ms channel=\S+ txID=([0-9a-f]+)/.exec(line);
      if (m) mine.set(m[2] as string, { end: at(line), ms: Number(m[1]) });
      if (o.org !== 1) continue;
      m = /Sending transaction to orderer txID=([0-9a-f]+)/.exec(line);
      if (m) logs.sent.set(m[1] as string, at(line));
      m = /Committed block \[(\d+)\] with (\d+) transaction\(s\) in (\d+)ms/.exec(line);
      if (m) logs.committed.set(Number(m[1]), { at: at(line), txs: Number(m[2]), ms: Number(m[3]) });
      m = /grpc\.method=Evaluate .*grpc\.code=OK grpc\.call_duration=(\S+)/.exec(line);
      if (m) logs.evaluated.push({ at: at(line), ms: goDuration(m[1] as string) });
    }
  }
  for (const line of await lines(net.orderer.log)) {
    const m = /Created block \[(\d+)\]/.exec(line);
    if (m) logs.cut.set(Number(m[1]), at(line));
  }
  return logs;
}

/** The steps of one reading's latency on Fabric, from the client's times and the logs (ms). */
const FABRIC_STEPS = [
  'POST → acknowledged (HTTP, checks, database)',
  'acknowledged → endorsement starts (committer picks it up, prepares)',
  "chaincode on Org1's peer (simulation: receive + evaluate)",
  "chaincode on Org2's peer",
  'endorsed → sent to the orderer',
  'sent → block cut by the orderer (BatchTimeout wait)',
  'block cut → committed on peer0.org1 (deliver, validate, commit)',
  'committed → the server asks for the result (commit status, committer)',
  '`result` query on peer0.org1 (Evaluate, chaincode reads Z)',
  'query answered → result event at the client (database, SSE)',
] as const;

function fabricSteps(sample: LatencySample, logs: FabricLogs): number[] | undefined {
  if (!sample.txId || sample.block === undefined) return undefined;
  const short = sample.txId.slice(0, 8);
  const c1 = logs.chaincode.get(1)?.get(short);
  const c2 = logs.chaincode.get(2)?.get(short);
  const sent = logs.sent.get(sample.txId);
  const cut = logs.cut.get(sample.block);
  const committed = logs.committed.get(sample.block);
  if (!c1 || !c2 || sent === undefined || cut === undefined || !committed) return undefined;
  const start = Math.min(c1.end - c1.ms, c2.end - c2.ms);
  const endorsed = Math.max(c1.end, c2.end);
  // One reading at a time: the first query answered after the commit is this result's.
  const query = logs.evaluated.find((e) => e.at >= committed.at && e.at <= sample.event + 1);
  if (!query) return undefined;
  return [
    sample.ack - sample.post,
    start - sample.ack,
    c1.ms,
    c2.ms,
    sent - endorsed,
    cut - sent,
    committed.at - cut,
    query.at - query.ms - committed.at,
    query.ms,
    sample.event - query.at,
  ];
}

// ---- the client side -----------------------------------------------------------------------------

/** A day or two of a persona's readings that each pass the filter alone and are in the model's domain. */
function realTimeReadings(plan: Plan, modelId: string): RawReading[] {
  const series = simulatePerson({ persona: PERSONAS[modelId] ?? 'healthy', seed: 7, days: 2 });
  return realTimePool(series, plan, PROFILES[modelId] ?? {});
}

/** A PmheClient with its POSTs timed and its own listener for result events. */
class BenchClient implements Disposable {
  readonly client: PmheClient;
  /** Start and end (wall ms) of every POST /v1/submissions, in order. */
  readonly posts: { start: number; end: number; status: number }[] = [];
  /** Wall ms at which the result event of each submission arrived. */
  readonly events = new Map<string, number>();
  readonly #stop = new AbortController();
  #listening: Promise<void> = Promise.resolve();

  private constructor(client: PmheClient) {
    this.client = client;
  }

  static async create(base: string, dir: string, userId: string, modelId: string): Promise<BenchClient> {
    await mkdir(join(dir, userId), { recursive: true });
    let self: BenchClient | undefined;
    let eventsOpen = 0;
    const timed: typeof fetch = async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      const method = init?.method ?? 'GET';
      if (method === 'GET' && url.endsWith('/v1/events')) {
        const res = await fetch(input, init);
        if (res.ok) eventsOpen++;
        return res;
      }
      if (!(method === 'POST' && url.endsWith('/v1/submissions'))) return fetch(input, init);
      const start = wall();
      const res = await fetch(input, init);
      const body = await res.arrayBuffer();
      self?.posts.push({ start, end: wall(), status: res.status });
      return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    };
    const client = await PmheClient.init(new FolderStore(join(dir, userId)), {
      userId,
      modelId,
      layout: 'packed',
      passphrase: 'throwaway benchmark vault',
      server: base,
      kdf: FAST_KDF_FOR_TESTS,
      fetch: timed,
      outbox: { backoff: { baseMs: 200, maxMs: 2_000 } },
      ...(PROFILES[modelId] ? { profile: PROFILES[modelId] } : {}),
    });
    self = new BenchClient(client);
    await registerPatiently(client);
    const me = self;
    me.#listening = (async () => {
      try {
        for await (const e of client.api.events(me.#stop.signal)) me.events.set(e.submissionId, wall());
      } catch {
        // aborted at the end, or the stream dropped: those readings fall back to collect()
      }
    })();
    for (let i = 0; eventsOpen === 0 && i < 200; i++) await sleep(25);
    return me;
  }

  /** Sends everything queued, retrying what the server could not take yet. */
  async flushAll(): Promise<void> {
    for (let tries = 0; ; tries++) {
      const report = await this.client.flush();
      if (report.waiting === 0) return;
      if (tries > 120) throw new Error(`flush: ${report.waiting} uploads still waiting: ${report.error}`);
      await sleep(Math.max(50, (report.nextAttemptAt ?? Date.now() + 500) - Date.now()));
    }
  }

  [Symbol.dispose](): void {
    this.#stop.abort();
    void this.#listening;
    this.client[Symbol.dispose]();
  }
}

interface LatencySample {
  post: number;
  ack: number;
  /** The result event's arrival (or, without one, when collect() had the result). */
  event: number;
  diagnosed: number;
  hadEvent: boolean;
  txId: string;
  block: number | undefined;
  label: string;
}

interface ModelRun {
  modelId: string;
  presetId: string;
  latency: LatencySample[];
  /** Latency (POST → result) of the warm-up readings. */
  warmup: number[];
  burst: {
    readings: number;
    users: number;
    seconds: number;
    perSecond: number;
    results: number;
    missingEvents: number;
    cpu: CpuSnapshot;
    firstPost: number;
    /** The first and the last result event (wall ms). */
    firstEvent: number;
    lastEvent: number;
    blocks: number[];
  };
  /** Diagnosis label of every reading, by its index in the pool (latency, then burst). */
  labels: Map<number, string>;
}

interface LedgerRun {
  name: string;
  batchTimeout?: { text: string; ms: number };
  models: ModelRun[];
  fabricSteps: Map<string, number[][]>;
  /** Median chaincode ms per organisation during each model's burst (Fabric). */
  burstChaincode: Map<string, [number, number]>;
}

async function runModel(
  server: PmheServer,
  net: NetworkState | undefined,
  dir: string,
  tag: string,
  modelId: string,
  stamp: string,
): Promise<ModelRun> {
  const where = `${tag}: ${modelId}`;
  const lat = await BenchClient.create(server.url, dir, `lat-${modelId}-${stamp}`, modelId);
  const users = [lat];
  try {
    return await measure(where, server, net, dir, modelId, stamp, users);
  } finally {
    for (const u of users) u[Symbol.dispose]();
  }
}

/** The latency run with users[0], then the burst with it and USERS − 1 more (added to `users`). */
async function measure(
  where: string,
  server: PmheServer,
  net: NetworkState | undefined,
  dir: string,
  modelId: string,
  stamp: string,
  users: BenchClient[],
): Promise<ModelRun> {
  const lat = users[0] as BenchClient;
  const { plan } = lat.client.user;
  const pool = realTimeReadings(plan, modelId);
  if (pool.length === 0) throw new Error(`${modelId}: no real-time readings`);
  const reading = (i: number) => pool[i % pool.length] as RawReading;
  const labels = new Map<number, string>();
  log(
    `${where} packed (${plan.preset.id}): latency, ${WARMUP} warm-up + ${READINGS} readings one at a time…`,
  );

  const latency: LatencySample[] = [];
  const warmup: number[] = [];
  for (let i = 0; i < WARMUP + READINGS; i++) {
    const queued = await lat.client.queue([reading(i)], Date.now());
    const item = queued.items[0];
    if (queued.items.length !== 1 || !item)
      throw new Error(`${where}: reading ${i} made ${queued.items.length} uploads`);
    const posted = lat.posts.length;
    await lat.flushAll();
    const post = lat.posts[posted];
    if (!post) throw new Error(`${where}: reading ${i} was not posted`);
    const [entry] = await lat.client.collect({ count: 1, timeoutMs: 120_000 });
    const diagnosed = wall();
    if (!entry) throw new Error(`${where}: no result within 120 s for reading ${i}`);
    const event = lat.events.get(item.id);
    labels.set(i, entry.diagnosis.label);
    const sample: LatencySample = {
      post: post.start,
      ack: post.end,
      event: event ?? diagnosed,
      diagnosed,
      hadEvent: event !== undefined,
      txId: entry.txId,
      block: entry.blockNumber,
      label: entry.diagnosis.label,
    };
    if (i < WARMUP) warmup.push(sample.event - sample.post);
    else latency.push(sample);
    if ((i + 1 - WARMUP) % 10 === 0 && i >= WARMUP)
      log(
        `${where}: ${i + 1 - WARMUP}/${READINGS} readings, result p50 so far ${ms(median(latency.map((s) => s.event - s.post)))} ms`,
      );
  }

  // Throughput: the latency user and USERS − 1 more, each warmed up with one reading.
  log(`${where}: burst of ${BURST} readings from ${USERS} users: registering, warming up…`);
  for (let u = 1; u < USERS; u++)
    users.push(await BenchClient.create(server.url, dir, `burst${u}-${modelId}-${stamp}`, modelId));
  // One user at a time, BURST_WARMUP readings in flight together: every simulation thread of the
  // embedded ledger (the least busy takes the next transaction) and each chaincode server loads
  // the user's evaluation keys before the clock starts.
  let next = WARMUP + READINGS;
  for (const u of users.slice(1)) {
    await u.client.queue(
      Array.from({ length: BURST_WARMUP }, (_, j) => reading(next + j)),
      Date.now(),
    );
    next += BURST_WARMUP;
    await u.flushAll();
    const got = await u.client.collect({ count: BURST_WARMUP, timeoutMs: 120_000 });
    if (got.length !== BURST_WARMUP)
      throw new Error(
        `${where}: ${got.length}/${BURST_WARMUP} warm-up readings of a burst user got a result`,
      );
  }
  const ids: string[] = [];
  const indexOf = new Map<string, number>();
  for (const [k, u] of users.entries()) {
    const share = Math.floor(BURST / USERS) + (k < BURST % USERS ? 1 : 0);
    const raws = Array.from({ length: share }, (_, j) => reading(next + j));
    const queued = await u.client.queue(raws, Date.now());
    queued.items.forEach((item, j) => {
      ids.push(item.id);
      indexOf.set(item.id, next + j);
    });
    next += share;
  }
  const postsBefore = users.map((u) => u.posts.length);
  const cpuBefore = cpuSnapshot(server, net);
  log(`${where}: burst: ${ids.length} readings queued (encrypted, signed); sending…`);
  const sending = Promise.all(users.map((u) => u.flushAll()));
  const deadline = Date.now() + 300_000;
  const evented = () => ids.filter((id) => users.some((u) => u.events.has(id))).length;
  for (let last = 0, shown = Date.now(); evented() < ids.length && Date.now() < deadline; ) {
    await sleep(10);
    if (Date.now() - shown > 5_000 && evented() !== last) {
      last = evented();
      shown = Date.now();
      log(`${where}: burst: ${last}/${ids.length} results`);
    }
  }
  await sending;
  const cpu = cpuDelta(cpuBefore, cpuSnapshot(server, net));
  const firstPost = Math.min(...users.flatMap((u, k) => u.posts.slice(postsBefore[k]).map((p) => p.start)));
  const times = ids.map((id) => Math.min(...users.map((u) => u.events.get(id) ?? Number.POSITIVE_INFINITY)));
  const got = times.filter((t) => Number.isFinite(t));
  const lastEvent = Math.max(...got);
  const seconds = (lastEvent - firstPost) / 1000;
  // Untimed: every result fetched, checked, decrypted and diagnosed by its user.
  const entries: HistoryEntry[] = (
    await Promise.all(users.map((u) => u.client.collect({ timeoutMs: 120_000 })))
  ).flat();
  for (const e of entries) {
    const i = indexOf.get(e.submissionId);
    if (i !== undefined) labels.set(i, e.diagnosis.label);
  }
  const blocks = [...new Set(entries.filter((e) => indexOf.has(e.submissionId)).map((e) => e.blockNumber))];
  const perSecond = got.length / seconds;
  log(
    `${where}: burst: ${got.length}/${ids.length} result events in ${seconds.toFixed(2)} s = ${perSecond.toFixed(2)} readings/s; ` +
      `${entries.length} results decrypted`,
  );
  return {
    modelId,
    presetId: plan.preset.id,
    latency,
    warmup,
    burst: {
      readings: ids.length,
      users: users.length,
      seconds,
      perSecond,
      results: entries.filter((e) => indexOf.has(e.submissionId)).length,
      missingEvents: ids.length - got.length,
      cpu,
      firstPost,
      firstEvent: Math.min(...got),
      lastEvent,
      blocks,
    },
    labels,
  };
}

// ---- one ledger ----------------------------------------------------------------------------------

const current: { server?: PmheServer | undefined; fabricUp: boolean } = { fabricUp: false };

async function runLedger(root: string, batchTimeout?: { text: string; ms: number }): Promise<LedgerRun> {
  const name = batchTimeout ? `Fabric, BatchTimeout ${batchTimeout.text}` : 'embedded';
  const tag = batchTimeout ? `fabric ${batchTimeout.text}` : 'embedded';
  const dir = join(root, batchTimeout ? `fabric-${batchTimeout.text}` : 'embedded');
  await mkdir(dir, { recursive: true });
  let net: NetworkState | undefined;
  const out: LedgerRun = {
    name,
    ...(batchTimeout ? { batchTimeout } : {}),
    models: [],
    fabricSteps: new Map(),
    burstChaincode: new Map(),
  };
  try {
    if (batchTimeout) {
      log(`${tag}: npm run fabric:up (PMHE_FABRIC_BATCH_TIMEOUT=${batchTimeout.text})…`);
      current.fabricUp = true;
      await fabricScript('up', { PMHE_FABRIC_BATCH_TIMEOUT: batchTimeout.text });
      net = readNetwork();
      if (net.batchTimeout !== batchTimeout.text)
        throw new Error(
          `the network came up with BatchTimeout ${net.batchTimeout}, not ${batchTimeout.text}`,
        );
    }
    const server = await startPmheServer({
      dataDir: join(dir, 'server'),
      log: join(dir, 'pmhe-server.log'),
      ...(net ? { fabric: net.connectionFile } : {}),
    });
    current.server = server;
    log(`${tag}: pmhe server start${net ? ' --fabric' : ''} on ${server.url}`);
    const stamp = Date.now().toString(36);
    try {
      for (const modelId of MODELS)
        out.models.push(await runModel(server, net, join(dir, 'clients'), tag, modelId, stamp));
    } finally {
      await server.stop();
      current.server = undefined;
    }
    if (net) {
      await sleep(300); // the peers' last log lines
      const logs = await readFabricLogs(net);
      for (const m of out.models) {
        out.fabricSteps.set(
          m.modelId,
          m.latency.map((s) => fabricSteps(s, logs)).filter((s): s is number[] => s !== undefined),
        );
        const during = (org: number) =>
          median(
            [...(logs.chaincode.get(org)?.values() ?? [])]
              .filter((c) => c.end >= m.burst.firstPost && c.end <= m.burst.lastEvent)
              .map((c) => c.ms),
          );
        out.burstChaincode.set(m.modelId, [during(1), during(2)]);
      }
      if (args.keep) cpSync(join(net.dir, 'logs'), join(dir, 'fabric-logs'), { recursive: true });
    }
  } finally {
    if (current.fabricUp) {
      log(`${tag}: npm run fabric:down…`);
      await fabricScript('down');
      current.fabricUp = false;
    }
  }
  return out;
}

// ---- the report ------------------------------------------------------------------------------------

function report(
  header: string[],
  runs: LedgerRun[],
  busy: { before: number[]; after: number[]; others: number },
) {
  const embedded = runs.find((r) => !r.batchTimeout);
  const base = (modelId: string) => embedded?.models.find((m) => m.modelId === modelId);
  const lat = (m: ModelRun) => m.latency.map((s) => s.event - s.post);
  const sections: string[] = [header.join('\n')];

  sections.push(
    [
      `What is timed (${READINGS} latency readings and a burst of ${BURST} per model and ledger; packed layout,`,
      `catalogue presets; PGlite; the server as a child process, the clients in this one).`,
      `**Result latency**: one user sends one reading at a time; from the start of the POST /v1/submissions`,
      `carrying the reading to the arrival at the client of the server's \`result\` event for that submission`,
      `(GET /v1/events; the server sends it once the result is stored and listed by GET /v1/results). The`,
      `encryption and signing before the POST are not timed; fetching, checking, decrypting and diagnosing`,
      `the result (collect()) after the event are shown separately ("→ diagnosis"). ${WARMUP} warm-up reading(s)`,
      `per user first (a user's first issue loads their evaluation keys into each chaincode or simulation`,
      `cache) are not counted. p99 is nearest-rank (with ${READINGS} readings: rank ${Math.ceil(0.99 * READINGS)} of ${READINGS}).`,
      `**Throughput**: ${USERS} users (registered; the latency user, and each other one with ${BURST_WARMUP} readings in flight`,
      `together, warmed up on every simulation thread and chaincode server), ${BURST} readings queued before the clock;`,
      'every user then flushes at once (its readings in one POST); readings/s = readings ÷ (last result event',
      '− first POST start). Results are collected and decrypted after the clock stops.',
    ].join('\n'),
  );

  const rows: (string | number)[][] = [];
  for (const r of runs) {
    for (const m of r.models) {
      const l = lat(m);
      const b = base(m.modelId);
      rows.push([
        r.name,
        `${m.modelId} (${m.presetId})`,
        ms(median(l)),
        ms(quantile(l, 0.99)),
        r.batchTimeout ? signed(median(l) - r.batchTimeout.ms) : '—',
        ms(median(m.latency.map((s) => s.diagnosed - s.post))),
        ms(median(m.latency.map((s) => s.ack - s.post))),
        ms(median(m.warmup)),
        m.burst.perSecond.toFixed(2),
        b && r.batchTimeout ? `${(m.burst.perSecond / b.burst.perSecond).toFixed(2)}×` : '—',
        m.burst.blocks.length > 0 ? (m.burst.readings / m.burst.blocks.length).toFixed(1) : '—',
      ]);
    }
  }
  sections.push(
    `## Results\n\n${table(
      [
        'ledger',
        'model (preset)',
        'result p50 ms',
        'result p99 ms',
        'p50 − BatchTimeout ms',
        '→ diagnosis p50 ms',
        'POST ack p50 ms',
        'warm-up result ms (median)',
        'burst readings/s',
        'throughput Fabric / embedded',
        'burst readings per block',
      ],
      rows,
    )}`,
  );

  const targets: (string | number)[][] = [];
  for (const r of runs) {
    if (!r.batchTimeout) continue;
    for (const m of r.models) {
      const p50 = median(lat(m));
      const limit = r.batchTimeout.ms + TARGET.latencyOverBatchTimeoutMs;
      targets.push([
        `reading → result p50 ≤ BatchTimeout + ${TARGET.latencyOverBatchTimeoutMs} ms`,
        r.batchTimeout.text,
        m.modelId,
        `${ms(p50)} ms (limit ${limit} ms)`,
        p50 <= limit ? 'met' : '**not met**',
      ]);
    }
    for (const m of r.models) {
      const b = base(m.modelId);
      const ratio = b ? m.burst.perSecond / b.burst.perSecond : Number.NaN;
      targets.push([
        `throughput ≥ ${TARGET.throughputRatio}× the embedded ledger's`,
        r.batchTimeout.text,
        m.modelId,
        `${m.burst.perSecond.toFixed(2)} vs ${b ? b.burst.perSecond.toFixed(2) : '—'} readings/s = ${ratio.toFixed(2)}×`,
        ratio >= TARGET.throughputRatio ? 'met' : '**not met**',
      ]);
    }
  }
  sections.push(`## Targets\n\n${table(['target', 'BatchTimeout', 'model', 'measured', 'result'], targets)}`);

  const fabricRuns = runs.filter((r) => r.batchTimeout);
  if (fabricRuns.length > 0) {
    const cols = fabricRuns.flatMap((r) => r.models.map((m) => ({ r, m })));
    const stepRows = FABRIC_STEPS.map((step, i) => [
      step,
      ...cols.map(({ r, m }) => ms(median((r.fabricSteps.get(m.modelId) ?? []).map((s) => s[i] as number)))),
    ]);
    stepRows.push([
      '**result latency** (POST → result event)',
      ...cols.map(({ m }) => `**${ms(median(lat(m)))}**`),
    ]);
    stepRows.push([
      'readings matched in the logs',
      ...cols.map(({ r, m }) => `${(r.fabricSteps.get(m.modelId) ?? []).length}/${m.latency.length}`),
    ]);
    sections.push(
      `## Where a reading's time goes on Fabric (latency runs, median ms per step)\n\n${table(
        ['step', ...cols.map(({ r, m }) => `${r.batchTimeout?.text} ${m.modelId}`)],
        stepRows,
      )}\n\nFrom the client's clock and the UTC timestamps (ms) of peer0.org1's, peer0.org2's and the orderer's` +
        ' logs (`finished chaincode … duration`, `Sending transaction to orderer`, `Created block`, `Committed block`),' +
        " matched by transaction id and block; the medians of the steps need not add up to the total's median.",
    );
  }

  const last = ['other processes', 'machine'];
  const procs = [...new Set(runs.flatMap((r) => r.models.flatMap((m) => [...m.burst.cpu.keys()])))].filter(
    (p) => !last.includes(p),
  );
  procs.push(...last);
  const cpuCols = runs.flatMap((r) => r.models.map((m) => ({ r, m })));
  const cpuRows = procs.map((p) => [
    p === 'machine' ? 'the whole machine (/proc/stat)' : p,
    ...cpuCols.map(({ m }) => {
      const v = m.burst.cpu.get(p);
      return v === undefined || Number.isNaN(v) ? '—' : Math.max(0, (v * 1000) / m.burst.readings).toFixed(0);
    }),
  ]);
  cpuRows.push([
    'first result event, ms after the first POST',
    ...cpuCols.map(({ m }) => (m.burst.firstEvent - m.burst.firstPost).toFixed(0)),
  ]);
  cpuRows.push([
    'wall time of the burst, ms per reading',
    ...cpuCols.map(({ m }) => ((m.burst.seconds * 1000) / m.burst.readings).toFixed(0)),
  ]);
  const ccRows = fabricRuns.flatMap((r) =>
    r.models.map((m) => {
      const [o1, o2] = r.burstChaincode.get(m.modelId) ?? [Number.NaN, Number.NaN];
      return `${r.batchTimeout?.text} ${m.modelId}: ${ms(o1)} ms on Org1, ${ms(o2)} ms on Org2`;
    }),
  );
  sections.push(
    `## CPU during the burst (CPU ms per reading, /proc)\n\n${table(
      [
        'process',
        ...cpuCols.map(({ r, m }) => `${r.batchTimeout ? r.batchTimeout.text : 'embedded'} ${m.modelId}`),
      ],
      cpuRows,
    )}\n\n` +
      `The machine has ${os.cpus().length} cores: ${os.cpus().length * 1000} CPU ms per second of wall time at most.` +
      (ccRows.length > 0
        ? ` Median chaincode time per transaction during the bursts: ${ccRows.join('; ')}.`
        : ''),
  );

  const same = MODELS.map((modelId) => {
    const ref = base(modelId)?.labels;
    const diffs = fabricRuns.flatMap((r) => {
      const got = r.models.find((m) => m.modelId === modelId)?.labels;
      if (!ref || !got) return [];
      return [...ref]
        .filter(([i, label]) => got.has(i) && got.get(i) !== label)
        .map(([i]) => `${r.batchTimeout?.text} #${i}`);
    });
    return `${modelId}: ${ref?.size ?? 0} readings, ${diffs.length === 0 ? 'the same diagnoses on every ledger' : `different diagnoses: ${diffs.join(', ')}`}`;
  });
  const missing = runs.flatMap((r) =>
    r.models.flatMap((m) => {
      const noEvent = m.latency.filter((s) => !s.hadEvent).length;
      return [
        ...(noEvent
          ? [
              `${r.name} ${m.modelId}: ${noEvent} latency readings without a result event (timed to collect())`,
            ]
          : []),
        ...(m.burst.missingEvents
          ? [`${r.name} ${m.modelId}: ${m.burst.missingEvents} burst readings without a result event`]
          : []),
        ...(m.burst.results !== m.burst.readings
          ? [`${r.name} ${m.modelId}: ${m.burst.results}/${m.burst.readings} burst results collected`]
          : []),
      ];
    }),
  );
  sections.push(
    [
      `Same inputs on every ledger: ${same.join('; ')}.`,
      ...missing.map((s) => `PROBLEM: ${s}.`),
      `Load average (1, 5, 15 min) before: ${busy.before.map((x) => x.toFixed(2)).join(', ')}; after: ${busy.after
        .map((x) => x.toFixed(2))
        .join(', ')}. Processes other than this benchmark, its servers and Fabric used ${
        Number.isNaN(busy.others) ? '?' : busy.others.toFixed(2)
      } cores on average during the bursts.`,
    ].join('  \n'),
  );
  return `${sections.join('\n\n')}\n`;
}

// ---- main -----------------------------------------------------------------------------------------

async function main(): Promise<number> {
  if (BINARIES.some((b) => !existsSync(join(FABRIC_BIN, b)))) {
    process.stdout.write(
      `bench:fabric: skipped: no Fabric binaries in $FABRIC_BIN (${FABRIC_BIN}) (see docs/deploy-fabric.md)\n`,
    );
    return 0;
  }
  if (isUp()) {
    process.stderr.write(
      `bench:fabric: a Fabric network is already up in ${DIR}; it brings up its own (one per BatchTimeout): npm run fabric:down first\n`,
    );
    return 1;
  }
  const machine = `Machine: ${machineLine(await peerVersion())}`;
  const header = [
    '# PMHE on Fabric beside the embedded ledger',
    '',
    [`Command: \`${COMMAND}\``, machine, `Date: ${new Date().toISOString()}`].join('  \n'),
  ];
  log(COMMAND);
  log(machine);
  const root = await mkdtemp(join(os.tmpdir(), 'pmhe-bench-fabric-'));
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping the server and the network…`);
    void (async () => {
      await current.server?.stop().catch(() => undefined);
      if (current.fabricUp) await fabricScript('down').catch(() => undefined);
      if (!args.keep) rmSync(root, { recursive: true, force: true });
      process.exit(130);
    })();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const loadBefore = os.loadavg();
  const runs: LedgerRun[] = [];
  try {
    runs.push(await runLedger(root));
    for (const bt of BATCH_TIMEOUTS) runs.push(await runLedger(root, bt));
  } finally {
    if (!args.keep) rmSync(root, { recursive: true, force: true });
  }
  // Other processes' CPU during the bursts, in cores.
  let otherCpu = 0;
  let burstSeconds = 0;
  for (const r of runs)
    for (const m of r.models) {
      otherCpu += m.burst.cpu.get('other processes') ?? Number.NaN;
      burstSeconds += m.burst.seconds;
    }
  const text = report(header, runs, {
    before: loadBefore,
    after: os.loadavg(),
    others: otherCpu / burstSeconds,
  });
  process.stdout.write(text);
  if (args.out) await writeFile(args.out, text);
  if (args.keep) log(`kept ${root} (servers' logs; Fabric's logs in fabric-*/fabric-logs)`);
  log(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return 0;
}

process.exitCode = await main();
// The clients' event streams and the servers' sockets are closed; leave without waiting for timers.
process.exit(process.exitCode);
