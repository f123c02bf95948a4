/**
 * The client as a person uses it (paper §3.1, Fig. 3a): keys made on the device and kept in an
 * encrypted vault; readings filtered, built into tuples from the server's template, encrypted,
 * signed and queued in the outbox; results checked, decrypted and diagnosed into a local
 * history. The same code runs in Node (a folder) and in the browser (IndexedDB): only the
 * ClientStore differs.
 */
import type { Reading } from '../device/reading.ts';
import { SPO2_SCALE_FIELD } from '../models/catalogue/early-warning.ts';
import { getModel } from '../models/catalogue/index.ts';
import type { Clinician, Closed, Grant } from '../protocol/api.ts';
import { fromBase64 } from '../protocol/bytes.ts';
import { readSubmission } from '../protocol/envelope.ts';
import { checkProfile, type Profile } from '../protocol/meta-functions.ts';
import type { Layout } from '../protocol/schema.ts';
import { ApiClient, ApiError, type ResultEvent } from './api-client.ts';
import { type FilterReport, filterReadings, type RawReading, toGrid } from './filter.ts';
import { History, type HistoryEntry } from './history.ts';
import { type FlushReport, Outbox, type OutboxItem, type OutboxOptions } from './outbox.ts';
import { checkResult, interpret, ResultError } from './results.ts';
import { SealedStore } from './sealed-store.ts';
import {
  type GrantChoice,
  grantAccess,
  revokeAccess,
  type ShareReport,
  type Sharer,
  shareOutstanding,
} from './sharing.ts';
import type { ClientStore } from './store.ts';
import { LocalUser } from './user.ts';
import { type KdfParams, Vault, type VaultContents, type VaultSubscription } from './vault.ts';

/**
 * Longest run of missing grid slots a batch model's window means may be interpolated across:
 * 2 hours at 15 minutes. With the simulator's dropout rates 1 hour refused 42 of 60 simulated
 * weeks, 2 hours 6 of 60 (docs/filtering.md); longer gaps are refused, naming them.
 */
export const MAX_GAP_SLOTS = 8;

/** The API base of a client given no server: calls to it fail as NETWORK, naming it. */
export const NO_SERVER = 'http://server.not.configured';

/** Store key of the last result id collect() has looked at. */
const CURSOR_KEY = 'results-cursor';

export interface InitOptions {
  userId: string;
  /** The first model followed (more can be added later with addModel). */
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
export function kdfProgress(phase: ProgressPhase, options: OpenOptions) {
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
  /**
   * Models that could not take these readings (e.g. a day-long batch model given a few minutes),
   * with why; the other models' uploads were queued. When no model could, queue throws instead.
   */
  skipped: { modelId: string; reason: string }[];
}

/** A model this client follows: what registering it answered. */
export interface Registered {
  modelId: string;
  txId: string;
}

/** A request about the models followed that cannot be done: an unknown, doubled or last model. */
export class ModelChoiceError extends Error {
  override readonly name = 'ModelChoiceError';
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
  /**
   * Called after new results were shared with clinicians under the person's grants (automatic
   * whenever results arrived; a failure is reported here and tried again next time).
   */
  onShared?: (report: ShareReport) => void;
}

export class PmheClient implements Disposable {
  readonly api: ApiClient;
  readonly outbox: Outbox;
  readonly history: History;
  #contents: VaultContents;
  readonly #store: ClientStore;
  /** One LocalUser per model followed (one identity, each its own CKKS key), in the vault's order. */
  readonly #users: Map<string, LocalUser>;

