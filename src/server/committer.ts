/**
 * The outbox worker: hands accepted submissions to the ledger and stores what the contract
 * returns. An upload that carries its issue request is received and evaluated in one `issue`
 * transaction (one ordered transaction per real-time reading); the others are received in
 * batches (many envelopes per `receive`) and issued later. Retries until committed; never
 * commits twice:
 *
 *  - every transaction id is recorded before the transaction is sent (Ledger.prepare), so after
 *    a crash the ledger is asked whether it committed instead of sending it again;
 *  - the contract refuses a replayed envelope or request (stored nonces), so even a duplicate
 *    that slipped through changes nothing.
 *
 * Only the contract's refusal on the gateway's own organisation (LedgerError ENDORSEMENT) is
 * final. Everything else is transient (endorsers that disagree or lag, an unreachable peer or
 * chaincode, discovery not settled, an MVCC conflict) and is retried with backoff per
 * submission, the delay capped, never given up on: nothing a person measured is lost.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { sql } from 'kysely';
import { FheContractClient, issueProposal, receiveProposal } from '../ledger/contract-client.ts';
import { LedgerError } from '../ledger/errors.ts';
import { type Ledger, TX_VALID } from '../ledger/ledger.ts';
import {
  type ContractErrorCode,
  contractErrorCode,
  CONTRACT_LIMITS as LIMITS,
} from '../protocol/contract.ts';
import type { Db } from './db/database.ts';
import type { Submission } from './db/schema.ts';
import { ResultReader } from './results.ts';

/** What the committer schedules with: a row without its envelope (fetched only when sent). */
type Job = Pick<
  Submission,
  'id' | 'user_id' | 'state' | 'bytes' | 'issue_request' | 'receive_txs' | 'issue_txs'
>;
const _JOB_COLUMNS = [
  'id',
  'user_id',
  'state',
  'bytes',
  'issue_request',
  'receive_txs',
  'issue_txs',
] as const;

export interface ResultReady {
  userId: string;
  resultId: string;
  submissionId: string;
}

export interface CommitterOptions {
  /** Issue transactions in flight at once (they batch into blocks). */
  concurrency?: number;
  /** Longest wait between polls when idle, and the first retry delay after a ledger failure. */
  idleMs?: number;
  /** The longest a submission waits between two retries (the delay doubles up to it). */
  maxRetryDelayMs?: number;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** This replica's name in the claims it makes (default: a new UUID). */
  replica?: string;
  /** How long a claim holds a submission: another replica takes it after this (default 60 s). */
  leaseMs?: number;
  /** Announce each result with PostgreSQL NOTIFY (`pmhe_results`), for the other replicas' clients. */
  notify?: boolean;
}

/** The PostgreSQL channel results are announced on, to every replica. */
export const RESULTS_CHANNEL = 'pmhe_results';

type PumpName = 'receive' | 'issue';

/** Submission ids a pump holds: in flight, or waiting out a backoff. */
interface InHand {
  busy: string[];
  waiting: string[];
}

/** Receive transactions in flight at once (each carries up to 64 envelopes). */
const RECEIVES_IN_FLIGHT = 2;

export class Committer {
  readonly events = new EventEmitter<{ result: [ResultReady]; idle: [] }>();
  /** Results as the ledger has them (the server stores no copy of Z). */
  readonly results: ResultReader;
  readonly #db: Db;
  readonly #ledger: Ledger;
  readonly #contract: FheContractClient;
  readonly #concurrency: number;
  readonly #idleMs: number;
  readonly #log: NonNullable<CommitterOptions['log']>;
  #running: Promise<void> | null = null;
  #stopping = false;
  /** Each pump's sleepers: a finished transaction frees a slot in its own pump only. */
  readonly #wakers = new Map<PumpName, (() => void)[]>();
  readonly #maxRetryDelayMs: number;
  /** This replica, in its claims and its announcements. */
  readonly replica: string;
  readonly #leaseMs: number;
  readonly #notify: boolean;
  /** Submissions whose last transaction failed transiently: how often, and when to try again. */
  readonly #delayed = new Map<string, { failures: number; at: number }>();
  /** Counters for /metrics. */
  readonly stats = { received: 0, issued: 0, rejected: 0, retries: 0 };
  /** Transient failures by LedgerError code (MISMATCH, UNAVAILABLE, INVALID, …), for /metrics. */
  readonly retriesByReason = new Map<string, number>();

