/**
 * Endorsement by several organisations, as Fabric's gateway does it under an AND(...) policy:
 * each organisation's peer runs the transaction on its own (its own worker threads, its own
 * module instances and caches, its own view of committed state) and the gateway accepts only
 * identical proposal responses: payload, read set with versions, range reads, write set, event.
 *
 *   - the gateway's own organisation refusing is the contract's answer (ENDORSEMENT, final);
 *   - another organisation refusing alone, or any difference, is MISMATCH: a peer behind the
 *     others, or a read set that depends on a cache; Fabric reports it as ABORTED, and a retry
 *     may succeed.
 */
import { LedgerError } from './errors.ts';
import type { SimulationPool } from './simulation-pool.ts';
import type { Simulator } from './simulator.ts';
import type { SimulationReader, StubInput } from './stub.ts';
import { encodeTx, type TxRecord } from './transaction.ts';

export interface EndorserOptions {
  /** The organisation's MSP id, for messages. */
  mspid: string;
  /**
   * This organisation's peer commits each block this long after the first one does (Fabric
   * peers were seen 1.7 s apart under load): until then it simulates on the older state.
   */
  lagMs?: number;
}

export const DEFAULT_ENDORSERS: readonly EndorserOptions[] = Object.freeze([
  { mspid: 'Org1MSP' },
  { mspid: 'Org2MSP' },
]);

/** One organisation's peer: simulates on its own threads (or on the caller's, shared). */
export class Endorser {
  readonly mspid: string;
  readonly lagMs: number;
  readonly #reader: SimulationReader;
  readonly #makePool: (() => SimulationPool) | null;
  readonly #simulator: Simulator | null;
  #pool: SimulationPool | null;

  constructor(
    options: EndorserOptions,
    reader: SimulationReader,
    run: { pool: () => SimulationPool } | { simulator: Simulator },
  ) {
    this.mspid = options.mspid;
    this.lagMs = options.lagMs ?? 0;
    this.#reader = reader;
    this.#makePool = 'pool' in run ? run.pool : null;
    this.#simulator = 'simulator' in run ? run.simulator : null;
    this.#pool = this.#makePool?.() ?? null;
  }

  simulate(input: StubInput): Promise<TxRecord> {
    if (this.#pool) return this.#pool.simulate(input);
    return (this.#simulator as Simulator).simulate(input, this.#reader);
  }

  /** Restarts this organisation's chaincode (fresh threads, cold caches), as an operator would. */
  async restart(): Promise<void> {
    if (!this.#makePool) {
      throw new LedgerError('BAD_ARGUMENT', 'restarting one organisation needs simulation workers');
    }
    const old = this.#pool;
    this.#pool = this.#makePool();
    await old?.close();
  }

  async close(): Promise<void> {
    await this.#pool?.close();
  }
}

/**
 * Runs a proposal on every endorser and returns the agreed transaction. The first endorser is
 * the gateway's own organisation.
 */
export async function endorseAll(endorsers: readonly Endorser[], input: StubInput): Promise<TxRecord> {
  const txs = await Promise.all(endorsers.map((e) => e.simulate(input)));
  const [own, ...others] = txs as [TxRecord, ...TxRecord[]];
  if (own.response.status >= 400) {
    throw new LedgerError('ENDORSEMENT', own.response.message || `${input.fn} failed`, { txId: input.txId });
  }
  const ownBytes = encodeTx(own);
  for (const [i, tx] of others.entries()) {
    const mspid = endorsers[i + 1]?.mspid ?? `endorser ${i + 1}`;
    if (tx.response.status >= 400) {
      throw new LedgerError(
        'MISMATCH',
        `${mspid} refused what ${endorsers[0]?.mspid} endorsed (its peer may not have committed the latest blocks yet): ${tx.response.message}`,
        { txId: input.txId },
      );
    }
    if (Buffer.compare(encodeTx(tx), ownBytes) !== 0) {
      throw new LedgerError(
        'MISMATCH',
        `ProposalResponsePayloads do not match: ${endorsers[0]?.mspid} and ${mspid} differ in ${difference(own, tx)}`,
        { txId: input.txId },
      );
    }
  }
  return own;
}

/** The first part of two simulations that differs, named as Fabric's validator would. */
export function difference(a: TxRecord, b: TxRecord): string {
  const keysOf = (tx: TxRecord) => new Map(tx.rwset.reads.map(([k, v]) => [k, JSON.stringify(v)]));
  const ra = keysOf(a);
  const rb = keysOf(b);
  for (const [key, version] of ra) {
    if (!rb.has(key)) return `the read set: extraneous read of key=${key}`;
    if (rb.get(key) !== version)
      return `the read set: key=${key} read at versions ${version} and ${rb.get(key)}`;
  }
  for (const key of rb.keys()) if (!ra.has(key)) return `the read set: missing read of key=${key}`;
  if (JSON.stringify(a.rwset.ranges) !== JSON.stringify(b.rwset.ranges)) return 'the range reads';
  const wa = a.rwset.writes.map((w) => w.key).join('\n');
  if (wa !== b.rwset.writes.map((w) => w.key).join('\n')) return 'the keys written';
  for (const [i, w] of a.rwset.writes.entries()) {
    const other = b.rwset.writes[i]?.value;
    if (w.value === null || other === null || other === undefined || Buffer.compare(w.value, other) !== 0)
      return `the value written to key=${w.key}`;
  }
  if (Buffer.compare(a.response.payload, b.response.payload) !== 0) return 'the response payload';
  return 'the event';
}
