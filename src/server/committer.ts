/**
 * The outbox worker: hands accepted submissions to the ledger (receive, many envelopes per
 * transaction), then asks for Z (issue) where the user sent an issue request, and stores what
 * the contract returns. Retries until committed; never commits twice:
 *
 *  - every transaction id is recorded before the transaction is sent (Ledger.prepare), so after
 *    a crash the ledger is asked whether it committed instead of sending it again;
 *  - the contract refuses a replayed envelope or request (stored nonces), so even a duplicate
 *    that slipped through changes nothing.
 */
import { EventEmitter } from 'node:events';
import { sql } from 'kysely';
import { type ContractErrorCode, contractErrorCode } from '../contract/errors.ts';
import { LIMITS } from '../contract/fhe-contract.ts';
import { receiveProposal } from '../contract/proposals.ts';
import { LedgerError } from '../ledger/errors.ts';
import { type Ledger, TX_VALID } from '../ledger/ledger.ts';
import type { Db } from './db/database.ts';
import type { Submission } from './db/schema.ts';

/** What the committer schedules with: a row without its envelope (fetched only when sent). */
type Job = Pick<Submission, 'id' | 'user_id' | 'bytes' | 'issue_request' | 'receive_txs' | 'issue_txs'>;
const JOB_COLUMNS = ['id', 'user_id', 'bytes', 'issue_request', 'receive_txs', 'issue_txs'] as const;

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
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

/** Receive transactions in flight at once (each carries up to 64 envelopes). */
const RECEIVES_IN_FLIGHT = 2;

export class Committer {
  readonly events = new EventEmitter<{ result: [ResultReady]; idle: [] }>();
  readonly #db: Db;
  readonly #ledger: Ledger;
  readonly #concurrency: number;
  readonly #idleMs: number;
  readonly #log: NonNullable<CommitterOptions['log']>;
  #running: Promise<void> | null = null;
  #stopping = false;
  readonly #wakers: (() => void)[] = [];
  /** Counters for /metrics. */
  readonly stats = { received: 0, issued: 0, rejected: 0, retries: 0 };

