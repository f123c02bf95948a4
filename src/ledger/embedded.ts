/**
 * The embedded peer: Fabric's transaction flow in one process.
 *
 *   simulate  the contract runs against committed state (simulator.ts), giving a read-write set
 *   order     transactions are cut into blocks by count, bytes or time (BatchSize/BatchTimeout)
 *   validate  a transaction whose reads (or range reads) changed since simulation, by an earlier
 *             block or an earlier transaction of the same block, is marked invalid (MVCC) and
 *             its writes are not applied
 *   commit    the block is appended to the hash-chained files with fsync, then the state
 *             database, the transaction index and the history index are updated with the
 *             savepoint in one batch
 *
 * Recovery on open: a torn last block is truncated (block-store.ts), blocks after the savepoint
 * are replayed, and a missing state database is rebuilt from the blocks.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { cp, mkdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { contracts as defaultContracts } from '../contract/index.ts';
import { type Block, BlockStore, type Recovery } from './block-store.ts';
import { DEFAULT_ENDORSERS, Endorser, type EndorserOptions, endorseAll } from './endorsers.ts';
import { ioError, LedgerError } from './errors.ts';
import { loadOrCreateCreator } from './identity.ts';
import {
  type BlockInfo,
  type ChaincodeEvent,
  type Committed,
  type EventOptions,
  type Ledger,
  type Prepared,
  type Proposal,
  type TransactionInfo,
  TX_MVCC_READ_CONFLICT,
  TX_PHANTOM_READ_CONFLICT,
  TX_VALID,
  VALIDATION_CODE_NAMES,
} from './ledger.ts';
import { SimulationPool } from './simulation-pool.ts';
import { type ContractClass, Simulator } from './simulator.ts';
import type { KeyModification, SimulationReader, StubInput } from './stub.ts';
import { type Creator, decodeTx, encodeTx, makeTxId, type TxRecord } from './transaction.ts';
import { compareState, type LedgerVerdict, type VerifyProgress, verifyChain } from './verify.ts';
import { type Version, type VersionedValue, WorldState } from './world-state.ts';

/** Fabric's TxValidationCode for a transaction id seen before. */
export const TX_DUPLICATE_TXID = 2;

export interface BatchOptions {
  /** Cut a block at this many transactions (Fabric's MaxMessageCount). */
  maxTransactions: number;
  /** Cut a block once it holds this many bytes; a larger transaction gets a block of its own. */
  preferredMaxBytes: number;
  /** Cut a block this long after its first transaction arrived (Fabric's BatchTimeout). */
  timeoutMs: number;
  /**
   * Group commit: when no block is being committed, cut at once instead of waiting out
   * `timeoutMs` (a lone transaction does not wait); while one is, transactions gather and are cut
   * when it ends (or by count, bytes or time). Off, blocks are cut by count, bytes and time only.
   */
  cutWhenIdle: boolean;
}

export interface EmbeddedLedgerOptions {
  channel?: string;
  chaincode?: string;
  mspid?: string;
  contracts?: readonly ContractClass[];
  batch?: Partial<BatchOptions>;
  /** A transaction larger than this is refused (Fabric's block AbsoluteMaxBytes: 10 MiB in the samples). */
  maxTransactionBytes?: number;
  /** Arguments plus transient data larger than this are refused (Fabric: ~48 MiB commit, see FABRIC-NOTES). */
  maxProposalBytes?: number;
  /** The proposal clock (tests pin it); Date.now by default. */
  now?: () => number;
  /** Transaction-id nonces (tests pin them to compare two ledgers); random by default. */
  txNonce?: () => Uint8Array;
  /** The submitting identity; by default a self-signed certificate kept in the ledger folder. */
  creator?: Creator;
  /**
   * Simulation threads per endorsing organisation: 0 simulates on the calling thread (every
   * organisation then shares one module instance and its caches). Workers load the contracts from
   * `contractsModule` (a module exporting `contracts`; FheContract's by default).
   */
  workers?: number;
  /**
   * The endorsing organisations (an AND policy: all must return identical responses); the first
   * is the gateway's own. Two by default, as on the smallest consortium Fabric network.
   */
  endorsers?: readonly EndorserOptions[];
  contractsModule?: string;
}

