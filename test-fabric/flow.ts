/**
 * The README's client flow against a running PMHE server, whatever ledger it uses: for each
 * catalogue model in each layout a person can choose, a user is created (`init`), registered,
 * and streams simulated readings (queue + flush in small chunks, as a wearable would), then
 * collects, checks, decrypts and diagnoses every result. Used by flow.test.ts against Fabric and,
 * with PMHE_FLOW_LEDGERS=embedded, against the embedded ledger, so the two can be compared.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiError } from '../src/client/api-client.ts';
import { PmheClient } from '../src/client/app.ts';
import type { HistoryEntry } from '../src/client/history.ts';
import { FolderStore } from '../src/client/node/folder-store.ts';
import { FAST_KDF_FOR_TESTS } from '../src/client/vault.ts';
import { type PersonaName, type Reading, simulatePerson } from '../src/device/index.ts';
import { CATALOGUE } from '../src/models/catalogue/index.ts';
import type { Profile } from '../src/protocol/meta-functions.ts';
import type { Layout } from '../src/protocol/schema.ts';

const LAYOUTS: readonly Layout[] = ['paper', 'packed', 'batch'];

export interface RunSpec {
  modelId: string;
  layout: Layout;
  persona: PersonaName;
  seed: number;
  profile: Profile;
  /** Days simulated (15-minute readings). */
  days: number;
  /** Readings taken from the end of the series (per-reading layouts); all when undefined. */
  take?: number;
  /** Readings per queue() + flush(): per-reading layouts stream, batch layouts upload in parts. */
  chunk: number;
}

const CHD_PROFILE: Profile = { age: 54, bmi: 29, cholesterol: 240, smoker: 1 };
const PROFILES: Record<string, Profile> = { 'chd-risk': CHD_PROFILE, 'chd-risk-paper': CHD_PROFILE };
/** Seeds whose series pass the filter (blood-pressure: two weeks without a gap over 2 hours). */
const SEEDS: Record<string, number> = { 'blood-pressure': 21 };
const PERSONAS: Record<string, PersonaName> = {
  'early-warning': 'sepsis',
  'blood-pressure': 'stage2-hypertensive',
  'chd-risk': 'stage2-hypertensive',
  'chd-risk-paper': 'stage2-hypertensive',
};

/**
 * Every model × every layout it offers (the choices `pmhe init --model --layout` accepts):
 * `readings` one-by-one layouts get `readings` readings streamed in chunks of 5; batch layouts
 * one upload per day (a week for windowed models such as blood-pressure).
 */
export function catalogueRuns(readings = 50): RunSpec[] {
  const runs: RunSpec[] = [];
  for (const model of CATALOGUE) {
    for (const layout of LAYOUTS) {
      if (!model.layouts[layout]) continue;
      const base = {
        modelId: model.id,
        layout,
        persona: PERSONAS[model.id] ?? 'healthy',
        seed: SEEDS[model.id] ?? 7,
        profile: PROFILES[model.id] ?? {},
      };
      if (layout !== 'batch') runs.push({ ...base, days: 1, take: readings, chunk: 5 });
      else if (model.windows) runs.push({ ...base, days: 14, chunk: 7 * 96 });
      else runs.push({ ...base, days: 1, chunk: 48 });
    }
  }
  return runs;
}

export interface FlowOptions {
  /** Where the clients' folders go. */
  dir: string;
  runs?: RunSpec[];
  /** Called after each flush with the run's index and how many readings it has sent so far. */
  onSent?: (run: RunSpec, index: number, sent: number) => void;
  /** Appended to every user id (users of an earlier run on the same ledger keep theirs). */
  userSuffix?: string;
  /** Pause between chunks (ms): a stream, not one burst. */
  paceMs?: number;
  /** Give up on a run's missing results after this long without a new one (ms). */
  stallMs?: number;
  log?: (line: string) => void;
}

/** One diagnosis, keyed so that two ledgers' runs can be compared. */
export interface DiagnosisRecord {
  /** First and last reading time (ms) of the submission. */
  from: number;
  to: number;
  readings: number;
  label: string;
  values: Record<string, number>;
}

export interface RunReport {
  modelId: string;
  layout: Layout;
  /** Readings kept by the filter (those that must each get exactly one result). */
  readings: number;
  uploads: number;
  /** Results collected by the client. */
  results: number;
  /** Reading times covered by more than one result / by none. */
  duplicated: number[];
  missing: number[];
  /** Results the server lists for this user, and how many distinct submissions they name. */
  serverResults: number;
  serverSubmissions: number;
  /** Submissions without a result at the end: their server state and error. */
  unfinished: { id: string; state: string; error: string | null }[];
  flushErrors: string[];
  /** Retryable errors register() met before it succeeded. */
  registerErrors: string[];
  diagnoses: DiagnosisRecord[];
  latencyMs: { p50: number; max: number };
  seconds: number;
  /** Why the run stopped early (an exception), if it did. */
  error?: string;
}

function emptyReport(run: RunSpec): RunReport {
  return {
    modelId: run.modelId,
    layout: run.layout,
    readings: 0,
    uploads: 0,
    results: 0,
    duplicated: [],
    missing: [],
    serverResults: 0,
    serverSubmissions: 0,
    unfinished: [],
    flushErrors: [],
    registerErrors: [],
    diagnoses: [],
    latencyMs: { p50: Number.NaN, max: Number.NaN },
    seconds: 0,
  };
}