  constructor(db: Db, ledger: Ledger, options: CommitterOptions = {}) {
    this.#db = db;
    this.#ledger = ledger;
    this.#concurrency = options.concurrency ?? 32;
    this.#idleMs = options.idleMs ?? 500;
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
          (n, busy) => this.#nextReceive(n, busy),
          (c) => this.#receive(c),
        ),
        this.#pump(
          'issue',
          this.#concurrency,
          (n, busy) => this.#nextIssues(n, busy),
          (s) => this.#issue(s[0] as Job),
        ),
      ]);
    })();
  }

  /** New work is waiting (or a transaction finished): look again now. */
  wake(): void {
    for (const w of this.#wakers.splice(0)) w();
  }

  /** Finishes the transactions in flight (so what the ledger committed is recorded), then stops. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.wake();
    await this.#running;
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
   * again whenever one finishes or new work is announced. Ledger failures back off and retry.
   */
  async #pump(
    name: string,
    limit: number,
    next: (count: number, busy: ReadonlySet<string>) => Promise<Job[][]>,
    run: (job: Job[]) => Promise<void>,
  ): Promise<void> {
    const busy = new Set<string>();
    const running = new Set<Promise<void>>();
    let failures = 0;
    let retryAt = 0;
    const failed = (what: string, error: unknown) => {
      failures++;
      const delayMs = Math.min(30_000, this.#idleMs * 2 ** (failures - 1));
      retryAt = Date.now() + delayMs;
      this.stats.retries++;
      this.#log(`${name}: ${what} failed; retrying`, { error: (error as Error).message, delayMs });
    };
    while (!this.#stopping) {
      let jobs: Job[][] = [];
      if (running.size < limit && Date.now() >= retryAt) {
        try {
          jobs = await next(limit - running.size, busy);
        } catch (error) {
          failed('reading the database', error);
        }
      }
      for (const job of jobs) {
        for (const s of job) busy.add(s.id);
        // On a ledger or database failure the rows stay as they are and are taken again later.
        const task: Promise<void> = run(job)
          .then(() => {
            failures = 0;
          })
          .catch((error: unknown) => failed('a transaction', error))
          .finally(() => {
            for (const s of job) busy.delete(s.id);
            running.delete(task);
            this.wake();
          });
        running.add(task);
      }
      if (jobs.length === 0 || running.size >= limit) {
        if (running.size === 0 && jobs.length === 0) this.events.emit('idle');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, retryAt - Date.now()) || this.#idleMs);
          this.#wakers.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    }
    await Promise.allSettled(running);
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
      .where('state', '=', 'received')
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

  /** Accepted submissions not in hand, cut into receive transactions that fit a block. */
  async #nextReceive(count: number, busy: ReadonlySet<string>): Promise<Job[][]> {
    const pending = (
      await this.#db
        .selectFrom('submissions')
        .select(JOB_COLUMNS)
        .where('state', '=', 'accepted')
        .orderBy('seq')
        .limit(LIMITS.envelopesPerReceive * count + busy.size)
        .execute()
    ).filter((s) => !busy.has(s.id));
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
    return chunks.slice(0, count);
  }

  async #receive(chunk: Job[]): Promise<void> {
    const ids = chunk.map((s) => s.id);
    const rows = await this.#db
      .selectFrom('submissions')
      .select(['id', 'envelope'])
      .where('id', 'in', ids)
      .execute();
    const envelopes = new Map(rows.map((r) => [r.id, r.envelope]));
    const prepared = await this.#ledger.prepare(
      'receive',
      receiveProposal(ids.map((id) => envelopes.get(id) as Uint8Array)),
    );
    await this.#db
      .updateTable('submissions')
      .set({ receive_txs: sql`array_append(receive_txs, ${prepared.txId})`, updated_at: new Date() })
      .where('id', 'in', ids)
      .execute();
    try {
      const committed = await prepared.submit();
      await this.#markReceived(ids, committed);
      this.stats.received += ids.length;
      this.wake(); // the issuer has new work
    } catch (error) {
      const code = refusal(error);
      if (code === undefined) throw error;
      if (chunk.length > 1) {
        // One bad envelope refuses the whole transaction: find it by sending each alone.
        for (const s of chunk) await this.#receive([s]);
        return;
      }
      const [s] = chunk as [Job];
      const before = code === 'REPLAY' ? await this.#committed(s.receive_txs) : undefined;
      if (before) await this.#markReceived(ids, before);
      else await this.#reject(s, (error as Error).message);
    }
  }

  async #nextIssues(count: number, busy: ReadonlySet<string>): Promise<Job[][]> {
    const ready = await this.#db
      .selectFrom('submissions')
      .select(JOB_COLUMNS)
      .where('state', '=', 'received')
      .where('issue_request', 'is not', null)
      .where('result_id', 'is', null)
      .where('error', 'is', null)
      .orderBy('seq')
      .limit(count + busy.size)
      .execute();
    return ready
      .filter((s) => !busy.has(s.id))
      .slice(0, count)
      .map((s) => [s]);
  }

  async #issue(s: Job): Promise<void> {
    const request = Buffer.from(s.issue_request as Uint8Array).toString('base64');
    const prepared = await this.#ledger.prepare('issue', { args: [request] });
    await this.#db
      .updateTable('submissions')
      .set({ issue_txs: sql`array_append(issue_txs, ${prepared.txId})`, updated_at: new Date() })
      .where('id', '=', s.id)
      .execute();
    try {
      const committed = await prepared.submit();
      await this.#storeResult(s, committed.txId, committed.blockNumber);
    } catch (error) {
      const code = refusal(error);
      if (code === undefined) throw error;
      const before = code === 'REPLAY' ? await this.#committed([...s.issue_txs, prepared.txId]) : undefined;
      if (before) await this.#storeResult(s, before.txId, before.blockNumber);
      else {
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
      .execute();
    this.stats.rejected++;
    this.#log('submission rejected by the contract', { submission: s.id, reason: message });
  }

  /** Reads Z with the user's own issue request (the contract opens that result to it) and stores it. */
  async #storeResult(s: Job, txId: string, blockNumber: number): Promise<void> {
    const request = Buffer.from(s.issue_request as Uint8Array).toString('base64');
    const payload = await this.#ledger.evaluate('result', { args: [request] });
    await this.#db.transaction().execute(async (tx) => {
      await tx
        .insertInto('results')
        .values({
          id: txId,
          user_id: s.user_id,
          submission_id: s.id,
          tx_id: txId,
          block_number: blockNumber,
          payload,
        })
        .onConflict((c) => c.column('id').doNothing())
        .execute();
      await tx
        .updateTable('submissions')
        .set({ state: 'issued', result_id: txId, error: null, updated_at: new Date() })
        .where('id', '=', s.id)
        .execute();
    });
    this.stats.issued++;
    this.events.emit('result', { userId: s.user_id, resultId: txId, submissionId: s.id });
  }
}

/**
 * The contract's refusal code, or undefined when the failure is the ledger's (retry). A refusal
 * is final, except REPLAY, which may mean an earlier send committed (the caller checks).
 */
function refusal(error: unknown): ContractErrorCode | undefined {
  if (!(error instanceof LedgerError) || error.code !== 'ENDORSEMENT') return undefined;
  return contractErrorCode(error.message) ?? 'BAD_REQUEST';
}
