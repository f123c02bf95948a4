/**
 * The PMHE client in a module Web Worker: the vault (IndexedDB), the keys, every CKKS operation
 * and every request to the server happen here, so keys never enter the page's main thread and a
 * second of key generation or encryption never freezes the page. The page talks to it with the
 * messages of ./messages.ts.
 *
 * A reading's way: the artifact filter over the last readings kept (so a single reading still
 * meets its neighbours), queue (encrypt, sign, outbox), flush (upload), and a collector that
 * waits for results (server-sent events, polling as the fallback), checks, decrypts and
 * diagnoses each, and posts it to the page.
 */

import { loadSeal } from '../../src/ckks/seal.ts';
import { ModelChoiceError, PmheClient, type Registered } from '../../src/client/app.ts';
import { IdbStore } from '../../src/client/browser/idb-store.ts';
import { ClinicianClient, type Inbox } from '../../src/client/clinician.ts';
import { toCsv, toFhirBundle } from '../../src/client/export.ts';
import { FilterError, filterReadings, type RawReading } from '../../src/client/filter.ts';
import type { HistoryEntry } from '../../src/client/history.ts';
import { VAULT_KEY, Vault, type VaultContents, VaultError } from '../../src/client/vault.ts';
import { readCsv } from '../../src/device/csv.ts';
import { isPersonaName } from '../../src/device/profile.ts';
import type { Reading } from '../../src/device/reading.ts';
import { simulatePerson } from '../../src/device/simulator.ts';
import { CATALOGUE } from '../../src/models/catalogue/index.ts';
import type { Plan } from '../../src/models/compiler.ts';
import type { Clinician } from '../../src/protocol/api.ts';
import { ProtocolError } from '../../src/protocol/errors.ts';
import type {
  ClinicianSummary,
  Event,
  FromWorker,
  Op,
  Ops,
  ProgressPhase,
  Request,
  Role,
  StreamSource,
  VaultSummary,
  WorkerError,
} from './messages.ts';

interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<Request>) => void): void;
}
const scope = globalThis as unknown as WorkerScope;

class Failure extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

const emit = (event: Event) => scope.postMessage({ kind: 'event', ...event });
const progress = (phase: ProgressPhase, done: number, total: number) =>
  emit({ type: 'progress', phase, done, total });
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let storePromise: Promise<IdbStore> | undefined;
const store = () => {
  storePromise ??= IdbStore.open('pmhe-client');
  return storePromise;
};

let client: PmheClient | undefined;
let pipeline: Pipeline | undefined;
let stream: Stream | undefined;
/** A clinician's client, when the vault unlocked is a clinician's (then `client` is unset). */
let clinician: ClinicianClient | undefined;
/** The clinician's last inbox: what the page shows, so an export holds exactly what was seen. */
let inboxShown: Inbox | undefined;
/** Clinicians the person looked up, by id: a grant goes to the key whose fingerprint the page showed. */
const lookedUp = new Map<string, Clinician>();

function unlocked(): { client: PmheClient; pipeline: Pipeline } {
  if (!client || !pipeline) throw new Failure('LOCKED', 'the keys are locked: unlock them first');
  return { client, pipeline };
}

function clinicianUnlocked(): ClinicianClient {
  if (!clinician) throw new Failure('LOCKED', 'the clinician keys are locked: unlock them first');
  return clinician;
}

/**
 * What the server took (setup): a line naming the identity and server (a restored backup or
 * another server registers again), a line naming the models registered, so an unlock or an
 * added model registers only the models the server lacks.
 */
const REGISTERED_KEY = 'app/registered';
const NO_SERVER = 'http://server.not.configured';

const identityOf = (c: VaultContents, server: string) => `${c.userId} ${c.createdAt} ${server}`;