const quantile = (sorted: number[], q: number) =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs every RunSpec against the server at `serverUrl`, one after the other. */
export async function runFlow(serverUrl: string, options: FlowOptions): Promise<RunReport[]> {
  const runs = options.runs ?? catalogueRuns();
  const reports: RunReport[] = [];
  for (const [index, run] of runs.entries()) {
    const t0 = performance.now();
    try {
      reports.push(await runOne(serverUrl, run, index, options));
    } catch (error) {
      // One run failing (e.g. registration refused) is reported; the others still run.
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      options.log?.(`${run.modelId}.${run.layout}: the run FAILED: ${message}`);
      reports.push({
        ...emptyReport(run),
        error: message,
        seconds: Math.round((performance.now() - t0) / 100) / 10,
      });
    }
  }
  return reports;
}

async function runOne(
  serverUrl: string,
  run: RunSpec,
  index: number,
  options: FlowOptions,
): Promise<RunReport> {
  const log = options.log ?? (() => undefined);
  const t0 = performance.now();
  const userId = `${run.modelId}.${run.layout}.${run.persona}${options.userSuffix ?? ''}`;
  const dir = join(options.dir, userId);
  await mkdir(dir, { recursive: true });
  using client = await PmheClient.init(new FolderStore(dir), {
    userId,
    modelId: run.modelId,
    layout: run.layout,
    passphrase: 'flow test passphrase',
    server: serverUrl,
    kdf: FAST_KDF_FOR_TESTS,
    profile: run.profile,
    outbox: { backoff: { baseMs: 200, maxMs: 2_000 } },
  });
  const registerErrors: string[] = [];
  await registerPatiently(client, (message) => {
    registerErrors.push(message);
    log(`${userId}: register failed, retrying: ${message}`);
  });
  log(`${userId}: registered (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  const series = simulatePerson({ persona: run.persona, seed: run.seed, days: run.days });
  const readings = run.take === undefined ? series : series.slice(-run.take);
  const kept: Reading[] = [];
  const flushErrors: string[] = [];
  let uploads = 0;
  let sent = 0;
  for (let i = 0; i < readings.length; i += run.chunk) {
    const chunk = readings.slice(i, i + run.chunk);
    const queued = await client.queue(chunk);
    kept.push(...queued.items.flatMap((item) => item.readings));
    uploads += queued.items.length;
    const flushed = await client.flush();
    if (flushed.error) flushErrors.push(flushed.error);
    sent += chunk.length;
    options.onSent?.(run, index, sent);
    if (options.paceMs) await sleep(options.paceMs);
  }
  // Whatever the server could not take yet is retried until it is sent.
  for (let tries = 0; (await client.outbox.items('pending')).length > 0 && tries < 60; tries++) {
    await sleep(1_000);
    const flushed = await client.flush();
    if (flushed.error) flushErrors.push(flushed.error);
  }
  log(`${userId}: ${kept.length} readings in ${uploads} uploads sent; collecting`);

  // Collect until every upload has its result, or no new result for stallMs.
  const entries: HistoryEntry[] = [];
  let lastProgress = Date.now();
  const stallMs = options.stallMs ?? 90_000;
  while (entries.length < uploads && Date.now() - lastProgress < stallMs) {
    const got = await client.collect({ timeoutMs: 10_000 });
    if (got.length > 0) lastProgress = Date.now();
    entries.push(...got);
    if ((await client.outbox.items('pending')).length > 0) await client.flush();
  }

  const times = new Map<number, number>();
  for (const entry of entries)
    for (const r of entry.readings) times.set(r.time, (times.get(r.time) ?? 0) + 1);
  const duplicated = [...times].filter(([, n]) => n > 1).map(([t]) => t);
  const missing = kept.map((r) => r.time).filter((t) => !times.has(t));
  const onServer = await client.api.results({ limit: 500 });
  const unfinished = [];
  for (const item of await client.outbox.items('sent')) {
    try {
      const status = await client.api.submission(item.id);
      unfinished.push({ id: item.id, state: status?.state ?? 'unknown', error: status?.error ?? null });
    } catch (error) {
      unfinished.push({ id: item.id, state: 'unknown', error: (error as Error).message });
    }
  }
  const latencies = entries.map((e) => e.latencyMs).sort((a, b) => a - b);
  const report: RunReport = {
    modelId: run.modelId,
    layout: run.layout,
    readings: kept.length,
    uploads,
    results: entries.length,
    duplicated,
    missing,
    serverResults: onServer.length,
    serverSubmissions: new Set(onServer.map((r) => r.submissionId)).size,
    unfinished,
    flushErrors: [...new Set(flushErrors)],
    registerErrors,
    diagnoses: entries
      .map((e) => ({
        from: e.readings[0]?.time ?? 0,
        to: e.readings.at(-1)?.time ?? 0,
        readings: e.readings.length,
        label: e.diagnosis.label,
        values: e.values,
      }))
      .sort((a, b) => a.from - b.from),
    latencyMs: { p50: Math.round(quantile(latencies, 0.5)), max: Math.round(latencies.at(-1) ?? Number.NaN) },
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
  log(
    `${userId}: ${report.results}/${report.uploads} results, ${missing.length} readings without result, ` +
      `${duplicated.length} with several; latency p50 ${report.latencyMs.p50} ms, max ${report.latencyMs.max} ms; ` +
      `${report.seconds} s`,
  );
  return report;
}

/**
 * register(), retrying a retryable failure (a 503: the ledger not ready yet) for up to two
 * minutes, as an app would; each distinct error is reported once.
 */
export async function registerPatiently(
  client: PmheClient,
  report?: (message: string) => void,
): Promise<void> {
  const seen = new Set<string>();
  for (const deadline = Date.now() + 120_000; ; ) {
    try {
      await client.register();
      return;
    } catch (error) {
      if (!(error instanceof ApiError && error.retryable) || Date.now() > deadline) throw error;
      const message = `${error.code}: ${error.message}`;
      if (!seen.has(message)) report?.(message);
      seen.add(message);
      await sleep(1_000);
    }
  }
}
