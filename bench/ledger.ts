/**
 * `npm run bench:ledger`: the FHE-Contract on the embedded ledger at paper-p2 (issue 5, "Benchmarks").
 * Prints Markdown; `--out FILE` also writes it. Everything runs in a temporary folder, removed at the end.
 *
 * 1. Throughput and commit latency of receive + issue per layout: `--users` users (set up first,
 *    untimed) each submit a receive and then an issue for one upload, with `--concurrency`
 *    transactions in flight so blocks batch, until `--pairs` pairs are done or `--seconds` pass.
 *    Envelopes and requests are encrypted and signed before the clock starts (client cost is
 *    not ledger cost), and one warm-up pair per user loads their evaluation keys into the
 *    contract's cache first. Latency runs from the submit call to the commit resolving. The packed
 *    row also runs at the `--sweep` concurrencies, and `--serial` transactions one at a time to
 *    split simulation (`ledger.evaluate`) from ordering and commit.
 * 2. Bytes stored on the ledger per reading (block files and the state database), beside §5.2.
 * 3. Time to verify and to recover `--blocks` one-transaction blocks.
 *
 * Same-run baselines: the model evaluated directly with src/models/runtime.ts (what the contract
 * computes, without the ledger), an fsync'd append of the same transaction bytes to a plain file
 * (what durability costs at least), reading and hashing the block files (the floor of verify),
 * and opening the ledger with its state current (the floor of recovery).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, open as openFile, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ClassicLevel } from 'classic-level';
import Table from 'cli-table3';
import { CkksContext, Encryptor, Evaluator, type PresetId, SecretKey } from '../src/ckks/index.ts';
import { LocalUser } from '../src/client/user.ts';
import { submissionId } from '../src/ledger/contract-client.ts';
import { type BatchOptions, DEFAULT_BATCH, EmbeddedLedger } from '../src/ledger/embedded.ts';
import type { Proposal } from '../src/ledger/ledger.ts';
import { decodeTx } from '../src/ledger/transaction.ts';
import { verifyLedger } from '../src/ledger/verify.ts';
import { cohortUploads } from '../src/models/cohort.ts';
import type { Plan } from '../src/models/compiler.ts';
import { encryptTuple, evaluate, loadTuple, runClear, tupleVectors } from '../src/models/runtime.ts';
import type { Upload } from '../src/models/validation.ts';
import { readAnswer } from '../src/protocol/contract.ts';
import type { Layout } from '../src/protocol/schema.ts';
import { fmt, header, type Stats, time } from './report.ts';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string' },
    seconds: { type: 'string', default: '15' },
    pairs: { type: 'string', default: '200' },
    users: { type: 'string', default: '16' },
    concurrency: { type: 'string', default: '32' },
    sweep: { type: 'string', default: '1,8' },
    only: { type: 'string', default: 'packed,paper,batch,chd' },
    serial: { type: 'string', default: '20' },
    reps: { type: 'string', default: '10' },
    blocks: { type: 'string', default: '10000' },
    'build-seconds': { type: 'string', default: '180' },
    'recover-reps': { type: 'string', default: '3' },
    workers: { type: 'string', default: String(os.cpus().length) },
    // paper-p2 (issue 5's targets), or `catalogue`: each model at its catalogue preset (issue 15's).
    preset: { type: 'string', default: 'paper-p2' },
  },
});
const SECONDS = Number(args.seconds);
const PAIRS = Number(args.pairs);
const USERS = Number(args.users);
const CONCURRENCY = Number(args.concurrency);
const SWEEP = args.sweep
  .split(',')
  .filter((s) => s !== '')
  .map(Number)
  .filter((c) => c !== CONCURRENCY);
const ONLY = new Set(args.only.split(','));
const SERIAL = Number(args.serial);
const REPS = Number(args.reps);
const BLOCKS = Number(args.blocks);
const BUILD_SECONDS = Number(args['build-seconds']);
const RECOVER_REPS = Number(args['recover-reps']);
const WORKERS = Number(args.workers);

const PRESET: PresetId | undefined = args.preset === 'catalogue' ? undefined : (args.preset as PresetId);
const BATCH: BatchOptions = { ...DEFAULT_BATCH };
/** The contract caches this many evaluators (src/contract/plans.ts): more users with keys reload them. */
const EVALUATOR_CACHE = 16;
/** Issue 5's targets on this 2-core machine. */
const TARGET = { packedTxPerSecond: 50, packedP99Ms: 500, batchReadingsPerSecond: 50_000 };
/** §5.2, Storage Cost: "the total storage required is about 800KB bytes" for 100 uploads. */
const PAPER_STORAGE_PER_UPLOAD = 800_000 / 100;
/** §5.2: "A total of 262144 bytes are consumed after the triple is encoded and encrypted". */
const PAPER_TRIPLE_BYTES = 262_144;

interface RowSpec {
  key: string;
  modelId: string;
  layout: Layout;
}
const ALL_ROWS: RowSpec[] = [
  { key: 'packed', modelId: 'early-warning', layout: 'packed' },
  { key: 'paper', modelId: 'early-warning', layout: 'paper' },
  { key: 'batch', modelId: 'early-warning', layout: 'batch' },
  { key: 'chd', modelId: 'chd-risk', layout: 'packed' },
];
const ROWS = ALL_ROWS.filter((r) => ONLY.has(r.key));