/** The models of `c` this browser registered with `server`. */
async function registeredModels(c: VaultContents, server: string): Promise<string[]> {
  const marker = await (await store()).get(REGISTERED_KEY);
  if (marker === undefined) return [];
  const [identity, models] = new TextDecoder().decode(marker).split('\n');
  if (identity !== identityOf(c, server)) return [];
  // A marker from before several models had no second line: it was for the vault's one model.
  const names = models === undefined ? [c.subscriptions[0]?.modelId] : models.split(' ');
  return c.subscriptions.map((x) => x.modelId).filter((m) => names.includes(m));
}

async function markRegistered(c: VaultContents, server: string, models: readonly string[]): Promise<void> {
  const marker = `${identityOf(c, server)}\n${models.join(' ')}`;
  await (await store()).put(REGISTERED_KEY, new TextEncoder().encode(marker));
}

/** Registers, one at a time, the models followed that the server does not have yet. */
async function registerMissing(c: PmheClient, enrolment?: string): Promise<Registered[]> {
  const server = c.api.base;
  const done = await registeredModels(c.contents, server);
  const missing = c.models.filter((m) => !done.includes(m));
  const registered: Registered[] = [];
  for (const [i, modelId] of missing.entries()) {
    progress('register', i, missing.length);
    registered.push(...(await c.register(enrolment, [modelId])));
    // Marked at once: a failure on the next model does not register this one again.
    done.push(modelId);
    await markRegistered(c.contents, server, done);
  }
  if (missing.length > 0) progress('register', missing.length, missing.length);
  return registered;
}

/**
 * Whose vault this browser holds, in the clear beside it: the clinician field is sealed inside
 * the vault, and unlocking it only to learn which client to open would run the slow key
 * derivation twice. No marker is a person's vault (every vault before clinicians had one).
 */
const ROLE_KEY = 'app/role';

async function roleOf(): Promise<Role> {
  const marker = await (await store()).get(ROLE_KEY);
  return marker !== undefined && new TextDecoder().decode(marker) === 'clinician' ? 'clinician' : 'person';
}

async function setRole(role: Role): Promise<void> {
  const s = await store();
  if (role === 'person') await s.delete(ROLE_KEY);
  else await s.put(ROLE_KEY, new TextEncoder().encode(role));
}

/** The clinician this browser registered: id, key (its fingerprint) and server, as for people above. */
const CLINICIAN_REGISTERED_KEY = 'app/clinician-registered';
const clinicianIdentity = (c: ClinicianClient) => `${c.clinicianId} ${c.fingerprint} ${c.api.base}`;

async function clinicianSummary(c: ClinicianClient): Promise<ClinicianSummary> {
  const marker = await (await store()).get(CLINICIAN_REGISTERED_KEY);
  return {
    role: 'clinician',
    clinicianId: c.clinicianId,
    name: c.name,
    fingerprint: c.fingerprint,
    registered: marker !== undefined && new TextDecoder().decode(marker) === clinicianIdentity(c),
  };
}

async function summary(c: VaultContents, server: string): Promise<VaultSummary> {
  const registered = await registeredModels(c, server);
  return {
    role: 'person',
    userId: c.userId,
    models: c.subscriptions.map(({ modelId, layout, presetId }) => ({ modelId, layout, presetId })),
    createdAt: c.createdAt,
    registered: c.subscriptions.every((x) => registered.includes(x.modelId)),
    profile: { ...c.profile },
  };
}

/** A model choice the client refused (doubled, last, unknown, a profile it lacks): the person's to fix. */
function badInput(error: unknown): never {
  if (error instanceof ModelChoiceError || error instanceof RangeError || error instanceof ProtocolError)
    throw new Failure('BAD_INPUT', error.message);
  throw error;
}

// ---------------------------------------------------------------------------------------------
// From a reading to a diagnosis

/** Readings kept before the newest that the artifact filter compares it with (its half-width 3, twice). */
const FILTER_WINDOW = 6;

class Pipeline {
  readonly client: PmheClient;
  /** Serializes queue and flush: the outbox numbers its items from the last one stored. */
  #chain: Promise<unknown> = Promise.resolve();
  #recent: Reading[] = [];
  /** Each batch-layout model's readings so far of its current grid. */
  #batches = new Map<string, Reading[]>();
  #collecting: Promise<void> | undefined;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** Counts for the page's progress bars (since unlock). */
  queued = 0;
  uploaded = 0;
  results = 0;

