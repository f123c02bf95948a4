/**
 * The client as a person uses it (paper §3.1, Fig. 3a): keys made on the device and kept in an
 * encrypted vault; readings filtered, built into tuples from the server's template, encrypted,
 * signed and queued in the outbox; results checked, decrypted and diagnosed into a local
 * history. The same code runs in Node (a folder) and in the browser (IndexedDB): only the
 * ClientStore differs.
 */
import type { Reading } from '../device/reading.ts';
import { SPO2_SCALE_FIELD } from '../models/catalogue/early-warning.ts';
import { checkProfile, type Profile } from '../protocol/meta-functions.ts';
import type { Layout } from '../protocol/schema.ts';
import { ApiClient, ApiError, type ResultEvent } from './api-client.ts';
import { type FilterReport, filterReadings, type RawReading, toGrid } from './filter.ts';
import { History, type HistoryEntry } from './history.ts';
import { type FlushReport, Outbox, type OutboxItem, type OutboxOptions } from './outbox.ts';
import { checkResult, interpret, ResultError } from './results.ts';
import { SealedStore } from './sealed-store.ts';
import type { ClientStore } from './store.ts';
import { LocalUser } from './user.ts';
import { type KdfParams, Vault, type VaultContents } from './vault.ts';

/**
 * Longest run of missing grid slots a batch model's window means may be interpolated across:
 * 2 hours at 15 minutes. With the simulator's dropout rates 1 hour refused 42 of 60 simulated
 * weeks, 2 hours 6 of 60 (docs/filtering.md); longer gaps are refused, naming them.
 */
export const MAX_GAP_SLOTS = 8;

/** Store key of the last result id collect() has looked at. */
const CURSOR_KEY = 'results-cursor';

export interface InitOptions {
  userId: string;
  modelId: string;
  layout: Layout;
  passphrase: string;
  server?: string;
  /**
   * Values entered once: what the model needs that the wearable does not measure (e.g. age for
   * chd-risk), and settings its criteria read on the client (`spo2Scale` for early-warning).
   */
  profile?: Profile | Readonly<Record<string, number>>;
  kdf?: KdfParams;
}

export interface OpenOptions {
  /** Overrides the server the vault remembers. */
  server?: string;
  outbox?: OutboxOptions;
  fetch?: typeof fetch;
  /**
   * Progress of the slow steps, for a progress bar: 'keys' (key generation, 0/1 then 1/1),
   * 'seal' and 'unlock' (the passphrase's key derivation, done out of total = 1000).
   */
  onProgress?: (phase: ProgressPhase, done: number, total: number) => void;
}

export type ProgressPhase = 'keys' | 'seal' | 'unlock';

/** The vault's fraction 0..1 as done/1000, at most every 1%. */
function kdfProgress(phase: ProgressPhase, options: OpenOptions) {
  const report = options.onProgress;
  if (!report) return {};
  let last = -1;
  return {
    onProgress: (fraction: number) => {
      const done = Math.round(Math.min(1, Math.max(0, fraction)) * 1000);
      if (done - last >= 10 || done === 1000) {
        last = done;
        report(phase, done, 1000);
      }
    },
  };
}

export interface Queued {
  report: FilterReport;
  items: OutboxItem[];
  /** Milliseconds spent filtering, building tuples and encrypting, and signing (client time). */
  timings: { filterMs: number; encryptMs: number; signMs: number };
}

export interface CollectOptions {
  /** Give up waiting after this long (ms). Default 60 s. */
  timeoutMs?: number;
  /** Called for every diagnosis as it arrives. */
  onResult?: (entry: HistoryEntry) => void;
  /** Stop when this many results arrived (default: every sent item's). */
  count?: number;
  /** Called for a sent upload the contract refused for good (it is kept as failed). */
  onRefused?: (item: OutboxItem, reason: string) => void;
}

export class PmheClient implements Disposable {
  readonly user: LocalUser;
  readonly api: ApiClient;
  readonly outbox: Outbox;
  readonly history: History;
  #contents: VaultContents;
  readonly #store: ClientStore;