// ---- helpers ------------------------------------------------------------------------------

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Garbage-collection pauses of this process so far, ms (reported after each entry, so read it late). */
let gcMs = 0;
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
});
gcObserver.observe({ entryTypes: ['gc'] });
const settle = () => new Promise((resolve) => setImmediate(resolve));
const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const rate = (v: number) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));
const yes = (ok: boolean) => (ok ? '**pass**' : '**fail**');
const ratio = (v: number) => (v >= 0.1 ? fmt.ratio(v) : `${v.toPrecision(1)}×`);
const pct = (v: number) => `${(v * 100).toFixed(0)}%`;

/** Nearest-rank percentile, as report.ts's time() computes its p95. */
function percentile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}
const median = (samples: readonly number[]) => percentile(samples, 0.5);

/** A GitHub-Markdown table laid out by cli-table3 (columns aligned, as in docs/benchmarks.md). */
function markdown(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, c) => Math.max(3, ...cells.map((r) => (r[c] ?? '').length)));
  const none = { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '' };
  const out = new Table({
    head,
    style: { head: [], border: [], compact: true },
    chars: {
      ...none,
      'bottom-left': '',
      'bottom-right': '',
      left: '|',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '|',
      'right-mid': '',
      middle: '|',
    },
  });
  out.push(
    widths.map((w) => '-'.repeat(w)),
    ...rows.map((r) => r.map(String)),
  );
  return out.toString();
}

/** Total size of the files under a folder, in bytes. */
async function du(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/**
 * Sizes of a closed ledger's block files and state database. The state is compacted first (with
 * classic-level, as the ledger opens it): otherwise LevelDB's write-ahead log and pending
 * compactions make the difference between two measurements wander by megabytes.
 */
async function sizes(dir: string): Promise<{ blocks: number; state: number }> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(join(dir, 'state'), {
    keyEncoding: 'view',
    valueEncoding: 'view',
  });
  await db.open();
  try {
    await db.compactRange(Uint8Array.of(0), Uint8Array.of(0xff));
  } finally {
    await db.close();
  }
  return { blocks: await du(join(dir, 'blocks')), state: await du(join(dir, 'state')) };
}