  constructor(client: PmheClient) {
    this.client = client;
  }

  /** Runs `work` after what is queued, alone: the models followed never change under a queue. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(work);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** Filters one reading against the last ones kept, then queues and sends it (in order). */
  take(raw: RawReading, readAt: number, position: { index: number; total: number }): Promise<void> {
    return this.exclusive(() => this.#take(raw, readAt, position));
  }

  async #take(raw: RawReading, readAt: number, position: { index: number; total: number }): Promise<void> {
    if (this.#closed) return;
    const input = [...this.#recent, raw];
    const last = input.length - 1;
    const { kept, indices, report } = filterReadings(input, { order: 'strict' });
    const fate = report.perReading[last] ?? 'kept';
    const at = indices.indexOf(last);
    const reading = kept[at];
    if (at < 0 || !reading) {
      const alert = report.alerts.find((a) => a.index === last);
      const why = alert?.message ?? report.rejections.find((r) => r.index === last)?.message ?? fate;
      emit({ type: 'rejected', time: raw.time, message: why, ...(alert ? { alert: true } : {}) });
      return;
    }
    for (const d of report.dropped.filter((x) => x.index === last)) {
      emit({ type: 'status', level: 'warning', message: d.message });
    }
    this.#recent = [...this.#recent, reading].slice(-FILTER_WINDOW);
    const alert = report.alerts.find((a) => a.index === last && a.kind === 'critical-corrected');
    emit({ type: 'reading', reading, fate, ...position, ...(alert ? { alert: alert.message } : {}) });
    // Each reading goes once to every model: at once to the real-time ones, into its grid for a batch one.
    const plans = [...this.client.users.values()].map((u) => u.plan);
    const realTime = plans.filter((p) => p.layout !== 'batch').map((p) => p.model.id);
    if (realTime.length > 0) await this.#queue([reading], readAt, realTime);
    for (const plan of plans.filter((p) => p.layout === 'batch')) await this.#addToBatch(plan, reading);
  }

  /** A batch model reads a whole grid of readings: its upload goes once the grid is full. */
  async #addToBatch(plan: Plan, reading: Reading): Promise<void> {
    const id = plan.model.id;
    const interval = (plan.model.batch?.intervalMinutes ?? 15) * 60_000;
    const first = this.#batches.get(id)?.[0];
    const start = first ? first.time - (first.time % 86_400_000) : 0;
    if (first && reading.time >= start + plan.readingsPerUpload * interval) await this.#queueBatch(id);
    const batch = [...(this.#batches.get(id) ?? []), reading];
    this.#batches.set(id, batch);
    const which = this.client.models.length > 1 ? `the ${plan.model.name} batch` : 'this batch';
    emit({
      type: 'status',
      level: 'info',
      message: `${batch.length} of ${plan.readingsPerUpload} readings of ${which} collected`,
    });
  }

  /** A model no longer followed: its grid so far goes nowhere. */
  forget(modelId: string): void {
    this.#batches.delete(modelId);
  }

  /** The newest reading kept in this session, if any. */
  get lastTime(): number | undefined {
    return this.#recent.at(-1)?.time;
  }

  /** A new source starts a new series: the artifact filter no longer compares with the last one. */
  newSeries(): void {
    this.#recent = [];
  }

  /** Queues what each batch collected so far (at the end of a stream). */
  endBatch(): Promise<void> {
    return this.exclusive(async () => {
      for (const id of [...this.#batches.keys()]) await this.#queueBatch(id);
    });
  }

  async #queueBatch(modelId: string): Promise<void> {
    const readings = this.#batches.get(modelId) ?? [];
    this.#batches.delete(modelId);
    const user = this.client.users.get(modelId);
    if (readings.length === 0 || !user) return;
    try {
      await this.#queue(readings, Date.now(), [modelId]);
    } catch (error) {
      if (!(error instanceof FilterError)) throw error;
      const which = this.client.models.length > 1 ? `the ${user.plan.model.name} batch` : 'this batch';
      emit({ type: 'status', level: 'error', message: `${which} cannot be sent: ${error.message}` });
    }
  }

  async #queue(readings: Reading[], readAt: number, models: readonly string[]): Promise<void> {
    const queued = await this.client.queue(readings, readAt, undefined, models);
    for (const { modelId, reason } of queued.skipped) {
      emit({ type: 'status', level: 'warning', message: `not sent to ${modelId}: ${reason}` });
    }
    this.queued += queued.items.length;
    progress('encrypt', this.queued, Math.max(this.queued, stream?.total ?? this.queued));
    await this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#closed) return;
    const report = await this.client.flush();
    this.uploaded += report.sent;
    progress('upload', this.uploaded, Math.max(this.uploaded, this.queued));
    if (report.failed > 0) {
      const failed = await this.client.outbox.items('failed');
      emit({
        type: 'status',
        level: 'error',
        message: `the server refused ${report.failed} upload(s): ${failed.at(-1)?.lastError ?? ''}`,
      });
    }
    if (report.error) {
      emit({ type: 'status', level: 'warning', message: `upload postponed: ${report.error}` });
    }
    if (report.waiting > 0 && report.nextAttemptAt !== undefined && this.#retry === undefined) {
      this.#retry = setTimeout(
        () => {
          this.#retry = undefined;
          this.exclusive(() => this.#flush()).catch(() => undefined);
        },
        Math.max(100, report.nextAttemptAt - Date.now()),
      );
    }
    if (report.sent > 0) this.#collect();
  }

  /** One collector at a time, for as long as sent items wait for their results. */
  #collect(): void {
    this.#collecting ??= (async () => {
      try {
        while (!this.#closed) {
          const waiting = await this.client.outbox.items('sent');
          if (waiting.length === 0) break;
          const got = await this.client.collect({
            timeoutMs: 30_000,
            onResult: (entry: HistoryEntry) => {
              this.results++;
              emit({ type: 'result', entry });
            },
            // The client shares new results under the grants in force by itself; the page says so.
            onShared: (report) => {
              if (this.#closed) return;
              emit({
                type: 'shared',
                shared: report.shared.map(({ clinicianId, resultId }) => ({ clinicianId, resultId })),
                failed: report.failed
                  // A grant sharing the same result at that moment got there first: it is shared.
                  .filter((f) => !/already shared with/.test(f.reason))
                  .map(({ clinicianId, reason }) => ({ clinicianId, reason })),
              });
            },
          });
          if (got.length === 0) await sleep(1000);
        }
      } catch (error) {
        // After a lock the keys are gone mid-way: nothing to report.
        if (!this.#closed)
          emit({ type: 'status', level: 'error', message: `results: ${describe(error).message}` });
      } finally {
        this.#collecting = undefined;
      }
    })();
  }

  /** Sends what an earlier session left pending and collects what it left waiting for a result. */
  resume(): void {
    this.exclusive(async () => {
      await this.#flush();
      if ((await this.client.outbox.items('sent')).length > 0) this.#collect();
    }).catch((error: unknown) => {
      if (!this.#closed) emit({ type: 'status', level: 'warning', message: describe(error).message });
    });
  }

  /** Until every queued reading was uploaded and its result arrived (or `timeoutMs` passed). */
  async settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await this.#chain;
    while (Date.now() < deadline && !this.#closed) {
      const left = (await this.client.outbox.items()).filter((i) => i.state !== 'failed');
      if (left.length === 0) return;
      if (left.some((i) => i.state === 'sent')) this.#collect();
      await sleep(250);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
  }

  /**
   * Closes, then waits for what runs to finish (an upload, a collector waiting for results): after
   * this nothing writes to the store, so an account closed next leaves nothing of it behind.
   */
  async quiesce(): Promise<void> {
    this.close();
    await this.#chain;
    await this.#collecting;
  }
}

class Stream {
  readonly total: number;
  stopped = false;
  #wake: (() => void) | undefined;

  constructor(
    readonly readings: readonly RawReading[],
    readonly paceMs: number,
  ) {
    this.total = readings.length;
  }

  async run(p: Pipeline): Promise<void> {
    const before = p.results;
    let taken = 0;
    try {
      for (const [index, reading] of this.readings.entries()) {
        if (this.stopped) break;
        const started = Date.now();
        await p.take(reading, started, { index, total: this.total });
        taken++;
        const wait = this.paceMs - (Date.now() - started);
        if (wait > 0 && index < this.total - 1) await this.#pause(wait);
      }
      await p.endBatch();
      await p.settle(120_000);
    } catch (error) {
      if (!p.closed) emit({ type: 'status', level: 'error', message: describe(error).message });
    } finally {
      if (stream === this) stream = undefined;
      emit({ type: 'stream-end', readings: taken, results: p.results - before, stopped: this.stopped });
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  stop(): void {
    this.stopped = true;
    this.#wake?.();
  }
}

function readingsOf(source: StreamSource, c: PmheClient, after: number | undefined): RawReading[] {
  if (source.kind === 'csv') {
    try {
      const { readings, errors } = readCsv(source.text);
      // The good lines go; every bad one is named (a wearable's file with one corrupt line).
      if (errors.length > 0) {
        const shown = errors.slice(0, 5).map((e) => e.message);
        const more = errors.length > shown.length ? `; and ${errors.length - shown.length} more` : '';
        emit({
          type: 'status',
          level: 'warning',
          message: `${errors.length} line(s) of the CSV file skipped: ${shown.join('; ')}${more}`,
        });
      }
      return readings;
    } catch (error) {
      throw new Failure('BAD_INPUT', `the CSV file cannot be read: ${(error as Error).message}`);
    }
  }
  if (!isPersonaName(source.persona)) throw new Failure('BAD_INPUT', `unknown persona "${source.persona}"`);
  if (!(Number.isSafeInteger(source.count) && source.count >= 1 && source.count <= 5000)) {
    throw new Failure('BAD_INPUT', 'the number of readings must be between 1 and 5000');
  }
  const interval = 15;
  const day = 86_400_000;
  const now = Date.now();
  // From now on the interval's grid (a batch: from midnight UTC today, where its grid starts), or
  // after the readings already taken: a second run goes on in time rather than repeating times
  // the filter would refuse. The CLI's `device simulate` starts the same way.
  // Real-time spacing unless every model followed reads day grids.
  const batch = [...c.users.values()].every((u) => u.plan.layout === 'batch');
  const step = batch ? day : interval * 60_000;
  let start = source.start ?? (batch ? now - (now % day) : Math.ceil(now / step) * step);
  if (source.start === undefined && after !== undefined && after >= start) {
    start = Math.floor(after / step) * step + step;
  }
  if (batch) {
    // A batch reads a grid of time slots: `count` slots, the readings that did not drop out.
    const days = (source.count * interval) / 1440;
    return simulatePerson({ persona: source.persona, seed: source.seed, days, start });
  }
  // Dropouts (4% of slots, in bursts) leave slots empty: a few more slots than readings wanted,
  // so that a persona's course (sepsis deteriorates over the series) spans the readings shown.
  for (let slots = Math.ceil(source.count * 1.1) + 4; ; slots *= 2) {
    const days = (slots * interval) / 1440;
    const readings = simulatePerson({ persona: source.persona, seed: source.seed, days, start });
    if (readings.length >= source.count) return readings.slice(0, source.count);
  }
}

// ---------------------------------------------------------------------------------------------
// Ops

function opened(c: PmheClient): Promise<VaultSummary> {
  client?.[Symbol.dispose]();
  client = c;
  pipeline?.close();
  pipeline = new Pipeline(c);
  return summary(c.contents, c.api.base);
}

function openedClinician(c: ClinicianClient): Promise<ClinicianSummary> {
  lock();
  clinician = c;
  return clinicianSummary(c);
}

function lock(): void {
  stream?.stop();
  stream = undefined;
  pipeline?.close();
  pipeline = undefined;
  client?.[Symbol.dispose]();
  client = undefined;
  clinician = undefined;
  inboxShown = undefined;
  lookedUp.clear();
}

const handlers: { [K in Op]: (payload: Ops[K]['payload']) => Promise<Ops[K]['result']> } = {
  async status() {
    // Loading SEAL's WebAssembly early makes the first key generation or unlock faster.
    void loadSeal().catch(() => undefined);
    const vault = await Vault.exists(await store());
    return {
      vault,
      role: vault ? await roleOf() : null,
      unlocked: client
        ? await summary(client.contents, client.api.base)
        : clinician
          ? await clinicianSummary(clinician)
          : null,
    };
  },

  async create(p) {
    if (client || clinician) throw new Failure('BUSY', 'lock the current keys first');
    const c = await PmheClient.init(await store(), {
      userId: p.userId,
      modelId: p.modelId,
      layout: p.layout,
      passphrase: p.passphrase,
      server: p.server,
      ...(p.profile ? { profile: p.profile } : {}),
      onProgress: progress,
    });
    await setRole('person');
    return opened(c);
  },

  async unlock(p) {
    if (client) return summary(client.contents, client.api.base);
    if (clinician) return clinicianSummary(clinician);
    const s = await store();
    const options = { server: p.server, onProgress: progress };
    if ((await roleOf()) === 'clinician')
      return openedClinician(await ClinicianClient.open(s, p.passphrase, options));
    const c = await PmheClient.open(s, p.passphrase, options);
    if (c.contents.clinician) {
      // A clinician's vault without its marker (the page closed between sealing and marking it):
      // opened again, as what it is, and marked.
      c[Symbol.dispose]();
      await setRole('clinician');
      return openedClinician(await ClinicianClient.open(s, p.passphrase, options));
    }
    return opened(c);
  },

  async lock() {
    lock();
    return null;
  },

  async discard() {
    const s = await store();
    if (clinician) {
      if ((await clinicianSummary(clinician)).registered)
        throw new Failure('BUSY', 'these keys are registered with the server: they are kept');
      lock();
      await s.delete(VAULT_KEY);
      await setRole('person');
      return null;
    }
    const { client: c } = unlocked();
    const used =
      (await registeredModels(c.contents, c.api.base)).length > 0 ||
      (await c.outbox.items()).length > 0 ||
      (await c.history.list()).length > 0;
    if (used)
      throw new Failure('BUSY', 'these keys are in use (registered, or with readings): they are kept');
    lock();
    await s.delete(VAULT_KEY);
    return null;
  },

  async register({ enrolment }) {
    const { client: c, pipeline: p } = unlocked();
    const started = performance.now();
    const registered = await registerMissing(c, enrolment);
    // Readings taken while registering waited in the outbox (the server refused them as unknown).
    p.resume();
    return { registered, ms: Math.round(performance.now() - started) };
  },

  async addModel({ modelId, layout, passphrase, profile }) {
    const { client: c, pipeline: p } = unlocked();
    if (stream) throw new Failure('BUSY', 'stop the readings first, then change the models');
    if (!CATALOGUE.some((m) => m.id === modelId))
      throw new Failure('BAD_INPUT', `unknown model "${modelId}"`);
    progress('keys', 0, 1);
    await p.exclusive(() => c.addModel(modelId, layout, passphrase, profile ?? {})).catch(badInput);
    progress('keys', 1, 1);
    if (c.api.base !== NO_SERVER) {
      await registerMissing(c);
      p.resume();
    }
    return summary(c.contents, c.api.base);
  },

  async removeModel({ modelId, passphrase }) {
    const { client: c, pipeline: p } = unlocked();
    if (stream) throw new Failure('BUSY', 'stop the readings first, then change the models');
    const server = c.api.base;
    const before = await registeredModels(c.contents, server);
    await p
      .exclusive(async () => {
        await c.removeModel(modelId, passphrase);
        p.forget(modelId);
      })
      .catch(badInput);
    // Added again later, it has new keys: they need registering.
    await markRegistered(
      c.contents,
      server,
      before.filter((m) => m !== modelId),
    );
    return summary(c.contents, server);
  },

  async setProfile({ values, passphrase }) {
    const { client: c, pipeline: p } = unlocked();
    if (stream) throw new Failure('BUSY', 'stop the readings first, then change your profile');
    // After what is queued: a reading taken before the change goes out with the profile it was taken under.
    await p.exclusive(() => c.setProfile(values, passphrase)).catch(badInput);
    return { profile: { ...c.contents.profile } };
  },

  async stream(source) {
    const { client: c, pipeline: p } = unlocked();
    if (stream) throw new Failure('BUSY', 'a stream is already running: stop it first');
    const newest = (await c.history.list()).at(-1)?.readings.at(-1)?.time;
    const after = Math.max(newest ?? Number.NEGATIVE_INFINITY, p.lastTime ?? Number.NEGATIVE_INFINITY);
    const readings = readingsOf(source, c, Number.isFinite(after) ? after : undefined);
    if (readings.length === 0) throw new Failure('BAD_INPUT', 'there are no readings to send');
    const paceMs = Math.max(0, Math.min(60_000, source.paceMs));
    const s = new Stream(readings, paceMs);
    stream = s;
    p.newSeries();
    void s.run(p);
    return { readings: readings.length };
  },

  async stop() {
    stream?.stop();
    return null;
  },

  async push({ reading }) {
    const { pipeline: p } = unlocked();
    await p.take(reading, Date.now(), { index: 0, total: 1 });
    return null;
  },

  async results() {
    const { client: c, pipeline: p } = unlocked();
    const entries = await c.history.list();
    // What a locked or closed session left behind comes in as events from here on.
    p.resume();
    return entries;
  },

  async restoreHistory() {
    const { client: c } = unlocked();
    const entries: HistoryEntry[] = [];
    const r = await c.restoreHistory((entry) => entries.push(entry));
    return { entries, batch: r.batch, refused: r.refused };
  },

  async exportFhir() {
    const { client: c } = unlocked();
    const bundle = toFhirBundle(await c.history.list(), { userId: c.contents.userId });
    return { text: JSON.stringify(bundle, null, 2), filename: `pmhe-${safe(c.contents.userId)}-fhir.json` };
  },

  async exportCsv() {
    const { client: c } = unlocked();
    return { text: toCsv(await c.history.list()), filename: `pmhe-${safe(c.contents.userId)}.csv` };
  },

  async exportBackup(p) {
    const s = await store();
    const contents = client?.contents;
    const bytes = await Vault.exportBackup(s, p.passphrase, p.backupPassphrase, {
      onProgress: (f) => progress('backup', Math.round(f * 1000), 1000),
    });
    const name = contents ? safe(contents.userId) : 'keys';
    return { bytes, filename: `pmhe-${name}-keys.pmhv` };
  },

  async importBackup(p) {
    lock();
    const s = await store();
    // Opened once to check it (nothing is written otherwise); the page unlocks next.
    const contents = await Vault.importBackup(s, p.bytes, p.passphrase, p.replace ? { replace: true } : {});
    const role: Role = contents.clinician ? 'clinician' : 'person';
    await setRole(role);
    return { userId: contents.userId, role };
  },

  // -------------------------------------------------------------------------------------------
  // Sharing with a clinician (the person's side)

  async lookupClinician({ clinicianId }) {
    const { client: c } = unlocked();
    const id = clinicianId.trim();
    if (id === '') throw new Failure('BAD_INPUT', 'enter the id the clinician gave you');
    const found = await c.clinician(id);
    lookedUp.set(found.clinicianId, found);
    return found;
  },

  async grant({ clinicianId, fingerprint, models, until }) {
    const { client: c } = unlocked();
    const seen = lookedUp.get(clinicianId);
    // The key granted is the one whose fingerprint the person compared, never one fetched anew.
    if (!seen || seen.fingerprint !== fingerprint)
      throw new Failure('BAD_INPUT', `look "${clinicianId}" up again and compare the fingerprint shown`);
    progress('share', 0, 1);
    const r = await c.grant(seen, { models, until }).catch(badInput);
    progress('share', 1, 1);
    return {
      grant: r.grant,
      shared: r.shared.length,
      failed: r.failed.map((f) => `result ${f.resultId.slice(0, 12)}…: ${f.reason}`),
    };
  },

  async revoke({ clinicianId }) {
    const { client: c } = unlocked();
    return c.revoke(clinicianId);
  },

  async grants() {
    const { client: c } = unlocked();
    return c.grants();
  },

  async closeAccount({ passphrase }) {
    const { client: c, pipeline: p } = unlocked();
    if (stream) throw new Failure('BUSY', 'stop the readings first, then close the account');
    progress('close', 0, 1);
    // Nothing may write to the store while it is emptied: uploads and the collector finish first.
    await p.quiesce();
    try {
      const closed = await c.closeAccount(passphrase);
      // The vault destroyed removed the markers too (every key of the store); the client is disposed.
      client = undefined;
      pipeline = undefined;
      lock();
      progress('close', 1, 1);
      return closed;
    } catch (error) {
      // A wrong passphrase (or a server that refused) deleted nothing: the session goes on.
      if (client === c) {
        pipeline = new Pipeline(c);
        pipeline.resume();
      }
      throw error;
    }
  },

  // -------------------------------------------------------------------------------------------
  // The clinician's side

  async createClinician(p) {
    if (client || clinician) throw new Failure('BUSY', 'lock the current keys first');
    const c = await ClinicianClient.init(await store(), {
      clinicianId: p.clinicianId,
      name: p.name,
      passphrase: p.passphrase,
      server: p.server,
      onProgress: progress,
    }).catch(badInput);
    await setRole('clinician');
    return openedClinician(c);
  },

  async registerClinician({ enrolment }) {
    const c = clinicianUnlocked();
    const started = performance.now();
    progress('register', 0, 1);
    const r = await c.register(enrolment);
    await (await store()).put(CLINICIAN_REGISTERED_KEY, new TextEncoder().encode(clinicianIdentity(c)));
    progress('register', 1, 1);
    return { txId: r.txId, ms: Math.round(performance.now() - started) };
  },

  async inbox() {
    const c = clinicianUnlocked();
    progress('inbox', 0, 1);
    inboxShown = await c.inbox();
    progress('inbox', 1, 1);
    return inboxShown;
  },

  async clinicianFhir({ userId }) {
    const c = clinicianUnlocked();
    if (!inboxShown) throw new Failure('BAD_INPUT', 'refresh first: nothing was fetched yet');
    const bundle = c.fhirBundle(inboxShown.items, userId);
    return { text: JSON.stringify(bundle, null, 2), filename: `pmhe-${safe(userId)}-shared-fhir.json` };
  },
};

const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 64);

function describe(error: unknown): WorkerError {
  if (error instanceof VaultError) return { code: error.code, message: error.message };
  if (error instanceof Failure) return { code: error.code, message: error.message };
  const e = error as { code?: unknown; message?: unknown; name?: unknown };
  if (typeof e?.code === 'string' && typeof e.message === 'string')
    return { code: e.code, message: e.message };
  return { code: 'FAILED', message: e instanceof Error ? e.message : String(error) };
}

scope.addEventListener('message', (event) => {
  const request = event.data;
  const handler = handlers[request.op] as (payload: unknown) => Promise<unknown>;
  if (!handler) {
    scope.postMessage({
      kind: 'reply',
      id: request.id,
      ok: false,
      error: { code: 'BAD_INPUT', message: `unknown op ${String(request.op)}` },
    });
    return;
  }
  handler(request.payload).then(
    (result) => {
      const transfer =
        result instanceof Object && 'bytes' in result ? [(result.bytes as Uint8Array).buffer] : [];
      scope.postMessage({ kind: 'reply', id: request.id, ok: true, result }, transfer as Transferable[]);
    },
    (error: unknown) => {
      scope.postMessage({ kind: 'reply', id: request.id, ok: false, error: describe(error) });
    },
  );
});
