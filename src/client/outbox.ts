/**
 * Uploads that survive the network and the server. Every signed envelope is written to the
 * client's store before the first attempt and stays there until the server has acknowledged it,
 * so a reading is never lost; it is idempotent by nonce, so a reading is never counted twice:
 * - an envelope whose acknowledgement was lost comes back as REPLAY, and the client asks the
 *   server for that submission id instead of signing it again;
 * - an envelope too old for the server's timestamp window (STALE) is signed again (new nonce and
 *   timestamp, same ciphertexts) only after the server confirmed it never accepted the old one,
 *   which it now never can.
 * Failures the server may recover from are retried with exponential backoff and jitter; a refusal
 * that will not change (a bad ciphertext, a wrong template) marks the item failed and keeps it.
 */
import { decode, encode } from 'cborg';
import type { Reading } from '../device/reading.ts';
import { submissionId } from '../ledger/contract-client.ts';
import type { SubmissionStatus } from '../protocol/api.ts';
import { readSubmission } from '../protocol/envelope.ts';
import { type ApiClient, ApiError } from './api-client.ts';
import type { ClientStore } from './store.ts';
import type { SubmitItem } from './user.ts';

export type OutboxState = 'pending' | 'sent' | 'failed';

export interface OutboxItem {
  /** The submission id: sha256 of the envelope (changes when the envelope is signed again). */
  id: string;
  seq: number;
  /** The model the envelope was made for (its subscription). */
  modelId: string;
  envelope: Uint8Array;
  issue?: Uint8Array;
  /** The filtered readings this upload carries: kept on the device for the history. */
  readings: Reading[];
  /** When the newest reading reached the client (ms): the start of reading → diagnosis latency. */
  readAt: number;
  state: OutboxState;
  attempts: number;
  nextAttemptAt: number;
  lastError?: string;
  acceptedAt?: number;
}

export interface BackoffOptions {
  /** First retry delay (ms). Default 500. */
  baseMs: number;
  /** Longest delay (ms). Default 60 s. */
  maxMs: number;
}

export interface OutboxOptions {
  backoff?: Partial<BackoffOptions>;
  /** Envelopes per request (the server takes at most 64). Default 16. */
  chunk?: number;
  now?: () => number;
  random?: () => number;
}

/** Signs an item's ciphertexts again, with a fresh nonce and timestamp (after STALE). */
export type Resign = (envelope: Uint8Array) => Promise<SubmitItem>;

export interface FlushReport {
  sent: number;
  failed: number;
  /** Items still waiting, and when the next attempt is due (ms since the epoch), if any. */
  waiting: number;
  nextAttemptAt: number | undefined;
  /** The last retryable error, when the flush stopped on one. */
  error?: string;
  /**
   * The server does not know this device's keys (401 UNAUTHENTICATED), or not for some models (409
   * NOT_SUBSCRIBED): those items were not sent and did not fail; they wait, unchanged, until
   * registration succeeds and the outbox is flushed again.
   */
  unregistered?: boolean;
  /** The models whose uploads wait for their registration (NOT_SUBSCRIBED). */
  unregisteredModels?: string[];
}

/** What the person is told when uploads wait for a registration. */
export const UNREGISTERED_MESSAGE =
  "the server does not know this device's keys yet: register first, then send again";

const PREFIX = 'outbox/';

/** A request about the outbox that names no item, or a sent one. */
export class OutboxError extends Error {
  override readonly name = 'OutboxError';
}

export class Outbox {
  readonly #store: ClientStore;
  readonly #backoff: BackoffOptions;
  readonly #chunk: number;
  readonly #now: () => number;
  readonly #random: () => number;