  constructor(db: Db, ledger: Ledger, options: CommitterOptions = {}) {
    this.#db = db;
    this.#ledger = ledger;
    this.#contract = new FheContractClient(ledger);
    this.results = new ResultReader(ledger);
    this.#concurrency = options.concurrency ?? 32;
    this.#idleMs = options.idleMs ?? 500;
    this.#maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
    this.replica = options.replica ?? randomUUID();
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#notify = options.notify ?? false;
    this.#log = options.log ?? (() => undefined);
    this.events.setMaxListeners(0);
  }

  start(): void {
    this.#running ??= (async () => {
      await this.#recover();
      await Promise.all([
        this.#pump(
          'receive',
          RECEIVES_IN_FLIGHT,
          (n, inHand) => this.#nextReceive(n, inHand),
          (c) => this.#receive(c),
        ),
        this.#pump(
          'issue',
          this.#concurrency,
          (n, inHand) => this.#nextIssues(n, inHand),
          (s) => this.#issue(s[0] as Job),
        ),
      ]);
    })();
  }

  /** New work is waiting (or a transaction finished): look again now (both pumps, or one). */
  wake(pump?: PumpName): void {
    for (const [name, sleepers] of this.#wakers) {
      if (pump === undefined || pump === name) for (const w of sleepers.splice(0)) w();
    }
  }

  /** Finishes the transactions in flight (so what the ledger committed is recorded), then stops. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.wake();
    await this.#running;
  }

  /**
   * Stops taking work and finishes what is in flight (a backup's snapshot then sees no ledger
   * transaction half done); the function returned starts it again, recovering as after a start.
   */
  async pause(): Promise<() => void> {
    await this.stop();
    return () => {
      this.#stopping = false;
      this.#running = null;
      this.start();
    };
  }

  /** Submissions not yet final, for /metrics and readiness. */
  async backlog(): Promise<number> {
    const row = await this.#db
      .selectFrom('submissions')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where((eb) =>
        eb.or([
          eb('state', '=', 'accepted'),
          eb.and([
            eb('state', '=', 'received'),
            eb('issue_request', 'is not', null),
            eb('result_id', 'is', null),
          ]),
        ]),
      )
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Keeps up to `limit` jobs in flight: takes rows not already in hand, starts them, and looks
   * again whenever one finishes or new work is announced. A job that fails transiently puts its
   * submissions back with their own backoff; a database failure pauses the whole pump.
   */
  async #pump(
    name: PumpName,
    limit: number,
    next: (count: number, inHand: InHand) => Promise<Job[][]>,
    run: (job: Job[]) => Promise<void>,
  ): Promise<void> {
    const busy = new Set<string>();
    const running = new Set<Promise<void>>();
    let dbFailures = 0;
    let pausedUntil = 0;
    // In flight here, or waiting out a backoff: not taken again now.
    const skip = (): InHand => ({
      busy: [...busy],
      waiting: [...this.#delayed].filter(([, d]) => d.at > Date.now()).map(([id]) => id),
    });
    while (!this.#stopping) {
      let jobs: Job[][] = [];
      if (running.size < limit && Date.now() >= pausedUntil) {
        try {
          jobs = await next(limit - running.size, skip());
          dbFailures = 0;
        } catch (error) {
          pausedUntil = Date.now() + this.#backoff(++dbFailures);
          this.#log(`${name}: reading the database failed; retrying`, { error: (error as Error).message });
        }
      }
      for (const job of jobs) {
        for (const s of job) busy.add(s.id);
        // On a ledger or database failure the rows stay as they are and are taken again later.
        const task: Promise<void> = run(job)
          .then(() => {
            for (const s of job) this.#delayed.delete(s.id);
          })
          .catch((error: unknown) => this.#retryLater(name, job, error))
          .finally(() => {
            for (const s of job) busy.delete(s.id);
            running.delete(task);
            this.wake(name);
          });
        running.add(task);
      }
      if (jobs.length === 0 || running.size >= limit) {
        if (running.size === 0 && jobs.length === 0 && this.#delayed.size === 0) this.events.emit('idle');
        // Delayed submissions fall due between polls: they are taken at most idleMs late.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.#idleMs);
          const sleepers = this.#wakers.get(name) ?? [];
          this.#wakers.set(name, sleepers);
          sleepers.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    }
    await Promise.allSettled(running);
  }

  /** Doubling from idleMs, capped, with jitter so that many retries do not arrive together. */
  #backoff(failures: number): number {
    const ceiling = Math.min(this.#maxRetryDelayMs, this.#idleMs * 2 ** Math.min(failures - 1, 20));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  #retryLater(name: string, job: readonly Job[], error: unknown): void {
    const reason = error instanceof LedgerError ? error.code : 'OTHER';
    let delayMs = 0;
    for (const s of job) {
      const failures = (this.#delayed.get(s.id)?.failures ?? 0) + 1;
      delayMs = this.#backoff(failures);
      this.#delayed.set(s.id, { failures, at: Date.now() + delayMs });
    }
    this.stats.retries++;
    this.retriesByReason.set(reason, (this.retriesByReason.get(reason) ?? 0) + 1);
    this.#log(`${name}: a transaction failed (${reason}); its submissions are retried`, {
      error: (error as Error).message,
      submissions: job.length,
      delayMs: Math.round(delayMs),
    });
  }

  /** After a crash: transactions prepared and perhaps committed before it, found on the ledger. */
  async #recover(): Promise<void> {
    const receiving = await this.#db
      .selectFrom('submissions')
      .selectAll()
      .where('state', '=', 'accepted')
      .where(sql<boolean>`cardinality(receive_txs) > 0`)
      .execute();
    for (const s of receiving) {
      const committed = await this.#committed(s.receive_txs);
      if (committed) await this.#markReceived([s.id], committed);
    }
    const issuing = await this.#db
      .selectFrom('submissions')
      .selectAll()
      .where('state', 'in', ['accepted', 'received'])
      .where('result_id', 'is', null)
      .where(sql<boolean>`cardinality(issue_txs) > 0`)
      .execute();
    for (const s of issuing) {
      const committed = await this.#committed(s.issue_txs);
      if (committed) await this.#storeResult(s, committed.txId, committed.blockNumber);
    }
  }

  /** The first of these transactions that the ledger committed as valid. */
  async #committed(txIds: readonly string[]) {
    for (const txId of txIds) {
      try {
        const info = await this.#ledger.getTransaction(txId);
        if (info.validationCode === TX_VALID) return info;
      } catch (error) {
        if (!(error instanceof LedgerError && error.code === 'NOT_FOUND')) throw error;
      }
    }
    return undefined;
  }

  /**
   * Accepted submissions without an issue request (those go with theirs in one issue), not in
   * hand, cut into receive transactions that fit a block.
   */
  async #nextReceive(count: number, inHand: InHand): Promise<Job[][]> {
    const pending = await this.#claim(
      sql`state = 'accepted' and issue_request is null`,
      LIMITS.envelopesPerReceive * count,
      inHand,
    );
    const chunks: Job[][] = [];
    let chunk: Job[] = [];
    let bytes = 0;
    for (const s of pending) {
      if (chunk.length === LIMITS.envelopesPerReceive || bytes + s.bytes > LIMITS.receiveBytes) {
        chunks.push(chunk);
        chunk = [];
        bytes = 0;
      }
      chunk.push(s);
      bytes += s.bytes;
    }
    if (chunk.length > 0) chunks.push(chunk);
    // Claimed but not in the transactions sent now (large envelopes): free for any replica.
    await this.#release(chunks.slice(count).flat());
    return chunks.slice(0, count);
  }

  /**
   * Claims, oldest first, up to `limit` submissions matching `where` that no other replica holds
   * (or whose replica's lease lapsed), leaving out those in hand here: row locks taken with SKIP
   * LOCKED, so two replicas claiming at once get different rows. The claims on what is in flight
   * here are renewed, so a long transaction keeps its submissions.
   */
  async #claim(where: ReturnType<typeof sql>, limit: number, inHand: InHand): Promise<Job[]> {
    const lease = sql`now() + ${this.#leaseMs} * interval '1 millisecond'`;
    if (inHand.busy.length > 0) {
      await sql`update submissions set claimed_until = ${lease}
        where id in (${sql.join(inHand.busy)}) and claimed_by = ${this.replica}`.execute(this.#db);
    }
    const skipped = [...inHand.busy, ...inHand.waiting];
    const notInHand = skipped.length > 0 ? sql`and id not in (${sql.join(skipped)})` : sql``;
    const { rows } = await sql<Job & { seq: string | number }>`
      update submissions
      set claimed_by = ${this.replica}, claimed_until = ${lease}
      where id in (
        select id from submissions
        where ${where} ${notInHand}
          and (claimed_until is null or claimed_until < now() or claimed_by = ${this.replica})
        order by seq
        limit ${limit}
        for update skip locked)
      returning id, user_id, state, bytes, issue_request, receive_txs, issue_txs, seq`.execute(this.#db);
    return rows.sort((a, b) => Number(a.seq) - Number(b.seq));
  }

  /** Gives claims back (work this replica will not do now). */
  async #release(jobs: readonly Job[]): Promise<void> {
    if (jobs.length === 0) return;
    await sql`update submissions set claimed_by = null, claimed_until = null
      where id in (${sql.join(jobs.map((s) => s.id))}) and claimed_by = ${this.replica}`.execute(this.#db);
  }

  /**
   * The stored envelopes of these submissions, in this order; null for one whose receive was
   * committed since it was scheduled (its envelope is dropped then: the ledger has it).
   */
  async #envelopes(ids: readonly string[]): Promise<(Uint8Array | null)[]> {
    const rows = await this.#db
      .selectFrom('submissions')
      .select(['id', 'envelope'])
      .where('id', 'in', ids)
      .execute();
    const envelopes = new Map(rows.map((r) => [r.id, r.envelope]));
    return ids.map((id) => envelopes.get(id) ?? null);
  }

  async #receive(scheduled: Job[]): Promise<void> {
    const stored = await this.#envelopes(scheduled.map((s) => s.id));
    // Committed meanwhile (e.g. by a server that stopped as this one started): nothing to send.
    const chunk = scheduled.filter((_, i) => stored[i] !== null);
    if (chunk.length === 0) return;
    const ids = chunk.map((s) => s.id);
    const envelopes = stored.filter((e): e is Uint8Array => e !== null);
    const prepared = await this.#contract.prepare('receive', receiveProposal(envelopes));
    await this.#db
      .updateTable('submissions')
      .set({ receive_txs: sql`array_append(receive_txs, ${prepared.txId})`, updated_at: new Date() })
      .where('id', 'in', ids)
      .execute();
    try {
      const { committed } = await prepared.submit();
      await this.#markReceived(ids, committed);
      this.stats.received += ids.length;
      this.wake('issue'); // the issuer has new work
    } catch (error) {
      const code = refusal(error);
      if (code === undefined) throw error;
      // One bad envelope refuses the whole transaction. The contract names it ("envelopes[i]: …"):
      // settle that one and send the rest together again; halve the chunk if it named none.
      const at = chunk.length === 1 ? 0 : refusedEnvelope(error, chunk.length);
      if (at === undefined) {
        const half = Math.ceil(chunk.length / 2);
        await this.#receive(chunk.slice(0, half));
        await this.#receive(chunk.slice(half));
        return;
      }
      const s = chunk[at] as Job;
      const before = code === 'REPLAY' ? await this.#committed(s.receive_txs) : undefined;
      if (before) await this.#markReceived([s.id], before);
      else await this.#reject(s, (error as Error).message.replace(/envelopes\[\d+\]: /, ''));
      const rest = chunk.filter((_, i) => i !== at);
      if (rest.length > 0) await this.#receive(rest);
    }
  }

  /** Submissions with an issue request and no result: accepted (received with it) or received. */
  async #nextIssues(count: number, inHand: InHand): Promise<Job[][]> {
    const ready = await this.#claim(
      sql`state in ('accepted', 'received') and issue_request is not null and result_id is null and error is null`,
      count,
      inHand,
    );
    return ready.map((s) => [s]);
  }

  /** issue, carrying the envelope when the submission is not received yet. */
  async #issue(s: Job): Promise<void> {
    const stored = s.state === 'accepted' ? await this.#envelopes([s.id]) : undefined;
    // Received since it was scheduled: its envelope is on the ledger; the next round issues it.
    if (stored && stored[0] === null) return;
    const carried = stored as Uint8Array[] | undefined;
    const prepared = await this.#contract.prepare(
      'issue',
      issueProposal(s.issue_request as Uint8Array, carried),
    );
    await this.#db
      .updateTable('submissions')
      .set({ issue_txs: sql`array_append(issue_txs, ${prepared.txId})`, updated_at: new Date() })
      .where('id', '=', s.id)
      .execute();
    try {
      const { committed } = await prepared.submit();
      await this.#storeResult(s, committed.txId, committed.blockNumber);
      if (carried) this.stats.received++;
    } catch (error) {
      const code = refusal(error);
      if (code === undefined) throw error;
      const before = code === 'REPLAY' ? await this.#committed([...s.issue_txs, prepared.txId]) : undefined;
      if (before) await this.#storeResult(s, before.txId, before.blockNumber);
      else if (carried) {
        // The envelope or the request was refused: receive the envelope alone (it is rejected
        // there if it was at fault), and the request then goes on its own.
        await this.#receive([s]);
      } else {
        // Stored, but Z was refused (e.g. a stale issue request): the client may ask again.
        await this.#db
          .updateTable('submissions')
          .set({ error: (error as Error).message, updated_at: new Date() })
          .where('id', '=', s.id)
          .execute();
        this.stats.rejected++;
      }
    }
  }

  async #markReceived(ids: string[], committed: { txId: string; blockNumber: number }): Promise<void> {
    await this.#db
      .updateTable('submissions')
      .set({
        state: 'received',
        receive_tx: committed.txId,
        receive_block: committed.blockNumber,
        envelope: null, // the ledger holds its ciphertexts now
        updated_at: new Date(),
      })
      .where('id', 'in', ids)
      .where('state', '=', 'accepted')
      .execute();
  }

  async #reject(s: Job, message: string): Promise<void> {
    await this.#db
      .updateTable('submissions')
      .set({ state: 'rejected', error: message, updated_at: new Date() })
      .where('id', '=', s.id)
      .where('state', '=', 'accepted') // never what the ledger has already committed
      .execute();
    this.stats.rejected++;
    this.#log('submission rejected by the contract', { submission: s.id, reason: message });
  }

  /**
   * Records where a committed result is. Z stays on the ledger (ResultReader reads it there); it
   * is read once now into the cache, for the owner's fetch that follows the event.
   */
  async #storeResult(s: Job, txId: string, blockNumber: number): Promise<void> {
    await this.results.warm(txId, s.issue_request as Uint8Array);
    await this.#db.transaction().execute(async (tx) => {
      await tx
        .insertInto('results')
        .values({
          id: txId,
          user_id: s.user_id,
          submission_id: s.id,
          tx_id: txId,
          block_number: blockNumber,
        })
        .onConflict((c) => c.column('id').doNothing())
        .execute();
      await tx
        .updateTable('submissions')
        // Committed: the ledger holds the ciphertexts now, the envelope is no longer needed here.
        .set({ state: 'issued', result_id: txId, error: null, envelope: null, updated_at: new Date() })
        .where('id', '=', s.id)
        .execute();
      // Received by this same issue: the transaction that received it is the one that issued.
      await tx
        .updateTable('submissions')
        .set({ receive_tx: txId, receive_block: blockNumber })
        .where('id', '=', s.id)
        .where('receive_tx', 'is', null)
        .execute();
    });
    this.stats.issued++;
    const ready = { userId: s.user_id, resultId: txId, submissionId: s.id };
    this.events.emit('result', ready);
    // The other replicas' clients hear of it too (best effort: they also poll).
    if (this.#notify) {
      const payload = JSON.stringify({ replica: this.replica, ...ready });
      await sql`select pg_notify(${RESULTS_CHANNEL}, ${payload})`.execute(this.#db).catch(() => undefined);
    }
  }
}

/**
 * The contract's refusal code, or undefined when the failure is the ledger's (retry). A refusal
 * is final, except REPLAY, which may mean an earlier send committed (the caller checks).
 */
/** The index of the envelope a refused receive names, if it names one within the chunk. */
function refusedEnvelope(error: unknown, count: number): number | undefined {
  const match = /envelopes\[(\d+)\]/.exec((error as Error).message);
  const at = match ? Number(match[1]) : Number.NaN;
  return Number.isInteger(at) && at < count ? at : undefined;
}

function refusal(error: unknown): ContractErrorCode | undefined {
  if (!(error instanceof LedgerError) || error.code !== 'ENDORSEMENT') return undefined;
  return contractErrorCode(error.message) ?? 'BAD_REQUEST';
}