  private constructor(store: ClientStore, user: LocalUser, contents: VaultContents, options: OpenOptions) {
    this.user = user;
    this.#contents = contents;
    const server = options.server ?? contents.server;
    this.api = new ApiClient(server ?? 'http://server.not.configured', user, {
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    this.outbox = new Outbox(store, options.outbox);
    this.history = new History(store);
    this.#store = store;
  }

  /** What the vault holds (as of the last open or edit). */
  get contents(): VaultContents {
    return this.#contents;
  }

  /** The profile the model reads beside the readings (empty for models without one). */
  get profile(): Profile {
    return (this.#contents.profile ?? {}) as Profile;
  }

  /**
   * Replaces profile values (checked against the model's fields and ranges) and re-seals the
   * vault; uploads from now on carry the new profile, results already made keep theirs.
   */
  async setProfile(values: Readonly<Record<string, number>>, passphrase: string): Promise<Profile> {
    const fields = this.user.plan.model.profile;
    for (const name of Object.keys(values)) {
      const spo2Scale = name === SPO2_SCALE_FIELD && this.user.plan.model.id === 'early-warning';
      if (!(fields as readonly string[]).includes(name) && !spo2Scale) {
        throw new RangeError(
          `${this.user.plan.model.id} has no profile field "${name}"${fields.length ? `; it has ${fields.join(', ')}` : ''}`,
        );
      }
    }
    const profile = { ...this.contents.profile, ...values };
    checkProfile(profile as Profile, fields);
    this.#contents = await Vault.update(this.#store, passphrase, (c) => ({ ...c, profile }));
    return this.profile;
  }

  /** Generates keys on the device and seals them into a new vault in `store`. */
  static async init(store: ClientStore, options: InitOptions & OpenOptions): Promise<PmheClient> {
    options.onProgress?.('keys', 0, 1);
    const user = await LocalUser.create({
      userId: options.userId,
      modelId: options.modelId,
      layout: options.layout,
    });
    const contents: VaultContents = {
      userId: options.userId,
      modelId: options.modelId,
      layout: options.layout,
      presetId: user.plan.preset.id,
      createdAt: Date.now(),
      identitySeed: await user.exportIdentitySeed(),
      ckksSecretKey: user.exportSecretKey(),
      ...(options.server ? { server: options.server } : {}),
      ...(options.profile ? { profile: options.profile as Record<string, number> } : {}),
    };
    options.onProgress?.('keys', 1, 1);
    await Vault.create(store, contents, options.passphrase, {
      ...(options.kdf ? { kdf: options.kdf } : {}),
      ...kdfProgress('seal', options),
    });
    return new PmheClient(await SealedStore.over(store, contents.identitySeed), user, contents, options);
  }

  /** Unlocks the vault in `store` (a wrong passphrase or a damaged vault throws VaultError). */
  static async open(store: ClientStore, passphrase: string, options: OpenOptions = {}): Promise<PmheClient> {
    const contents = await Vault.open(store, passphrase, kdfProgress('unlock', options));
    const user = await LocalUser.restore({
      userId: contents.userId,
      modelId: contents.modelId,
      layout: contents.layout,
      presetId: contents.presetId as LocalUser['plan']['preset']['id'],
      identitySeed: contents.identitySeed,
      ckksSecretKey: contents.ckksSecretKey,
    });
    // The outbox and history at rest under a key from the vault; an older client's, sealed now.
    const sealed = await SealedStore.over(store, contents.identitySeed);
    await sealed.migrate();
    return new PmheClient(sealed, user, contents, options);
  }

  /** setup(m) through the server: the public Ed25519 key and the evaluation keys (again: a new setup). */
  /** Registers this user; `enrolment` is the code a server in enrolment mode asks new users for. */
  async register(enrolment?: string): Promise<{ txId: string }> {
    const user = await this.api.register(await this.user.registration(Date.now(), enrolment));
    return { txId: user.txId };
  }

  /**
   * Filters readings, builds the plan's tuples (one reading each, or batches), encrypts and signs
   * them, and stores them in the outbox. Nothing is sent yet: call flush().
   */
  async queue(
    raw: readonly RawReading[],
    readAt = Date.now(),
    onProgress?: (done: number, total: number) => void,
  ): Promise<Queued> {
    let t = performance.now();
    const filtered = filterReadings(raw);
    const groups = this.#group(filtered.kept);
    const filterMs = performance.now() - t;
    let encryptMs = 0;
    let signMs = 0;
    const uploads = [];
    for (const readings of groups) {
      t = performance.now();
      const ciphertexts = this.user.encrypt(readings, this.profile);
      encryptMs += performance.now() - t;
      t = performance.now();
      uploads.push({ ...(await this.user.uploadOf(ciphertexts)), readings, readAt });
      signMs += performance.now() - t;
      onProgress?.(uploads.length, groups.length);
    }
    const items = await this.outbox.add(uploads);
    return { report: filtered.report, items, timings: { filterMs, encryptMs, signMs } };
  }

  /**
   * The time of the newest reading this device holds (in its history or its outbox), if any: a
   * replay or a second simulation goes on after it instead of queueing the same times again.
   */
  async newestReadingTime(): Promise<number | undefined> {
    let newest: number | undefined;
    const consider = (readings: readonly { time: number }[]) => {
      const t = readings.at(-1)?.time;
      if (t !== undefined && (newest === undefined || t > newest)) newest = t;
    };
    for (const e of await this.history.list()) consider(e.readings);
    for (const i of await this.outbox.items()) consider(i.readings);
    return newest;
  }

  /**
   * After a restore on a new device: the person's results on the server that this history does
   * not have, each checked as a collected one is (shape, model, ledger transaction, decryption,
   * ranges), decrypted and diagnosed, and kept as a rebuilt entry (values and diagnosis at the
   * ledger's time, without the readings, which never left the old device unencrypted). Results
   * of the batch layout are counted, not rebuilt: their values depend on how many readings the
   * upload held, which only the readings tell. A result that fails its check is reported, not kept.
   */
  async restoreHistory(
    onResult?: (entry: HistoryEntry) => void,
  ): Promise<{ restored: number; batch: number; refused: string[] }> {
    const known = new Set((await this.history.list()).map((e) => e.resultId));
    // Results of uploads this device still holds are collect()'s, with their readings.
    const ours = new Set((await this.outbox.items()).map((i) => i.id));
    const report = { restored: 0, batch: 0, refused: [] as string[] };
    let after: string | undefined;
    for (;;) {
      const page = await this.api.results({ ...(after ? { after } : {}), limit: 500 });
      for (const summary of page) {
        after = summary.id;
        if (known.has(summary.id) || ours.has(summary.submissionId)) continue;
        if (this.user.plan.layout === 'batch') {
          report.batch++;
          continue;
        }
        try {
          const result = await this.api.result(summary.id);
          const issued = checkResult(result, this.user, summary.submissionId);
          const { q, values, diagnosis } = interpret(this.user, issued, [], this.contents.profile);
          const entry: HistoryEntry = {
            resultId: result.id,
            submissionId: summary.submissionId,
            txId: result.txId,
            blockNumber: result.blockNumber,
            modelId: result.modelId,
            layout: result.layout,
            readings: [],
            q,
            values,
            diagnosis,
            decryptedAt: Date.now(),
            latencyMs: 0,
            uploadedBytes: 0,
            restored: true,
            recordedAt: result.timestamp,
          };
          await this.history.add(entry);
          known.add(entry.resultId);
          report.restored++;
          onResult?.(entry);
        } catch (error) {
          if (!(error instanceof ResultError)) throw error;
          report.refused.push(`result ${summary.id.slice(0, 12)}: ${error.message}`);
        }
      }
      if (page.length < 500) break;
    }
    if (after) await this.#cursor(after);
    return report;
  }

  /** Sends what the outbox holds (retrying later what the server could not take now). */
  flush(onSent?: (item: OutboxItem) => void): Promise<FlushReport> {
    return this.outbox.flush(this.api, (envelope) => this.user.resign(envelope), onSent);
  }

  /**
   * Waits for the results of sent submissions (server-sent events, with polling as the fallback),
   * checks and decrypts each, diagnoses it and adds it to the history.
   */
  async collect(options: CollectOptions = {}): Promise<HistoryEntry[]> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    const collected: HistoryEntry[] = [];
    const events = new AbortController();
    // Results the server announced, kept until the loop gets to them (none is lost while it is busy).
    const announced: ResultEvent[] = [];
    let wake: () => void = () => {};
    const listening = (async () => {
      try {
        for await (const event of this.api.events(events.signal)) {
          announced.push(event);
          wake();
        }
      } catch {
        // Events are a shortcut; polling below is the guarantee.
      }
    })();
    const take = async (item: OutboxItem, resultId: string) => {
      const entry = await this.#receive(item, resultId);
      collected.push(entry);
      options.onResult?.(entry);
    };
    try {
      // The result list is read at first and whenever half a second passes without an event.
      let poll = true;
      for (let round = 0; ; round++) {
        const sent = await this.outbox.items('sent');
        const wanted = options.count ?? collected.length + sent.length;
        if (sent.length === 0 || collected.length >= wanted) break;
        const bySubmission = new Map(sent.map((i) => [i.id, i]));
        // An announced result is fetched directly: no listing.
        for (const event of announced.splice(0)) {
          const item = bySubmission.get(event.submissionId);
          if (!item) continue;
          await take(item, event.resultId);
          bySubmission.delete(item.id);
        }
        if (collected.length >= wanted) break;
        if (poll) await this.#poll(bySubmission, take);
        // A result listed before its upload was known as sent (a lost acknowledgement) is behind
        // the cursor: ask for such submissions one by one, now and then.
        if (round % 5 === 4) {
          for (const item of bySubmission.values()) {
            const status = await this.api.submission(item.id);
            if (status?.resultId) await take(item, status.resultId);
            else if (status?.state === 'rejected') {
              const reason = `the contract refused it: ${status.error ?? 'no reason given'}`;
              await this.outbox.refused(item, reason);
              options.onRefused?.(item, reason);
            }
          }
        }
        if (collected.length >= wanted || Date.now() > deadline) break;
        poll = announced.length === 0;
        if (poll) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 500);
            wake = () => {
              clearTimeout(timer);
              poll = false;
              resolve();
            };
          });
          wake = () => {};
        }
      }
    } finally {
      events.abort();
      await listening;
    }
    return collected;
  }

  /** New results since the last one this client saw, oldest first, a page at a time. */
  async #poll(
    bySubmission: Map<string, OutboxItem>,
    take: (item: OutboxItem, resultId: string) => Promise<void>,
  ): Promise<void> {
    const saved = await this.#cursor();
    let cursor = saved;
    try {
      for (;;) {
        const page = await this.api
          .results({ ...(cursor ? { after: cursor } : {}), limit: 500 })
          .catch((error: unknown) => {
            // The server no longer knows the cursor (restored from a backup, or another server):
            // list from the start; results already taken are skipped by submission.
            if (cursor && error instanceof ApiError && error.status === 404) {
              cursor = undefined;
              return null;
            }
            throw error;
          });
        if (page === null) continue;
        for (const summary of page) {
          const item = bySubmission.get(summary.submissionId);
          if (item) {
            await take(item, summary.id);
            bySubmission.delete(item.id);
          }
          cursor = summary.id; // past it only once handled: a refused result is looked at again
        }
        if (page.length < 500) break;
      }
    } finally {
      if (cursor !== saved && cursor !== undefined) await this.#cursor(cursor);
    }
  }

  /** The last result id this client has looked at (stored, so a restart does not list them all again). */
  async #cursor(set?: string): Promise<string | undefined> {
    if (set !== undefined) {
      await this.#store.put(CURSOR_KEY, new TextEncoder().encode(set));
      return set;
    }
    const bytes = await this.#store.get(CURSOR_KEY);
    return bytes && new TextDecoder().decode(bytes);
  }

  /** One result: checked, decrypted, diagnosed, kept; its outbox item is then forgotten. */
  async #receive(item: OutboxItem, resultId: string): Promise<HistoryEntry> {
    const result = await this.api.result(resultId);
    const issued = checkResult(result, this.user, item.id);
    const { q, values, diagnosis } = interpret(this.user, issued, item.readings, this.contents.profile);
    const decryptedAt = Date.now();
    const entry: HistoryEntry = {
      resultId: result.id,
      submissionId: item.id,
      txId: result.txId,
      blockNumber: result.blockNumber,
      modelId: result.modelId,
      layout: result.layout,
      readings: item.readings,
      q,
      values,
      diagnosis,
      decryptedAt,
      latencyMs: decryptedAt - item.readAt,
      uploadedBytes: item.envelope.length + (item.issue?.length ?? 0),
    };
    await this.history.add(entry);
    await this.outbox.remove(item);
    return entry;
  }

  /** Readings → the readings of each upload, as the plan's layout wants them. */
  #group(readings: readonly Reading[]): Reading[][] {
    const { plan } = this.user;
    if (plan.layout !== 'batch') return readings.map((r) => [r]);
    const batch = plan.model.batch;
    if (plan.model.windows && batch) {
      // Window means read slot i as minute interval·i from the first midnight (UTC): a full grid.
      const first = readings[0];
      if (!first) return [];
      const start = first.time - (first.time % 86_400_000);
      return [
        toGrid(readings, {
          start,
          intervalMinutes: batch.intervalMinutes,
          slots: plan.readingsPerUpload,
          maxGapSlots: MAX_GAP_SLOTS,
        }).readings,
      ];
    }
    const size = plan.readingsPerUpload;
    const groups: Reading[][] = [];
    for (let i = 0; i < readings.length; i += size) groups.push(readings.slice(i, i + size));
    return groups;
  }

  [Symbol.dispose](): void {
    this.user[Symbol.dispose]();
  }
}