  constructor(store: ClientStore, options: OutboxOptions = {}) {
    this.#store = store;
    this.#backoff = { baseMs: 500, maxMs: 60_000, ...options.backoff };
    this.#chunk = Math.max(1, Math.min(64, options.chunk ?? 16));
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** Stores uploads before any attempt; returns their items. */
  async add(
    uploads: readonly (SubmitItem & { readings: Reading[]; readAt: number })[],
  ): Promise<OutboxItem[]> {
    let seq = await this.#lastSeq();
    const items: OutboxItem[] = [];
    for (const u of uploads) {
      const item: OutboxItem = {
        id: submissionId(u.envelope),
        seq: ++seq,
        modelId: readSubmission(u.envelope).modelId,
        envelope: u.envelope,
        ...(u.issue ? { issue: u.issue } : {}),
        readings: u.readings,
        readAt: u.readAt,
        state: 'pending',
        attempts: 0,
        nextAttemptAt: 0,
      };
      await this.#save(item);
      items.push(item);
    }
    return items;
  }

  /** Forgets every unsent upload of one model (its subscription ended): how many went. */
  async discardModel(modelId: string): Promise<number> {
    const gone = (await this.items()).filter((i) => i.modelId === modelId && i.state !== 'sent');
    for (const item of gone) await this.#store.delete(keyOf(item));
    return gone.length;
  }

  async items(state?: OutboxState): Promise<OutboxItem[]> {
    const items: OutboxItem[] = [];
    for (const key of await this.#store.keys(PREFIX)) {
      const bytes = await this.#store.get(key);
      if (!bytes) continue;
      const item = decode(bytes) as OutboxItem;
      // Items stored before subscriptions carry their model only inside the envelope.
      item.modelId ??= readSubmission(item.envelope).modelId;
      if (!state || item.state === state) items.push(item);
    }
    return items;
  }

  /**
   * A sent item the contract refused for good (the server reports it rejected): kept as failed,
   * with the contract's reason, for the person to see.
   */
  async refused(item: OutboxItem, reason: string): Promise<void> {
    await this.#save({ ...item, state: 'failed', lastError: reason });
  }

  /** Forgets a sent item once its result is in the local history. */
  async remove(item: OutboxItem): Promise<void> {
    await this.#store.delete(keyOf(item));
  }

  /** Sends what is due. Stops at the first retryable failure (the server is away or overloaded). */
  async flush(api: ApiClient, resign: Resign, onSent?: (item: OutboxItem) => void): Promise<FlushReport> {
    const report: FlushReport = { sent: 0, failed: 0, waiting: 0, nextAttemptAt: undefined };
    const due = (await this.items('pending')).filter((i) => i.nextAttemptAt <= this.#now());
    // One model per request: a model not registered yet holds back its own uploads only.
    let queue: OutboxItem[][] = [];
    for (const model of new Set(due.map((i) => i.modelId))) {
      const mine = due.filter((i) => i.modelId === model);
      for (let i = 0; i < mine.length; i += this.#chunk) queue.push(mine.slice(i, i + this.#chunk));
    }
    const waitingModels = new Set<string>();
    let stopped = false;
    while (queue.length > 0 && !stopped) {
      const chunk = queue.shift() as OutboxItem[];
      try {
        const statuses = await api.submit(chunk.map(toSubmitItem));
        for (const [i, item] of chunk.entries()) await this.#accepted(item, statuses[i], report, onSent);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        if (error.code === 'NOT_SUBSCRIBED') {
          // This model is not registered (yet): its items wait like an unregistered device's.
          const model = (chunk[0] as OutboxItem).modelId;
          waitingModels.add(model);
          queue = queue.filter((c) => c[0]?.modelId !== model);
          report.unregistered = true;
          report.error = `model ${model} is not registered with the server yet: register it, then send again`;
        } else if (error.code === 'UNAUTHENTICATED') {
          // Not registered (yet): no attempt is counted, no backoff; registering sends them.
          // (Other 401s, a stale or badly signed envelope, are the item's own, settled below.)
          report.error = UNREGISTERED_MESSAGE;
          report.unregistered = true;
          stopped = true;
        } else if (error.retryable) {
          for (const item of chunk) await this.#later(item, error);
          for (const rest of queue.flat()) await this.#later(rest, error, false);
          report.error = error.message;
          stopped = true;
        } else if (chunk.length > 1) {
          // Accepted whole or refused whole: find the item at fault by sending one at a time.
          queue.unshift(...chunk.map((item) => [item]));
        } else {
          const item = chunk[0] as OutboxItem;
          const again = await this.#settle(api, item, error, resign, report, onSent);
          if (again) queue.unshift([again]);
        }
      }
    }
    if (waitingModels.size > 0) report.unregisteredModels = [...waitingModels];
    const pending = await this.items('pending');
    report.waiting = pending.length;
    report.nextAttemptAt =
      pending.length && !report.unregistered ? Math.min(...pending.map((i) => i.nextAttemptAt)) : undefined;
    return report;
  }

  /**
   * Items named by their id or an unambiguous start of it (at least 6 characters); all failed
   * items when no id is given. An id that names none, or several, is an error naming it.
   */
  async select(ids: readonly string[] = []): Promise<OutboxItem[]> {
    const all = await this.items();
    if (ids.length === 0) return all.filter((i) => i.state === 'failed');
    return ids.map((id) => {
      const found = id.length >= 6 ? all.filter((i) => i.id.startsWith(id.toLowerCase())) : [];
      if (found.length !== 1) {
        throw new OutboxError(
          found.length === 0
            ? `no upload ${id} in the outbox${id.length < 6 ? ' (give at least 6 characters of its id)' : ''}`
            : `${id} names ${found.length} uploads: give more of its id`,
        );
      }
      return found[0] as OutboxItem;
    });
  }

  /** Puts refused items back in line, as new: the next flush sends them. */
  async retry(items: readonly OutboxItem[]): Promise<number> {
    for (const item of items) {
      if (item.state === 'sent')
        throw new OutboxError(`upload ${item.id.slice(0, 12)} was accepted: its result is awaited`);
      const again: OutboxItem = { ...item, state: 'pending', attempts: 0, nextAttemptAt: 0 };
      delete again.lastError;
      await this.#save(again);
    }
    return items.length;
  }

  /** Forgets items for good (their readings stay in the CSV or device they came from, not here). */
  async discard(items: readonly OutboxItem[]): Promise<number> {
    for (const item of items) {
      if (item.state === 'sent')
        throw new OutboxError(`upload ${item.id.slice(0, 12)} was accepted: its result is awaited`);
      await this.#store.delete(keyOf(item));
    }
    return items.length;
  }

  /** One item refused for good, or refused because of its nonce or its age: what really happened. */
  async #settle(
    api: ApiClient,
    item: OutboxItem,
    error: ApiError,
    resign: Resign,
    report: FlushReport,
    onSent?: (item: OutboxItem) => void,
  ): Promise<OutboxItem | undefined> {
    if (error.code === 'REPLAY' || error.code === 'STALE') {
      const status = await api.submission(item.id);
      if (status) {
        await this.#accepted(item, status, report, onSent);
        return undefined;
      }
      if (error.code === 'STALE') {
        // Never accepted, and too old to be accepted ever: safe to sign again.
        const fresh = await resign(item.envelope);
        const again: OutboxItem = {
          ...item,
          id: submissionId(fresh.envelope),
          envelope: fresh.envelope,
          ...(fresh.issue ? { issue: fresh.issue } : {}),
        };
        await this.#save(again);
        return again;
      }
    }
    await this.#save({
      ...item,
      state: 'failed',
      attempts: item.attempts + 1,
      lastError: `${error.code}: ${error.message}`,
    });
    report.failed++;
    return undefined;
  }

  async #accepted(
    item: OutboxItem,
    status: SubmissionStatus | undefined,
    report: FlushReport,
    onSent?: (item: OutboxItem) => void,
  ): Promise<void> {
    const sent: OutboxItem = {
      ...item,
      state: 'sent',
      attempts: item.attempts + 1,
      acceptedAt: status ? Date.parse(status.acceptedAt) : this.#now(),
    };
    delete sent.lastError;
    await this.#save(sent);
    report.sent++;
    onSent?.(sent);
  }

  async #later(item: OutboxItem, error: ApiError, attempted = true): Promise<void> {
    const attempts = item.attempts + (attempted ? 1 : 0);
    const { baseMs, maxMs } = this.#backoff;
    // Full jitter: clients that lost the server together do not come back together.
    const delay = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1)) * (0.5 + this.#random() / 2);
    await this.#save({
      ...item,
      attempts,
      nextAttemptAt: this.#now() + Math.round(delay),
      lastError: `${error.code}: ${error.message}`,
    });
  }

  async #save(item: OutboxItem): Promise<void> {
    await this.#store.put(keyOf(item), encode(item));
  }

  async #lastSeq(): Promise<number> {
    const keys = await this.#store.keys(PREFIX);
    const last = keys.at(-1);
    return last ? Number.parseInt(last.slice(PREFIX.length, PREFIX.length + 12), 10) : 0;
  }
}

const keyOf = (item: Pick<OutboxItem, 'seq'>) => `${PREFIX}${String(item.seq).padStart(12, '0')}`;

const toSubmitItem = (item: OutboxItem): SubmitItem => ({
  envelope: item.envelope,
  ...(item.issue ? { issue: item.issue } : {}),
});