export interface OpenReport {
  truncated: Recovery | null;
  /** Blocks replayed into the state database on open. */
  replayed: number;
  /** True when the state database was rebuilt from block 0. */
  rebuilt: boolean;
}

export const DEFAULT_BATCH: Readonly<BatchOptions> = Object.freeze({
  maxTransactions: 64,
  preferredMaxBytes: 2 * 1024 * 1024,
  timeoutMs: 10,
  cutWhenIdle: true,
});
const DEFAULT_CONTRACTS = new URL('../contract/index.ts', import.meta.url).href;
export const DEFAULT_MAX_TRANSACTION_BYTES = 10 * 1024 * 1024;
export const DEFAULT_MAX_PROPOSAL_BYTES = 48 * 1024 * 1024;

interface Pending {
  tx: TxRecord;
  bytes: Uint8Array;
  resolve: (result: { blockNumber: number; code: number }) => void;
  reject: (error: unknown) => void;
}

export class EmbeddedLedger implements Ledger {
  readonly dir: string;
  readonly opened: OpenReport;
  readonly #store: BlockStore;
  readonly #state: WorldState;
  readonly #endorsers: Endorser[];
  /** When each block committed in this process was committed (lagging endorsers see it later). */
  readonly #commitTimes: number[] = [];
  readonly #openHeight: number;
  readonly #creator: Creator;
  readonly #channel: string;
  readonly #batch: BatchOptions;
  readonly #maxTransactionBytes: number;
  readonly #maxProposalBytes: number;
  readonly #now: () => number;
  readonly #txNonce: () => Uint8Array;
  readonly #emitter = new EventEmitter();
  #pending: Pending[] = [];
  #pendingBytes = 0;
  #timer: NodeJS.Timeout | null = null;
  #commits: Promise<void> = Promise.resolve();
  /** Blocks cut and not yet committed. */
  #committing = 0;
  #failed: LedgerError | null = null;
  #closed = false;