  private constructor(
    store: ClientStore,
    users: readonly LocalUser[],
    contents: VaultContents,
    options: OpenOptions,
  ) {
    this.#users = new Map(users.map((u) => [u.plan.model.id, u]));
    this.#contents = contents;
    const server = options.server ?? contents.server;
    // Any of the users signs for the one identity they share.
    const signer = {
      authorization: (m: string, p: string, b?: Uint8Array) => this.user.authorization(m, p, b),
    };
    this.api = new ApiClient(server ?? NO_SERVER, signer, {
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    this.outbox = new Outbox(store, options.outbox);
    this.history = new History(store);
    this.#store = store;
  }

  /** The first model's user: the person's identity (every model's user signs as the same key). */
  get user(): LocalUser {
    return this.#users.values().next().value as LocalUser;
  }

  /** The models followed, in the order they were added. */
  get models(): string[] {
    return [...this.#users.keys()];
  }

  /** Each model's user (its plan and CKKS key), by model id. */
  get users(): ReadonlyMap<string, LocalUser> {
    return this.#users;
  }

  /** The user of one model followed; a ModelChoiceError naming the ones followed otherwise. */
  userFor(modelId: string): LocalUser {
    const user = this.#users.get(modelId);
    if (!user) {
      throw new ModelChoiceError(
        `this device does not follow ${modelId}; it follows ${this.models.join(', ')}`,
      );
    }
    return user;
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
    const profile = checkedProfile(this.models, { ...this.contents.profile, ...values }, Object.keys(values));
    this.#contents = await Vault.update(this.#store, passphrase, (c) => ({ ...c, profile }));
    return this.profile;
  }

  /**
   * Follows another model: a new CKKS key under the same identity, sealed into the vault. The
   * profile must hold what the model reads (give missing values in `profile`). Registering it
   * with the server is register({ models: [modelId] }); until then its uploads wait.
   */
  async addModel(
    modelId: string,
    layout: Layout,
    passphrase: string,
    profile: Readonly<Record<string, number>> = {},
  ): Promise<LocalUser> {
    if (this.#users.has(modelId)) throw new ModelChoiceError(`this device already follows ${modelId}`);
    const merged = checkedProfile(
      [...this.models, modelId],
      { ...this.contents.profile, ...profile },
      Object.keys(profile),
    );
    const user = await LocalUser.create({
      userId: this.contents.userId,
      modelId,
      layout,
      identitySeed: this.contents.identitySeed,
    });
    try {
      const added = subscriptionOf(user);
      this.#contents = await Vault.update(this.#store, passphrase, (c) => ({
        ...c,
        subscriptions: [...c.subscriptions, added],
        ...(Object.keys(merged).length ? { profile: merged } : {}),
      }));
    } catch (error) {
      user[Symbol.dispose]();
      throw error;
    }
    this.#users.set(modelId, user);
    return user;
  }

  /**
   * Stops following a model: the server and the contract end the subscription (if it was
   * registered), its uploads still on this device are dropped, and its CKKS key leaves the vault.
   * Results already in this history stay; results of it on the server can no longer be
   * decrypted anywhere (the only key is gone). The last model cannot be removed.
   */
  async removeModel(modelId: string, passphrase: string): Promise<{ txId?: string; discarded: number }> {
    const user = this.userFor(modelId);
    if (this.#users.size === 1) {
      throw new ModelChoiceError(`${modelId} is the only model this device follows: add another first`);
    }
    let txId: string | undefined;
    // The passphrase is checked before the server is asked; a server that fails leaves all as it was.
    this.#contents = await Vault.update(this.#store, passphrase, async (c) => {
      if (this.api.base !== NO_SERVER) {
        const { args = [] } = await user.request('unsubscribe', { modelId });
        try {
          ({ txId } = await this.api.unsubscribe(fromBase64(args[0] ?? '')));
        } catch (error) {
          // Never registered (this model, or at all): nothing to end on the server.
          const unknown =
            error instanceof ApiError && ['NOT_SUBSCRIBED', 'UNAUTHENTICATED'].includes(error.code);
          if (!unknown) throw error;
        }
      }
      return { ...c, subscriptions: c.subscriptions.filter((x) => x.modelId !== modelId) };
    });
    const discarded = await this.outbox.discardModel(modelId);
    this.#users.delete(modelId);
    user[Symbol.dispose]();
    return { ...(txId ? { txId } : {}), discarded };
  }

  /** A registered clinician, with the fingerprint to compare with theirs before granting. */
  clinician(clinicianId: string): Promise<Clinician> {
    return this.api.clinician(clinicianId);
  }

