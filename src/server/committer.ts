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

/** Contract refusals that a retry cannot fix. */
const TERMINAL: readonly ContractErrorCode[] = [
  'BAD_REQUEST',
  'BAD_SIGNATURE',
  'STALE',
  'UNKNOWN_USER',
  'UNKNOWN_MODEL',
  'WRONG_TEMPLATE',
  'BAD_CIPHERTEXT',
  'OVERSIZED',
  'NOT_FOUND',
  'FORBIDDEN',
  'EVALUATION_FAILED',
];

export class Committer {
  readonly events = new EventEmitter<{ result: [ResultReady]; idle: [] }>();
  readonly #db: Db;
  readonly #ledger: Ledger;
  readonly #concurrency: number;
  readonly #idleMs: number;
  readonly #log: NonNullable<CommitterOptions['log']>;
  #running: Promise<void> | null = null;
  #stopping = false;
  #wake: (() => void) | null = null;
  #backoffMs = 0;
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
    this.#running ??= this.#loop();
  }

  /** New work is waiting: stop idling. */
  wake(): void {
    this.#wake?.();
  }

  /** Finishes the step in progress (so what the ledger committed is recorded), then stops. */
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

  async #loop(): Promise<void> {
    await this.#recover();
    while (!this.#stopping) {
      let worked = false;
      try {
        worked = (await this.#receiveStep()) || worked;
        worked = (await this.#issueStep()) || worked;
        this.#backoffMs = 0;
      } catch (error) {
        // The ledger or database is unavailable: wait, longer each time, and try again.
        this.#backoffMs = Math.min(30_000, Math.max(this.#idleMs, this.#backoffMs * 2));
        this.stats.retries++;
        this.#log('ledger step failed; retrying', {
          error: (error as Error).message,
          delayMs: this.#backoffMs,
        });
      }
      if (!worked || this.#backoffMs > 0) {
        this.events.emit('idle');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.#backoffMs || this.#idleMs);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = null;
      }
    }
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
      if (committed) await this.#markReceived([s.id], committed.blockNumber);
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
      if (committed) await this.#storeResult(s, committed.txId, committed.blockNumber, committed.payload);
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

  async #receiveStep(): Promise<boolean> {
    const pending = await this.#db
      .selectFrom('submissions')
      .selectAll()
      .where('state', '=', 'accepted')
      .orderBy('seq')
      .limit(LIMITS.envelopesPerReceive * 4)
      .execute();
    if (pending.length === 0) return false;
    const chunks: Submission[][] = [];
    let chunk: Submission[] = [];
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
    await Promise.all(chunks.map((c) => this.#receive(c)));
    return true;
  }

  async #receive(chunk: Submission[]): Promise<void> {
    const ids = chunk.map((s) => s.id);
    const prepared = await this.#ledger.prepare('receive', receiveProposal(chunk.map((s) => s.envelope)));
    await this.#db
      .updateTable('submissions')
      .set({ receive_txs: sql`array_append(receive_txs, ${prepared.txId})`, updated_at: new Date() })
      .where('id', 'in', ids)
      .execute();
    try {
      const committed = await prepared.submit();
      await this.#markReceived(ids, committed.blockNumber);
      this.stats.received += ids.length;
    } catch (error) {
      const code = refusal(error);
      if (code === undefined) throw error;
      if (chunk.length > 1) {
        // One bad envelope refuses the whole transaction: find it by sending each alone.
        for (const s of chunk) await this.#receive([s]);
        return;
      }
      const [s] = chunk as [Submission];
      const before = code === 'REPLAY' ? await this.#committed(s.receive_txs) : undefined;
      if (before) await this.#markReceived(ids, before.blockNumber);
      else await this.#reject(s, (error as Error).message);
    }
  }

  async #issueStep(): Promise<boolean> {
    const ready = await this.#db
      .selectFrom('submissions')
      .selectAll()
      .where('state', '=', 'received')
      .where('issue_request', 'is not', null)
      .where('result_id', 'is', null)
      .where('error', 'is', null)
      .orderBy('seq')
      .limit(this.#concurrency)
      .execute();
    if (ready.length === 0) return false;
    await Promise.all(ready.map((s) => this.#issue(s)));
    return true;
  }

  async #issue(s: Submission): Promise<void> {
    const request = Buffer.from(s.issue_request as Uint8Array).toString('base64');
    const prepared = await this.#ledger.prepare('issue', { args: [request] });
    await this.#db
      .updateTable('submissions')
      .set({ issue_txs: sql`array_append(issue_txs, ${prepared.txId})`, updated_at: new Date() })
      .where('id', '=', s.id)
      .execute();
    try {
      const committed = await prepared.submit();
      await this.#storeResult(s, committed.txId, committed.blockNumber, committed.payload);
    } catch (error) {
      const code = refusal(error);
      if (code === undefined) throw error;
      const before = code === 'REPLAY' ? await this.#committed([...s.issue_txs, prepared.txId]) : undefined;
      if (before) await this.#storeResult(s, before.txId, before.blockNumber, before.payload);
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

  async #markReceived(ids: string[], blockNumber: number): Promise<void> {
    await this.#db
      .updateTable('submissions')
      .set({ state: 'received', receive_block: blockNumber, updated_at: new Date() })
      .where('id', 'in', ids)
      .where('state', '=', 'accepted')
      .execute();
  }

  async #reject(s: Submission, message: string): Promise<void> {
    await this.#db
      .updateTable('submissions')
      .set({ state: 'rejected', error: message, updated_at: new Date() })
      .where('id', '=', s.id)
      .execute();
    this.stats.rejected++;
    this.#log('submission rejected by the contract', { submission: s.id, reason: message });
  }

  async #storeResult(s: Submission, txId: string, blockNumber: number, payload: Uint8Array): Promise<void> {
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

/** The contract's refusal code, or undefined when the failure is the ledger's (retry). */
function refusal(error: unknown): ContractErrorCode | 'REPLAY' | undefined {
  if (!(error instanceof LedgerError) || error.code !== 'ENDORSEMENT') return undefined;
  const code = contractErrorCode(error.message);
  if (code === 'REPLAY') return code;
  return code && TERMINAL.includes(code) ? code : code === undefined ? 'BAD_REQUEST' : undefined;
}