  private constructor(
    dir: string,
    parts: { store: BlockStore; state: WorldState; creator: Creator; opened: OpenReport },
    options: EmbeddedLedgerOptions,
  ) {
    this.dir = dir;
    this.#store = parts.store;
    this.#state = parts.state;
    this.#creator = parts.creator;
    this.opened = parts.opened;
    this.#channel = options.channel ?? 'pmhe';
    const chaincode = options.chaincode ?? 'pmhe';
    const workers = options.workers ?? 0;
    if (workers > 0 && options.contracts && !options.contractsModule) {
      throw new LedgerError(
        'BAD_ARGUMENT',
        'workers need contractsModule: a module worker threads can import',
      );
    }
    const simulator = workers > 0 ? null : new Simulator(options.contracts ?? defaultContracts, chaincode);
    const data = { contractsModule: options.contractsModule ?? DEFAULT_CONTRACTS, chaincode };
    this.#openHeight = parts.store.height;
    const endorsers = options.endorsers ?? DEFAULT_ENDORSERS;
    if (endorsers.length === 0) throw new LedgerError('BAD_ARGUMENT', 'endorsers: at least one organisation');
    this.#endorsers = endorsers.map((e) => {
      const reader = this.#readerFor(e.lagMs ?? 0);
      return new Endorser(
        e,
        reader,
        simulator ? { simulator } : { pool: () => new SimulationPool(workers, data, reader) },
      );
    });
    this.#batch = { ...DEFAULT_BATCH, ...options.batch };
    this.#maxTransactionBytes = options.maxTransactionBytes ?? DEFAULT_MAX_TRANSACTION_BYTES;
    this.#maxProposalBytes = options.maxProposalBytes ?? DEFAULT_MAX_PROPOSAL_BYTES;
    this.#now = options.now ?? Date.now;
    this.#txNonce = options.txNonce ?? (() => randomBytes(24));
    this.#emitter.setMaxListeners(0);
  }

  /** Opens (or creates) a ledger folder, repairing and catching up as needed. */
  static async open(dir: string, options: EmbeddedLedgerOptions = {}): Promise<EmbeddedLedger> {
    try {
      await mkdir(dir, { recursive: true });
    } catch (cause) {
      throw ioError(`cannot create ${dir}`, cause);
    }
    // The state database's lock keeps a second process out before the block files are touched.
    const state = await WorldState.open(join(dir, 'state'));
    try {
      // Blocks up to the savepoint were fsynced before the state applied them: never torn.
      const store = await BlockStore.open(join(dir, 'blocks'), {
        durableHeight: (await state.savepoint()) + 1,
      });
      const creator = options.creator ?? (await loadOrCreateCreator(dir, options.mspid));
      const opened = await catchUp(store, state);
      return new EmbeddedLedger(dir, { store, state, creator, opened }, options);
    } catch (error) {
      await state.close();
      throw error;
    }
  }

  async submit(name: string, proposal: Proposal = {}): Promise<Committed> {
    return (await this.prepare(name, proposal)).submit();
  }

  async prepare(name: string, proposal: Proposal = {}): Promise<Prepared> {
    this.#checkUsable();
    const txId = makeTxId(this.#txNonce(), this.#creator);
    let sent = false;
    return {
      txId,
      submit: () => {
        if (sent)
          return Promise.reject(new LedgerError('BAD_ARGUMENT', `transaction ${txId} was already submitted`));
        sent = true;
        return this.#submit(txId, name, proposal);
      },
    };
  }

  async #submit(txId: string, name: string, proposal: Proposal): Promise<Committed> {
    const tx = await this.#endorse(name, proposal, txId);
    const bytes = encodeTx(tx);
    if (bytes.length > this.#maxTransactionBytes) {
      throw new LedgerError(
        'BAD_ARGUMENT',
        `transaction ${name}: ${bytes.length} bytes, more than the ${this.#maxTransactionBytes} a block may hold (Fabric's AbsoluteMaxBytes); split it`,
        { txId: tx.txId },
      );
    }
    const { blockNumber, code } = await new Promise<{ blockNumber: number; code: number }>(
      (resolve, reject) => this.#order({ tx, bytes, resolve, reject }),
    );
    if (code !== TX_VALID) {
      throw new LedgerError(
        'INVALID',
        `transaction ${tx.txId} (${name}) was invalidated in block ${blockNumber}: ${VALIDATION_CODE_NAMES[code] ?? code}`,
        { validationCode: code, txId: tx.txId },
      );
    }
    return { txId: tx.txId, blockNumber, payload: tx.response.payload };
  }

  /** A query runs on the gateway's own organisation only, as Fabric's Evaluate does. */
  async evaluate(name: string, proposal: Proposal = {}): Promise<Uint8Array> {
    const input = this.#proposalInput(name, proposal, makeTxId(this.#txNonce(), this.#creator));
    const tx = await (this.#endorsers[0] as Endorser).simulate(input);
    if (tx.response.status >= 400) {
      throw new LedgerError('ENDORSEMENT', tx.response.message || `${name} failed`, { txId: tx.txId });
    }
    return tx.response.payload;
  }

  /** Restarts one organisation's chaincode (fresh threads and caches); 0 is the gateway's own. */
  async restartChaincode(organization: number): Promise<void> {
    const endorser = this.#endorsers[organization];
    if (!endorser) throw new LedgerError('BAD_ARGUMENT', `no organisation ${organization}`);
    await endorser.restart();
  }

  async *events(options: EventOptions = {}): AsyncGenerator<ChaincodeEvent> {
    let n = options.startBlock ?? this.#store.height;
    const signal = options.signal;
    while (!this.#closed && !signal?.aborted) {
      if (n >= this.#store.height) {
        try {
          await once(this.#emitter, 'change', signal ? { signal } : {});
        } catch {
          return; // aborted
        }
        continue;
      }
      const block = await this.#store.get(n);
      for (const [i, bytes] of block.transactions.entries()) {
        const tx = decodeTx(bytes);
        if (block.metadata.validation[i] !== TX_VALID || tx.event === null) continue;
        yield { txId: tx.txId, blockNumber: n, name: tx.event.name, payload: tx.event.payload };
      }
      n++;
    }
  }

  async getBlock(number: number): Promise<BlockInfo> {
    if (!Number.isSafeInteger(number) || number < 0 || number >= this.#store.height) {
      throw new LedgerError('NOT_FOUND', `no block ${number}: height is ${this.#store.height}`);
    }
    return blockInfo(await this.#store.get(number));
  }

  async getTransaction(txId: string): Promise<TransactionInfo> {
    const where = await this.#state.locate(txId);
    if (!where) throw new LedgerError('NOT_FOUND', `no transaction ${txId}`);
    const block = await this.#store.get(where[0]);
    const info = blockInfo(block).transactions[where[1]];
    if (!info) throw new LedgerError('CORRUPT', `transaction index points past block ${where[0]}`);
    return info;
  }

  /** The world state's keys in [start, end) ('' end: no bound), without values: for audits and tests. */
  async stateKeys(start = '', end = ''): Promise<string[]> {
    return (await this.#state.range(start, end)).map(([key]) => key);
  }

  async height(): Promise<number> {
    return this.#store.height;
  }

  /**
   * Copies the ledger's blocks and creator certificate to `dest` (a backup), between commits so
   * the copy ends at a whole block. The state database is not copied: opening the copy rebuilds
   * it from the blocks. Returns the height copied.
   */
  snapshot(dest: string): Promise<number> {
    this.#checkUsable();
    const run = this.#commits.then(async () => {
      await cp(this.dir, dest, {
        recursive: true,
        filter: (source) => relative(this.dir, source).split(sep)[0] !== 'state',
      });
      return this.#store.height;
    });
    this.#commits = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** verifyLedger on this open ledger: commits wait while it runs, so it sees one consistent state. */
  verify(progress?: VerifyProgress): Promise<LedgerVerdict> {
    this.#checkUsable();
    const run = this.#commits.then(async (): Promise<LedgerVerdict> => {
      return (await verifyChain(this.#store.dir)) ?? compareState(this.#store, this.#state, progress);
    });
    this.#commits = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** The raw block, for verification and tools. */
  block(number: number): Promise<Block> {
    return this.#store.get(number);
  }

  /** Orders what is pending, waits for every commit, then releases the files. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#cut();
    this.#closed = true;
    await this.#commits;
    await Promise.all(this.#endorsers.map((e) => e.close()));
    this.#emitter.emit('change');
    await this.#store.close();
    await this.#state.close();
  }

  async #endorse(name: string, proposal: Proposal, txId: string): Promise<TxRecord> {
    return endorseAll(this.#endorsers, this.#proposalInput(name, proposal, txId));
  }

  #proposalInput(name: string, proposal: Proposal, txId: string): StubInput {
    this.#checkUsable();
    if (typeof name !== 'string' || name.length === 0) {
      throw new LedgerError('BAD_ARGUMENT', 'transaction name must be a non-empty string');
    }
    const args = proposal.args ?? [];
    if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
      throw new LedgerError(
        'BAD_ARGUMENT',
        `${name}: arguments must be strings (Fabric delivers UTF-8 text)`,
      );
    }
    const transient = new Map<string, Uint8Array>();
    let size = args.reduce((n, a) => n + Buffer.byteLength(a), 0);
    for (const [key, value] of Object.entries(proposal.transient ?? {})) {
      if (!(value instanceof Uint8Array))
        throw new LedgerError('BAD_ARGUMENT', `${name}: transient ${key} must be bytes`);
      transient.set(key, value);
      size += value.length;
    }
    if (size > this.#maxProposalBytes) {
      throw new LedgerError(
        'BAD_ARGUMENT',
        `${name}: proposal of ${size} bytes, more than the ${this.#maxProposalBytes} allowed`,
      );
    }
    return {
      txId,
      channel: this.#channel,
      creator: this.#creator,
      timestamp: this.#now(),
      fn: name,
      args,
      transient,
    };
  }

  /** Committed state as a peer sees it that commits each block `lagMs` after this one. */
  #readerFor(lagMs: number): SimulationReader {
    const history = async (key: string): Promise<(KeyModification & { version: Version })[]> => {
      const out: (KeyModification & { version: Version })[] = [];
      for (const entry of await this.#state.history(key)) {
        const block = await this.#store.get(entry.version[0]);
        const tx = decodeTx(block.transactions[entry.version[1]] as Uint8Array);
        const write = tx.rwset.writes.find((w) => w.key === key);
        out.push({ ...entry, value: write?.value ?? new Uint8Array(0) });
      }
      return out;
    };
    if (lagMs <= 0) {
      return {
        get: (key) => this.#state.get(key),
        version: async (key) => (await this.#state.get(key))?.version,
        range: (start, end) => this.#state.range(start, end),
        history,
      };
    }
    const heightSeen = () => {
      const before = Date.now() - lagMs;
      let n = this.#commitTimes.length;
      while (n > 0 && (this.#commitTimes[n - 1] as number) > before) n--;
      return this.#openHeight + n;
    };
    const getAt = async (key: string, height: number): Promise<VersionedValue | undefined> => {
      const current = await this.#state.get(key);
      if (current && current.version[0] < height) return current;
      const seen = (await history(key)).filter((m) => m.version[0] < height).at(-1);
      return seen && !seen.isDelete ? { value: seen.value, version: seen.version } : undefined;
    };
    return {
      get: (key) => getAt(key, heightSeen()),
      version: async (key) => (await getAt(key, heightSeen()))?.version,
      // Keys deleted since the lagging height are missed: the contract never deletes (yet).
      range: async (start, end) => {
        const height = heightSeen();
        const out: [string, VersionedValue][] = [];
        for (const [key] of await this.#state.range(start, end)) {
          const value = await getAt(key, height);
          if (value) out.push([key, value]);
        }
        return out;
      },
      history: async (key) => {
        const height = heightSeen();
        return (await history(key)).filter((m) => m.version[0] < height);
      },
    };
  }

  #order(p: Pending): void {
    if (this.#closed) {
      p.reject(new LedgerError('UNAVAILABLE', 'the ledger is closed'));
      return;
    }
    if (this.#pending.length > 0 && this.#pendingBytes + p.bytes.length > this.#batch.preferredMaxBytes)
      this.#cut();
    this.#pending.push(p);
    this.#pendingBytes += p.bytes.length;
    if (
      this.#pending.length >= this.#batch.maxTransactions ||
      this.#pendingBytes >= this.#batch.preferredMaxBytes
    ) {
      this.#cut();
    } else if (this.#batch.cutWhenIdle && this.#committing === 0) {
      this.#cut();
    } else {
      this.#timer ??= setTimeout(() => this.#cut(), this.#batch.timeoutMs);
    }
  }

  #cut(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#committing++;
    this.#commits = this.#commits
      .then(() => this.#commit(batch))
      .finally(() => {
        // What gathered during this commit goes next, without waiting for its timer.
        if (--this.#committing === 0 && this.#batch.cutWhenIdle && !this.#closed) this.#cut();
      });
  }

  async #commit(batch: Pending[]): Promise<void> {
    try {
      this.#checkUsable();
      const number = this.#store.height;
      const codes = await validate(
        this.#state,
        number,
        batch.map((p) => p.tx),
      );
      const timestamp = Math.max(...batch.map((p) => p.tx.timestamp));
      await this.#store.append(
        batch.map((p) => p.bytes),
        { validation: codes, timestamp },
      );
      await this.#state.apply(
        number,
        applied(
          batch.map((p) => p.tx),
          codes,
        ),
      );
      this.#commitTimes.push(Date.now());
      for (const [i, p] of batch.entries()) p.resolve({ blockNumber: number, code: codes[i] as number });
      this.#emitter.emit('change');
    } catch (error) {
      // The tail is unknown after a failed append or apply: stop until reopened (recovery decides).
      this.#failed ??=
        error instanceof LedgerError && error.code !== 'BAD_ARGUMENT'
          ? error
          : new LedgerError('IO', `commit failed: ${(error as Error).message}`, { cause: error });
      for (const p of batch) p.reject(this.#failed);
    }
  }

  #checkUsable(): void {
    if (this.#closed) throw new LedgerError('UNAVAILABLE', 'the ledger is closed');
    if (this.#failed) throw this.#failed;
  }
}

/** MVCC validation of one block, in order, against committed state and the block's earlier writes. */
async function validate(state: WorldState, block: number, txs: readonly TxRecord[]): Promise<number[]> {
  const updates = new Map<string, Version | null>();
  const seen = new Set<string>();
  const versionOf = async (key: string) =>
    updates.has(key) ? (updates.get(key) ?? null) : ((await state.get(key))?.version ?? null);
  const codes: number[] = [];
  for (const [i, tx] of txs.entries()) {
    let code = TX_VALID;
    if (seen.has(tx.txId) || (await state.locate(tx.txId))) code = TX_DUPLICATE_TXID;
    for (const [key, version] of code === TX_VALID ? tx.rwset.reads : []) {
      if (!sameVersion(await versionOf(key), version)) {
        code = TX_MVCC_READ_CONFLICT;
        break;
      }
    }
    for (const range of code === TX_VALID ? tx.rwset.ranges : []) {
      const now = new Map(
        (await state.range(range.start, range.end)).map(([k, v]) => [k, v.version] as const),
      );
      for (const [key, version] of updates) {
        if (key >= range.start && (range.end === '' || key < range.end)) {
          if (version === null) now.delete(key);
          else now.set(key, version);
        }
      }
      const current = [...now].sort((a, b) => (a[0] < b[0] ? -1 : 1));
      const same =
        current.length === range.results.length &&
        current.every(
          ([k, v], j) => k === range.results[j]?.[0] && sameVersion(v, range.results[j]?.[1] ?? null),
        );
      if (!same) {
        code = TX_PHANTOM_READ_CONFLICT;
        break;
      }
    }
    seen.add(tx.txId);
    if (code === TX_VALID)
      for (const w of tx.rwset.writes) updates.set(w.key, w.value === null ? null : [block, i]);
    codes.push(code);
  }
  return codes;
}

const sameVersion = (a: Version | null, b: Version | null) =>
  a === null || b === null ? a === b : a[0] === b[0] && a[1] === b[1];

function applied(txs: readonly TxRecord[], codes: readonly number[]) {
  return txs.map((tx, i) => ({
    txId: tx.txId,
    timestamp: tx.timestamp,
    tx: i,
    valid: codes[i] === TX_VALID,
    writes: tx.rwset.writes,
  }));
}

/** Replays the blocks the state database has not seen (all of them when it was lost). */
async function catchUp(store: BlockStore, state: WorldState): Promise<OpenReport> {
  const savepoint = await state.savepoint();
  const rebuilt = savepoint < 0 && store.height > 0;
  if (savepoint >= store.height) {
    // Blocks are fsynced before the state applies them: committed blocks have gone missing.
    throw new LedgerError(
      'CORRUPT',
      `the state database has applied block ${savepoint}, but the block files end at block ${store.height - 1}: committed blocks were removed; restore them (deleting state/ rebuilds from the blocks that remain, losing the rest)`,
    );
  }
  let replayed = 0;
  for await (const block of store.blocks(savepoint + 1)) {
    const txs = block.transactions.map(decodeTx);
    await state.apply(block.number, applied(txs, block.metadata.validation));
    replayed++;
  }
  return { truncated: store.recovered, replayed, rebuilt };
}

export function blockInfo(block: Block): BlockInfo {
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  return {
    number: block.number,
    hash: hex(block.hash),
    previousHash: hex(block.previousHash),
    dataHash: hex(block.dataHash),
    transactions: block.transactions.map((bytes, i) => {
      const tx = decodeTx(bytes);
      return {
        txId: tx.txId,
        blockNumber: block.number,
        validationCode: block.metadata.validation[i] as number,
        function: tx.function,
        timestamp: tx.timestamp,
        payload: tx.response.payload,
      };
    }),
  };
}