async function timed<T>(fn: () => Promise<T>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

function errorKey(error: unknown): string {
  const e = error as { code?: string; message?: string };
  return `${e.code ?? 'Error'}: ${(e.message ?? String(error)).slice(0, 120)}`;
}

// ---- 1 and 2: receive + issue --------------------------------------------------------------

interface Work {
  user: LocalUser;
  upload: Upload;
  receive: Proposal;
  issue: Proposal;
}

interface Phase {
  concurrency: number;
  /** Simulation threads of the ledger (0: the main thread). */
  workers: number;
  prepared: number;
  clientMs: number;
  pairs: number;
  receives: number;
  issues: number;
  elapsedMs: number;
  blocks: number;
  latency: { receive: number[]; issue: number[]; all: number[] };
  failures: Map<string, number>;
  cpu: number;
  elu: number;
  /** Share of the run spent in garbage-collection pauses. */
  gc: number;
  /** The same transaction bytes appended, one fsync per block, to a plain file. */
  appendMs: number;
  /** First pair's result decrypted against the clear model: largest |Q − clear|. */
  error: number;
}

interface Direct {
  load: Stats;
  issue: Stats;
}

interface Breakdown {
  client: { receive: number; issue: number };
  simulate: { receive: number[]; issue: number[] };
  submit: { receive: number[]; issue: number[] };
  append: { receive: number[]; issue: number[] };
  /** Garbage-collection pauses per evaluate or submit call, ms. */
  gcPerTx: number;
}

interface RowResult {
  spec: RowSpec;
  plan: Plan;
  setupBytes: { blocks: number; state: number };
  /** Bytes added by every receive and issue after the setups, and the readings they carried. */
  stored: { blocks: number; state: number; readings: number };
  /** Bytes of those transactions in the blocks, by function. */
  txBytes: { receive: number; issue: number };
  phases: Phase[];
  direct: Direct;
  breakdown: Breakdown | null;
  /** Latency of each user's first issues (warm-up): they load the user's evaluation keys. */
  firstIssue: number[];
}

/** Encrypts and signs `count` pairs round-robin over the users, stopping early after `budgetMs`. */
async function prepare(users: LocalUser[], uploads: Upload[], count: number, budgetMs: number) {
  const work: Work[] = [];
  const start = performance.now();
  let receiveMs = 0;
  for (let i = 0; i < count && performance.now() - start < budgetMs; i++) {
    const user = users[i % users.length] as LocalUser;
    const upload = uploads[i % uploads.length] as Upload;
    const t = performance.now();
    const envelope = await user.envelope(upload.readings, upload.profile);
    receiveMs += performance.now() - t;
    work.push({
      user,
      upload,
      receive: user.receive([envelope]),
      issue: await user.request('issue', { submissions: [submissionId(envelope)] }),
    });
  }
  return { work, envelopeMs: receiveMs / work.length, totalMs: performance.now() - start };
}

/** Reads Z back (the `result` query with the committed issue request); compares with the clear model. */
async function maxError(ledger: EmbeddedLedger, plan: Plan, work: Work): Promise<number> {
  const { user, upload } = work;
  const got = user.decrypt(readAnswer('result', await ledger.evaluate('result', work.issue)));
  const want = runClear(plan, tupleVectors(plan, upload.readings, upload.profile));
  let worst = 0;
  for (const [name, values] of Object.entries(want)) {
    values.forEach((v, i) => {
      worst = Math.max(worst, Math.abs((got[name]?.[i] ?? Number.NaN) - v));
    });
  }
  return worst;
}

/** Reads blocks [from, to) and appends each block's transaction bytes to a plain file, fsync per block. */
async function replayAppend(ledger: EmbeddedLedger, from: number, to: number, file: string) {
  const perBlock: { fn: string; ms: number }[] = [];
  const handle = await openFile(file, 'a');
  try {
    for (let n = from; n < to; n++) {
      const block = await ledger.block(n);
      let bytes = 0;
      let fn = '';
      for (const tx of block.transactions) {
        fn = decodeTx(tx).function;
        bytes += tx.length;
      }
      const joined = Buffer.concat(block.transactions, bytes);
      const start = performance.now();
      let written = 0;
      while (written < joined.length) {
        written += (await handle.write(joined, written, joined.length - written)).bytesWritten;
      }
      await handle.sync();
      perBlock.push({ fn, ms: performance.now() - start });
    }
  } finally {
    await handle.close();
    await rm(file, { force: true });
  }
  return { perBlock };
}

/**
 * Untimed: `parallel` pairs per user, in flight together so each simulation worker gets one. A
 * user's first issue on a thread loads their evaluation keys into that thread's contract cache
 * (src/contract/plans.ts); the runs measure the steady state.
 */
async function warmUp(ledger: EmbeddedLedger, users: LocalUser[], uploads: Upload[], parallel: number) {
  const { work } = await prepare(
    users,
    uploads,
    users.length * Math.max(1, parallel),
    Number.POSITIVE_INFINITY,
  );
  const firstIssue: number[] = [];
  for (const user of users) {
    await Promise.all(
      work
        .filter((w) => w.user === user)
        .map(async (w) => {
          await ledger.submit('receive', w.receive);
          firstIssue.push(await timed(() => ledger.submit('issue', w.issue)));
        }),
    );
  }
  return { firstIssue, pairs: work.length };
}

/** Bytes of the receive and issue transactions in blocks [from, to). */
async function countTxBytes(ledger: EmbeddedLedger, from: number, to: number) {
  const bytes = { receive: 0, issue: 0 };
  for (let n = from; n < to; n++) {
    for (const tx of (await ledger.block(n)).transactions) {
      const fn = decodeTx(tx).function;
      if (fn === 'receive' || fn === 'issue') bytes[fn] += tx.length;
    }
  }
  return bytes;
}

async function runPhase(
  ledger: EmbeddedLedger,
  plan: Plan,
  users: LocalUser[],
  uploads: Upload[],
  concurrency: number,
  workers: number,
  scratch: string,
): Promise<Phase> {
  // Preparing more than the ledger can take in SECONDS is wasted: the client is never slower
  // than the ledger per pair here, so stop preparing once it has taken SECONDS.
  const prepared = await prepare(users, uploads, PAIRS, SECONDS * 1000);
  log(
    `  ${prepared.work.length} pairs encrypted and signed in ${(prepared.totalMs / 1000).toFixed(1)} s; ` +
      `running with ${concurrency} in flight, ${workers} simulation workers…`,
  );
  const latency = { receive: [] as number[], issue: [] as number[], all: [] as number[] };
  const failures = new Map<string, number>();
  const fail = (error: unknown) => failures.set(errorKey(error), (failures.get(errorKey(error)) ?? 0) + 1);
  let first: Work | null = null;
  let next = 0;
  let pairs = 0;
  const h0 = await ledger.height();
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  await settle();
  const gc0 = gcMs;
  const t0 = performance.now();
  const lane = async () => {
    while (next < prepared.work.length && performance.now() - t0 < SECONDS * 1000) {
      const w = prepared.work[next++] as Work;
      let start = performance.now();
      try {
        await ledger.submit('receive', w.receive);
      } catch (error) {
        fail(error);
        continue;
      }
      latency.receive.push(performance.now() - start);
      start = performance.now();
      try {
        await ledger.submit('issue', w.issue);
        first ??= w;
      } catch (error) {
        fail(error);
        continue;
      }
      latency.issue.push(performance.now() - start);
      pairs++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0).utilization;
  await settle();
  const gc = (gcMs - gc0) / elapsedMs;
  const h1 = await ledger.height();
  latency.all = [...latency.receive, ...latency.issue];
  const replayed = await replayAppend(ledger, h0, h1, join(scratch, 'append.bin'));
  const got = first as Work | null;
  return {
    concurrency,
    workers,
    prepared: prepared.work.length,
    clientMs: prepared.envelopeMs,
    pairs,
    receives: latency.receive.length,
    issues: latency.issue.length,
    elapsedMs,
    blocks: h1 - h0,
    latency,
    failures,
    cpu: (cpu.user + cpu.system) / 1000 / elapsedMs,
    elu,
    gc,
    appendMs: replayed.perBlock.reduce((s, b) => s + b.ms, 0),
    error: got ? await maxError(ledger, plan, got) : Number.NaN,
  };
}

/** The contract's CKKS work without the ledger: loading a tuple (receive), load + evaluate + save (issue). */
async function directBaseline(plan: Plan, upload: Upload): Promise<Direct> {
  const context = await CkksContext.create(plan.preset.id);
  using secret = SecretKey.generate(context);
  using encryptor = Encryptor.withSecretKey(secret);
  using relinKeys = plan.multiplications.ciphertext > 0 ? secret.relinKeys() : undefined;
  using galoisKeys = plan.galoisSteps.length > 0 ? secret.galoisKeys(plan.galoisSteps) : undefined;
  using evaluator = new Evaluator(context, {
    ...(relinKeys ? { relinKeys } : {}),
    ...(galoisKeys ? { galoisKeys } : {}),
  });
  const bytes = encryptTuple(plan, encryptor, tupleVectors(plan, upload.readings, upload.profile));
  const load = time(REPS, () => {
    for (const v of loadTuple(plan, context, bytes)) v.dispose();
  });
  const issue = time(REPS, () => {
    const inputs = loadTuple(plan, context, bytes);
    const z = evaluate(plan, evaluator, inputs);
    for (const c of z) c.save();
    for (const v of [...inputs, ...z]) v.dispose();
  });
  return { load, issue };
}

/** One transaction at a time on a ledger reopened with one transaction per block: simulate vs commit. */
async function breakdown(dir: string, users: LocalUser[], uploads: Upload[], scratch: string) {
  const ledger = await EmbeddedLedger.open(dir, { batch: { ...BATCH, maxTransactions: 1 } });
  try {
    const prepared = await prepare(users, uploads, SERIAL, Number.POSITIVE_INFINITY);
    const t = performance.now();
    for (const w of prepared.work) await w.user.request('issue', { submissions: ['0'.repeat(64)] });
    const signMs = (performance.now() - t) / prepared.work.length;
    const out: Breakdown = {
      client: { receive: prepared.envelopeMs, issue: signMs },
      simulate: { receive: [], issue: [] },
      submit: { receive: [], issue: [] },
      append: { receive: [], issue: [] },
      gcPerTx: 0,
    };
    const h0 = await ledger.height();
    // Paired: each transaction is simulated (evaluate) and then submitted, so drift hits both alike.
    const gc0 = gcMs;
    for (const fn of ['receive', 'issue'] as const) {
      for (const w of prepared.work) {
        out.simulate[fn].push(await timed(() => ledger.evaluate(fn, w[fn])));
        out.submit[fn].push(await timed(() => ledger.submit(fn, w[fn])));
      }
    }
    await settle();
    out.gcPerTx = (gcMs - gc0) / (4 * prepared.work.length);
    const replayed = await replayAppend(ledger, h0, await ledger.height(), join(scratch, 'append.bin'));
    for (const b of replayed.perBlock)
      if (b.fn === 'receive' || b.fn === 'issue') out.append[b.fn].push(b.ms);
    return out;
  } finally {
    await ledger.close();
  }
}

async function runRow(spec: RowSpec, root: string): Promise<RowResult> {
  const dir = join(root, `${spec.modelId}-${spec.layout}`);
  log(`${spec.modelId} / ${spec.layout}: creating ${USERS} users and submitting their setups (untimed)…`);
  const users: LocalUser[] = [];
  for (let i = 0; i < USERS; i++) {
    users.push(
      await LocalUser.create({
        userId: `${spec.modelId}-${spec.layout}-${i}`,
        modelId: spec.modelId,
        layout: spec.layout,
        ...(PRESET ? { presetId: PRESET } : {}),
      }),
    );
  }
  try {
    const plan = (users[0] as LocalUser).plan;
    const keyed = plan.galoisSteps.length > 0 || plan.multiplications.ciphertext > 0;
    if (keyed && USERS > EVALUATOR_CACHE) {
      log(`  note: ${USERS} users with evaluation keys, the contract caches ${EVALUATOR_CACHE} evaluators`);
    }
    const open = (workers: number) => EmbeddedLedger.open(dir, { batch: BATCH, workers });
    let ledger = await open(0);
    await Promise.all(users.map(async (u) => ledger.submit('setup', await u.setup())));
    // Closed, so the sizes are what is on disk; what the pairs add after this is their cost.
    await ledger.close();
    const setupBytes = await sizes(dir);
    const uploads = cohortUploads(plan, {
      readings: Math.min(PAIRS, 64) * plan.readingsPerUpload,
      seed: 20211,
    });
    const phases: Phase[] = [];
    let firstIssue: number[] = [];
    let stored = { blocks: 0, state: 0, readings: 0 };
    let txBytes = { receive: 0, issue: 0 };
    ledger = await open(WORKERS);
    try {
      const h0 = await ledger.height();
      const warm = await warmUp(ledger, users, uploads, WORKERS);
      firstIssue = warm.firstIssue;
      phases.push(await runPhase(ledger, plan, users, uploads, CONCURRENCY, WORKERS, root));
      if (spec.key === 'packed') {
        for (const c of SWEEP) phases.push(await runPhase(ledger, plan, users, uploads, c, WORKERS, root));
      }
      txBytes = await countTxBytes(ledger, h0, await ledger.height());
      await ledger.close();
      const after = await sizes(dir);
      const pairs = warm.pairs + phases.reduce((n, p) => n + p.pairs, 0);
      stored = {
        blocks: after.blocks - setupBytes.blocks,
        state: after.state - setupBytes.state,
        readings: pairs * plan.readingsPerUpload,
      };
      if (spec.key === 'packed' && WORKERS > 0) {
        // Same-run baseline: simulation on the main thread (the caches there are warmed first).
        ledger = await open(0);
        await warmUp(ledger, users, uploads, 1);
        phases.push(await runPhase(ledger, plan, users, uploads, CONCURRENCY, 0, root));
      }
    } finally {
      await ledger.close();
    }
    log('  baseline: the model evaluated directly…');
    const direct = await directBaseline(plan, uploads[0] as Upload);
    let where: Breakdown | null = null;
    if (spec.key === 'packed' && SERIAL > 0) {
      log(`  where the time goes: ${SERIAL} receives and issues one at a time…`);
      where = await breakdown(dir, users, uploads, root);
    }
    return { spec, plan, setupBytes, stored, txBytes, phases, direct, breakdown: where, firstIssue };
  } finally {
    for (const u of users) u[Symbol.dispose]();
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- 3: verify and recover -----------------------------------------------------------------

interface Recovery {
  blocks: number;
  target: number;
  buildMs: number;
  bytes: { blocks: number; state: number };
  verify: number[];
  verdict: Awaited<ReturnType<typeof verifyLedger>>;
  hashFloor: number[];
  openCurrent: number[];
  rebuild: number[];
  rebuilt: { rebuilt: boolean; replayed: number };
}

/** Builds a ledger of one receive per block (early-warning, packed, secure-4096); times verify and open. */
async function recovery(root: string): Promise<Recovery> {
  const dir = join(root, 'recovery');
  const user = await LocalUser.create({
    userId: 'recovery',
    modelId: 'early-warning',
    layout: 'packed',
    presetId: 'secure-4096',
  });
  try {
    let ledger = await EmbeddedLedger.open(dir, {
      batch: { ...BATCH, maxTransactions: 1 },
      workers: WORKERS,
    });
    await ledger.submit('setup', await user.setup());
    const uploads = cohortUploads(user.plan, { readings: 256, seed: 7 });
    log(`recovery: building ${BLOCKS.toLocaleString('en-US')} blocks (at most ${BUILD_SECONDS} s)…`);
    // Envelopes are made as the build goes (10,000 made first would hold 440 MB).
    const start = performance.now();
    let height = await ledger.height();
    let next = height;
    const lane = async () => {
      while (next < BLOCKS && performance.now() - start < BUILD_SECONDS * 1000) {
        const i = next++;
        const upload = uploads[i % uploads.length] as Upload;
        const committed = await ledger.submit(
          'receive',
          user.receive([await user.envelope(upload.readings)]),
        );
        height = Math.max(height, committed.blockNumber + 1);
        if (height % 1000 === 0) log(`  ${height} blocks`);
      }
    };
    await Promise.all(Array.from({ length: 4 }, lane));
    const buildMs = performance.now() - start;
    height = await ledger.height();
    await ledger.close();
    const bytes = await sizes(dir);
    log(`  ${height} blocks in ${(buildMs / 1000).toFixed(0)} s; verifying and reopening…`);

    // Each repetition: open with the state current, rebuild it from the blocks, then verify the
    // rebuilt ledger (timed) and read + hash the block files (the floor of verify).
    const verify: number[] = [];
    let verdict = await verifyLedger(dir); // untimed: warms the page cache like the repetitions
    const hashFloor: number[] = [];
    const openCurrent: number[] = [];
    const rebuild: number[] = [];
    let rebuilt = { rebuilt: false, replayed: 0 };
    for (let rep = 0; rep < RECOVER_REPS; rep++) {
      let t = performance.now();
      ledger = await EmbeddedLedger.open(dir);
      openCurrent.push(performance.now() - t);
      if (ledger.opened.replayed !== 0 || ledger.opened.rebuilt) throw new Error('open replayed blocks');
      await ledger.close();
      await rm(join(dir, 'state'), { recursive: true, force: true });
      t = performance.now();
      ledger = await EmbeddedLedger.open(dir);
      rebuild.push(performance.now() - t);
      rebuilt = { rebuilt: ledger.opened.rebuilt, replayed: ledger.opened.replayed };
      await ledger.close();
      if (!rebuilt.rebuilt || rebuilt.replayed !== height)
        throw new Error(`rebuild: ${JSON.stringify(rebuilt)}`);
      t = performance.now();
      verdict = await verifyLedger(dir);
      verify.push(performance.now() - t);
      if (!verdict.ok) throw new Error(`verify after rebuild failed: ${verdict.problems.join('; ')}`);
      t = performance.now();
      const files = await readdir(join(dir, 'blocks'));
      for (const name of files)
        createHash('sha256')
          .update(await readFile(join(dir, 'blocks', name)))
          .digest();
      hashFloor.push(performance.now() - t);
    }
    if (!verdict.ok) throw new Error(`verify failed: ${verdict.problems.join('; ')}`);
    return {
      blocks: height,
      target: BLOCKS,
      buildMs,
      bytes,
      verify,
      verdict,
      hashFloor,
      openCurrent,
      rebuild,
      rebuilt,
    };
  } finally {
    user[Symbol.dispose]();
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- report -------------------------------------------------------------------------------

const argv = process.argv.slice(2);
const command = `npm run bench:ledger${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;
/** CPU seconds the whole machine has been busy (Linux /proc/stat, 100 ticks a second); null elsewhere. */
async function machineBusy(): Promise<number | null> {
  try {
    const fields = (await readFile('/proc/stat', 'utf8'))
      .split('\n')[0]
      ?.trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    if (!fields || fields.length < 8) return null;
    const [user, nice, system, , , irq, softirq, steal] = fields as number[];
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100;
  } catch {
    return null;
  }
}
const loadBefore = os.loadavg();
const busyBefore = await machineBusy();
const wallBefore = performance.now();
const cpuBefore = process.cpuUsage();
const root = await mkdtemp(join(os.tmpdir(), 'pmhe-bench-ledger-'));
const results: RowResult[] = [];
let rec: Recovery | null = null;
try {
  for (const spec of ROWS) results.push(await runRow(spec, root));
  if (BLOCKS > 0) rec = await recovery(root);
} finally {
  await rm(root, { recursive: true, force: true });
}

const busyAfter = await machineBusy();
const ownCpu = process.cpuUsage(cpuBefore);
/** Cores' worth of CPU that other processes used while this benchmark ran. */
const others =
  busyBefore === null || busyAfter === null
    ? null
    : (busyAfter - busyBefore - (ownCpu.user + ownCpu.system) / 1e6) /
      ((performance.now() - wallBefore) / 1000);
const name = (r: RowResult) => `${r.spec.modelId} / ${r.spec.layout}`;
const perPair = (p: Phase) => p.elapsedMs / Math.max(1, p.pairs);
const txRate = (p: Phase) => ((p.receives + p.issues) * 1000) / p.elapsedMs;
const pairRate = (p: Phase) => (p.pairs * 1000) / p.elapsedMs;
const readingRate = (r: RowResult, p: Phase) => pairRate(p) * r.plan.readingsPerUpload;

/** Joins sentence fragments with spaces (keeps the source within the line width). */
const prose = (...parts: string[]) => parts.filter((p) => p !== '').join(' ');
const loads = (v: number[]) => v.map((x) => x.toFixed(2)).join(', ');
const p50p99 = (v: number[]) => `${ms(median(v))} / ${ms(percentile(v, 0.99))}`;

const sections: string[] = [
  `# The FHE-Contract on the embedded ledger\n\n${header(command)}`,
  prose(
    `Preset ${PRESET ?? "each model's catalogue preset"}; ${USERS} users per row, set up before timing; ${WORKERS} simulation workers unless a`,
    `table says otherwise; blocks cut at ${BATCH.maxTransactions} transactions,`,
    `${fmt.bytes(BATCH.preferredMaxBytes)} bytes or ${BATCH.timeoutMs} ms (the ledger's defaults); each run`,
    `stops after ${PAIRS} pairs or ${SECONDS} s. Envelopes and requests are encrypted and signed before the`,
    "clock starts, and each user's first pairs (which load their evaluation keys into the contract's cache",
    'on each simulation thread) run before it too. Latency: from the submit call to the commit resolving',
    '(simulation, ordering, validation, fsync, state).',
    `Load average (1, 5, 15 min) before: ${loads(loadBefore)}; after: ${loads(os.loadavg())}.`,
    others === null
      ? ''
      : `Other processes used ${Math.max(0, others).toFixed(2)} cores on average while it ran (/proc/stat).`,
  ),
];

const throughputRows: (string | number)[][] = [];
for (const r of results) {
  for (const p of r.phases) {
    throughputRows.push([
      name(r),
      p.workers,
      p.concurrency,
      `${p.pairs} / ${p.prepared}`,
      (p.elapsedMs / 1000).toFixed(1),
      rate(txRate(p)),
      rate(pairRate(p)),
      rate(readingRate(r, p)),
      p50p99(p.latency.receive),
      p50p99(p.latency.issue),
      p50p99(p.latency.all),
      p.blocks > 0 ? ((p.receives + p.issues) / p.blocks).toFixed(1) : '–',
      pct(p.elu),
      pct(p.cpu),
      pct(p.gc),
      [...p.failures.values()].reduce((a, b) => a + b, 0),
      p.error.toExponential(1),
    ]);
  }
}
sections.push(
  `## Receive + issue: throughput and commit latency\n\n${markdown(
    [
      'model / layout',
      'workers',
      'in flight',
      'pairs done / prepared',
      's',
      'tx/s',
      'pairs/s',
      'readings/s',
      'receive p50 / p99 ms',
      'issue p50 / p99 ms',
      'all tx p50 / p99 ms',
      'tx per block',
      'event loop busy',
      'CPU (of 1 core)',
      'GC pauses',
      'failed',
      'max abs error of 1st result',
    ],
    throughputRows,
  )}`,
  prose(
    'tx/s counts receives and issues separately; a pair is one receive and its issue. Workers: the',
    'ledger\'s simulation threads (`workers` option; 0 simulates on the main thread). "Event loop busy" is',
    'the main thread\'s utilization over the run; "CPU" is user + system time of the whole process (all',
    'threads) over wall time. The error column decrypts the first result and compares it with the model',
    'evaluated in the clear.',
  ),
);
for (const r of results) {
  for (const p of r.phases) {
    for (const [error, count] of p.failures) {
      sections.push(
        `Failed in ${name(r)} (${p.concurrency} in flight, ${p.workers} workers), ${count}×: ${error}`,
      );
    }
  }
}

sections.push(
  `## Baselines in the same run\n\n${markdown(
    [
      'model / layout',
      'ledger ms per pair at throughput',
      "direct: load tuple ms (receive's CKKS work)",
      "direct: load + evaluate + save ms (issue's)",
      'ledger / direct',
      'client: encrypt + sign ms per upload',
      "a user's first issues ms (load keys)",
      "fsync'd append of the same bytes, s",
      'share of the run',
    ],
    results.map((r) => {
      const p = r.phases[0] as Phase;
      const direct = r.direct.load.median / 1000 + r.direct.issue.median / 1000;
      return [
        name(r),
        ms(perPair(p)),
        ms(r.direct.load.median / 1000),
        ms(r.direct.issue.median / 1000),
        fmt.ratio(perPair(p) / direct),
        ms(p.clientMs),
        ms(median(r.firstIssue)),
        (p.appendMs / 1000).toFixed(2),
        fmt.pct(p.appendMs / p.elapsedMs),
      ];
    }),
  )}`,
  prose(
    `Direct: src/models/runtime.ts on one upload of the same plan, no ledger (median of ${REPS}).`,
    '"Ledger / direct" divides the wall time per pair of the first run of the row by the direct CKKS work',
    'of a pair (load for receive, load + evaluate + save for issue). The append baseline writes each',
    "committed block's transaction bytes to a plain file with one fsync per block. A user's first issues:",
    `median over the warm-up (${Math.max(1, WORKERS)} pairs per user in flight together, so each simulation`,
    'thread loads the keys once).',
  ),
);

const packed = results.find((r) => r.spec.key === 'packed');
if (packed?.breakdown) {
  const b = packed.breakdown;
  const sim = { receive: median(b.simulate.receive), issue: median(b.simulate.issue) };
  const sub = { receive: median(b.submit.receive), issue: median(b.submit.issue) };
  const app = { receive: median(b.append.receive), issue: median(b.append.issue) };
  const paired = (fn: 'receive' | 'issue') =>
    median(b.submit[fn].map((v, i) => v - (b.simulate[fn][i] as number)));
  const direct = { receive: packed.direct.load.median / 1000, issue: packed.direct.issue.median / 1000 };
  const row = (label: string, v: { receive: number; issue: number }) => [
    label,
    ms(v.receive),
    ms(v.issue),
    ms(v.receive + v.issue),
  ];
  const pw = packed.phases[0] as Phase;
  const p = packed.phases.find((q) => q.workers === 0 && q.concurrency === CONCURRENCY) ?? pw;
  const simShare = ((sim.receive + sim.issue) * p.pairs) / p.elapsedMs;
  sections.push(
    `## Where the time goes: early-warning / packed, one transaction at a time (median of ${SERIAL}, ms)`,
    markdown(
      ['step', 'receive', 'issue', 'pair'],
      [
        row('client: encrypt + sign (not ledger time)', b.client),
        row('simulate: `ledger.evaluate` of the same transaction', sim),
        row('… of which the CKKS work, run directly (baseline)', direct),
        row('… the rest: contract routing, signature, hashing, state reads, JSON', {
          receive: sim.receive - direct.receive,
          issue: sim.issue - direct.issue,
        }),
        row('order + validate + append + state (submit − simulate, paired)', {
          receive: paired('receive'),
          issue: paired('issue'),
        }),
        row("… of which an fsync'd append of the same bytes (baseline)", app),
        row('submit, one transaction per block', sub),
        row('garbage-collection pauses per evaluate or submit call (mean)', {
          receive: b.gcPerTx,
          issue: b.gcPerTx,
        }),
      ],
    ),
    prose(
      'Simulation on the main thread, the ledger reopened with one transaction per block (no batch timeout',
      `is waited for). With simulation on the main thread and ${p.concurrency} in flight, the run above took`,
      `${ms(perPair(p))} ms of wall time per pair; simulation alone (serial medians × pairs) is`,
      `${pct(simShare)} of that, the event loop was busy ${pct(p.elu)} and the process used ${pct(p.cpu)} of`,
      `one core. With ${pw.workers} simulation workers and ${pw.concurrency} in flight:`,
      `${ms(perPair(pw))} ms per pair, event loop busy ${pct(pw.elu)}, CPU ${pct(pw.cpu)} of one core.`,
      'One issue of this plan is',
      `${packed.plan.rotations} rotations and ${packed.plan.multiplications.plaintext} plaintext`,
      `multiplications for ${packed.plan.outputs.length} outputs.`,
    ),
  );
}

sections.push(
  `## Bytes stored on the ledger per reading (receive + issue; setup excluded)\n\n${markdown(
    [
      'model / layout',
      'readings per upload',
      'block files',
      'state database',
      'total',
      'in blocks: receive tx',
      'in blocks: issue tx',
      '§5.2 storage: 800 KB / 100 uploads',
      '§5.2 encrypted triple: 262,144',
    ],
    results.map((r) => {
      const per = (v: number) => fmt.bytes(Math.round(v / r.stored.readings));
      const total = (r.stored.blocks + r.stored.state) / r.stored.readings;
      return [
        name(r),
        r.plan.readingsPerUpload,
        per(r.stored.blocks),
        per(r.stored.state),
        fmt.bytes(Math.round(total)),
        per(r.txBytes.receive),
        per(r.txBytes.issue),
        ratio(total / PAPER_STORAGE_PER_UPLOAD),
        ratio(total / PAPER_TRIPLE_BYTES),
      ];
    }),
  )}`,
  prose(
    'Bytes on disk after the runs of each row minus those after its setups (the ledger closed and the',
    'state database compacted both times), divided by the readings of every receive committed in between',
    "(warm-up and runs; the packed row's main-thread run comes after and is not counted). Setups (public",
    'and evaluation keys, stored once per user) took',
    results
      .map((r) => `${fmt.bytes(Math.round((r.setupBytes.blocks + r.setupBytes.state) / USERS))} (${name(r)})`)
      .join(', '),
    'bytes per user. The paper, §5.2 (Storage Cost): "Each data consists of 8192 floating-point numbers …',
    'Assuming that the user needs to upload data 100 times …, the total storage required is about 800KB',
    'bytes", i.e. 8,000 bytes per upload of one reading; and "A total of 262144 bytes are consumed after',
    'the triple is encoded and encrypted on client side." Ratios are ours ÷ the paper\'s.',
  ),
);

if (rec) {
  const r = rec;
  const line = (label: string, samples: number[], base: number[]) => [
    label,
    (median(samples) / 1000).toFixed(2),
    fmt.us((median(samples) * 1000) / r.blocks),
    fmt.ratio(median(samples) / median(base)),
  ];
  sections.push(
    `## Verify and recover ${fmt.bytes(r.blocks)} blocks (median of ${RECOVER_REPS})`,
    ...(r.blocks < r.target
      ? [`Only ${fmt.bytes(r.blocks)} of ${fmt.bytes(r.target)} blocks fitted in ${BUILD_SECONDS} s.`]
      : []),
    markdown(
      ['operation', 's', 'per block µs', 'vs baseline'],
      [
        line('verifyLedger (chain, data hashes, state re-derived and compared)', r.verify, r.hashFloor),
        line('baseline: read every block file and SHA-256 it', r.hashFloor, r.hashFloor),
        line('open after deleting state/ (rebuild from block 0)', r.rebuild, r.openCurrent),
        line('baseline: open with the state current', r.openCurrent, r.openCurrent),
      ],
    ),
    prose(
      `The ledger: ${fmt.bytes(r.blocks)} blocks of one transaction each (a setup, then receives of one`,
      `early-warning packed upload at secure-4096), built in ${(r.buildMs / 1000).toFixed(0)} s`,
      `(${rate((r.blocks * 1000) / r.buildMs)} blocks/s with ${WORKERS} simulation workers, envelopes made`,
      `as it went); block files ${fmt.bytes(r.bytes.blocks)} bytes, state ${fmt.bytes(r.bytes.state)} bytes.`,
      `Each repetition opens the ledger (state current), deletes state/ and opens it again (rebuilt =`,
      `${r.rebuilt.rebuilt}, replayed = ${fmt.bytes(r.rebuilt.replayed)}), then verifies it: ok =`,
      `${r.verdict.ok}, ${fmt.bytes(r.verdict.transactions)} transactions,`,
      `${fmt.bytes(r.verdict.keys)} keys.`,
      'Opened without simulation workers. The files were just written, so they are read from the page cache.',
    ),
  );
}

const main = packed?.phases[0];
const batch = results.find((r) => r.spec.key === 'batch');
const targetRows: (string | number)[][] = [];
if (main) {
  const p99 = percentile(main.latency.all, 0.99);
  targetRows.push(
    [
      `≥ ${TARGET.packedTxPerSecond} packed tx/s (early-warning, ${main.concurrency} in flight,` +
        ` ${main.workers} workers)`,
      rate(txRate(main)),
      yes(txRate(main) >= TARGET.packedTxPerSecond),
    ],
    [
      `packed p99 commit latency < ${TARGET.packedP99Ms} ms (same run)`,
      `${ms(p99)} ms`,
      yes(p99 < TARGET.packedP99Ms),
    ],
  );
  for (const p of packed?.phases.slice(1) ?? []) {
    const q = percentile(p.latency.all, 0.99);
    targetRows.push([
      `… both at ${p.concurrency} in flight, ${p.workers} workers`,
      `${rate(txRate(p))} tx/s, p99 ${ms(q)} ms`,
      yes(txRate(p) >= TARGET.packedTxPerSecond && q < TARGET.packedP99Ms),
    ]);
  }
}
if (batch) {
  const p = batch.phases[0] as Phase;
  targetRows.push([
    `≥ ${fmt.bytes(TARGET.batchReadingsPerSecond)} readings/s in the batch layout (early-warning)`,
    rate(readingRate(batch, p)),
    yes(readingRate(batch, p) >= TARGET.batchReadingsPerSecond),
  ]);
}
if (targetRows.length > 0) {
  sections.splice(
    2,
    0,
    `## Targets (issue 5, this 2-core machine)\n\n${markdown(['target', 'measured', 'result'], targetRows)}`,
  );
}

gcObserver.disconnect();
const report = `${sections.join('\n\n')}\n`;
console.log(report);
if (args.out) await writeFile(args.out, report);