  /**
   * Grants a clinician (as looked up with `clinician`) the results of chosen models, from a time
   * until an expiry: a contract transaction signed by this person. Results already here that it
   * covers are shared at once; new ones as they arrive (collect).
   */
  async grant(clinician: Clinician, choice: GrantChoice): Promise<{ grant: Grant } & ShareReport> {
    const grant = await grantAccess(this.#sharer, clinician, choice);
    return { grant, ...(await this.shareOutstanding()) };
  }

  /** Ends a grant: nothing more is shared, and the server refuses the clinician what was. */
  revoke(clinicianId: string): Promise<Grant> {
    return revokeAccess(this.#sharer, clinicianId);
  }

  /** The grants this person gave, with the results shared under each. */
  async grants(): Promise<Grant[]> {
    return (await this.api.grants()).grants;
  }

  /** Shares every decrypted result a grant in force covers and has not received yet. */
  shareOutstanding(): Promise<ShareReport> {
    return shareOutstanding(this.#sharer);
  }

  get #sharer(): Sharer {
    return { user: this.user, api: this.api, history: this.history, store: this.#store };
  }

  /**
   * Closes the account for good: the server has the contract delete every state entry of this
   * person and deletes its own rows (grants end with them), then this device's vault, outbox and
   * history are destroyed. The passphrase is checked first; nothing is deleted if it is wrong.
   * What stays in the ledger's blocks is unreadable without the keys destroyed here.
   */
  async closeAccount(passphrase: string): Promise<Closed> {
    await Vault.open(this.#store, passphrase);
    const { args = [] } = await this.user.request('close');
    // Never registered anywhere: there is nothing to close but this device's vault.
    const closed =
      this.api.base === NO_SERVER
        ? { userId: this.user.userId, txIds: [], ledgerKeys: 0, serverRows: 0 }
        : await this.api.close(fromBase64(args[0] ?? ''));
    await Vault.destroy(this.#store, passphrase);
    this[Symbol.dispose]();
    return closed;
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
      createdAt: Date.now(),
      identitySeed: await user.exportIdentitySeed(),
      subscriptions: [subscriptionOf(user)],
      ...(options.server ? { server: options.server } : {}),
      ...(options.profile ? { profile: options.profile as Record<string, number> } : {}),
    };
    options.onProgress?.('keys', 1, 1);
    await Vault.create(store, contents, options.passphrase, {
      ...(options.kdf ? { kdf: options.kdf } : {}),
      ...kdfProgress('seal', options),
    });
    return new PmheClient(await SealedStore.over(store, contents.identitySeed), [user], contents, options);
  }

  /** Unlocks the vault in `store` (a wrong passphrase or a damaged vault throws VaultError). */
  static async open(store: ClientStore, passphrase: string, options: OpenOptions = {}): Promise<PmheClient> {
    const contents = await Vault.open(store, passphrase, kdfProgress('unlock', options));
    const users: LocalUser[] = [];
    for (const x of contents.subscriptions) {
      users.push(
        await LocalUser.restore({
          userId: contents.userId,
          modelId: x.modelId,
          layout: x.layout,
          presetId: x.presetId,
          identitySeed: contents.identitySeed,
          ckksSecretKey: x.ckksSecretKey,
        }),
      );
    }
    // The outbox and history at rest under a key from the vault; an older client's, sealed now.
    const sealed = await SealedStore.over(store, contents.identitySeed);
    await sealed.migrate();
    return new PmheClient(sealed, users, contents, options);
  }

  /**
   * setup(m) through the server for each model followed (or those named): the public Ed25519 key
   * and that model's evaluation keys; again for a model already registered (a new setup).
   * `enrolment` is the code a server in enrolment mode asks new users for.
   */
  async register(enrolment?: string, models: readonly string[] = this.models): Promise<Registered[]> {
    const registered: Registered[] = [];
    for (const modelId of models) {
      const user = this.userFor(modelId);
      const answer = await this.api.register(await user.registration(Date.now(), enrolment));
      registered.push({ modelId, txId: answer.txId });
    }
    return registered;
  }

  /**
   * Filters readings, builds each model's tuples (one reading each, or batches), encrypts and
   * signs them, and stores them in the outbox: for every model followed, or the `models` given.
   * Nothing is sent yet: call flush().
   */
  async queue(
    raw: readonly RawReading[],
    readAt = Date.now(),
    onProgress?: (done: number, total: number) => void,
    models: readonly string[] = this.models,
  ): Promise<Queued> {
    let t = performance.now();
    const filtered = filterReadings(raw);
    // Each model followed gets its own uploads of the same readings, grouped as its layout wants.
    const work: { user: LocalUser; readings: Reading[] }[] = [];
    const skipped: Queued['skipped'] = [];
    let firstError: unknown;
    const users = models.map((m) => this.userFor(m));
    for (const user of users) {
      try {
        for (const readings of groupFor(user, filtered.kept)) work.push({ user, readings });
      } catch (error) {
        firstError ??= error;
        skipped.push({ modelId: user.plan.model.id, reason: (error as Error).message });
      }
    }
    if (skipped.length === users.length && firstError) throw firstError;
    const filterMs = performance.now() - t;
    let encryptMs = 0;
    let signMs = 0;
    const uploads = [];
    for (const { user, readings } of work) {
      t = performance.now();
      const ciphertexts = user.encrypt(readings, this.profile);
      encryptMs += performance.now() - t;
      t = performance.now();
      uploads.push({ ...(await user.uploadOf(ciphertexts)), readings, readAt });
      signMs += performance.now() - t;
      onProgress?.(uploads.length, work.length);
    }
    const items = await this.outbox.add(uploads);
    return { report: filtered.report, items, timings: { filterMs, encryptMs, signMs }, skipped };
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
    // A model no longer followed has no key here: its results are refused, with that reason.
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
        try {
          const result = await this.api.result(summary.id);
          const user = this.#users.get(result.modelId);
          if (!user) {
            throw new ResultError(
              'NO_KEY',
              `${result.modelId}: this device no longer follows it, and has no key for it`,
            );
          }
          if (user.plan.layout === 'batch') {
            report.batch++;
            continue;
          }
          const issued = checkResult(result, user, summary.submissionId);
          const { q, values, diagnosis } = interpret(user, issued, [], this.contents.profile);
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
    return this.outbox.flush(
      this.api,
      (envelope) => this.userFor(readSubmission(envelope).modelId).resign(envelope),
      onSent,
    );
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
    if (collected.length > 0) {
      // Sharing continues by itself while a grant is in force; it never costs the person a result.
      const report = await this.shareOutstanding().catch(
        (error: unknown): ShareReport => ({
          shared: [],
          failed: [{ clinicianId: '*', resultId: '*', reason: (error as Error).message }],
        }),
      );
      if (report.shared.length > 0 || report.failed.length > 0) options.onShared?.(report);
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
    const user = this.userFor(item.modelId);
    const issued = checkResult(result, user, item.id);
    const { q, values, diagnosis } = interpret(user, issued, item.readings, this.contents.profile);
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
      recordedAt: result.timestamp,
    };
    await this.history.add(entry);
    await this.outbox.remove(item);
    return entry;
  }

  [Symbol.dispose](): void {
    for (const user of this.#users.values()) user[Symbol.dispose]();
  }
}

/** The vault's record of one model's keys. */
function subscriptionOf(user: LocalUser): VaultSubscription {
  return {
    modelId: user.plan.model.id,
    layout: user.plan.layout,
    presetId: user.plan.preset.id,
    ckksSecretKey: user.exportSecretKey(),
    addedAt: Date.now(),
  };
}

/**
 * A profile checked against the models followed: every field `changed` belongs to one of them
 * (or is early-warning's SpO2 scale), and each model's required fields are there and in range.
 */
function checkedProfile(
  models: readonly string[],
  profile: Readonly<Record<string, number>>,
  changed: readonly string[],
): Record<string, number> {
  const fields = new Set(models.flatMap((m) => getModel(m).profile as readonly string[]));
  if (models.includes('early-warning')) fields.add(SPO2_SCALE_FIELD);
  for (const name of changed) {
    if (!fields.has(name)) {
      const has = models.length === 1 ? 'has' : 'have';
      throw new RangeError(
        `${models.join(', ')} ${has} no profile field "${name}"${fields.size ? `; the fields are ${[...fields].join(', ')}` : ''}`,
      );
    }
  }
  for (const m of models) checkProfile(profile as Profile, getModel(m).profile);
  return { ...profile };
}

/** Readings → the readings of each upload, as this user's plan's layout wants them. */
function groupFor(user: LocalUser, readings: readonly Reading[]): Reading[][] {
  const { plan } = user;
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
