/**
 * The peer's state database (LevelDB through classic-level): the current value and version of
 * every key, a transaction-id index, a history index, and the savepoint (the last block whose
 * writes are applied). A block's updates and its savepoint go in one atomic batch, so the state
 * always equals "blocks 0..savepoint applied" and recovery replays the blocks after it.
 *
 *   s!<key>                     { value, block, tx }   current value and its version
 *   h!<key>\0<block>!<tx>       { txId, timestamp, delete }   one entry per write (values from blocks)
 *   t!<txId>                    [block, tx]            where a transaction is (valid or not)
 *   m!savepoint                 block number
 *
 * Writes need not be fsynced: the blocks are, and a lost batch is replayed from them.
 */
import { decode, encode } from 'cborg';
import { ClassicLevel } from 'classic-level';
import { ioError, LedgerError } from './errors.ts';

/** A key's version: the block and transaction that last wrote it (Fabric's Height). */
export type Version = readonly [block: number, tx: number];

export interface VersionedValue {
  value: Uint8Array;
  version: Version;
}

export interface HistoryEntry {
  version: Version;
  txId: string;
  timestamp: number;
  isDelete: boolean;
}

/** What simulation reads: committed state only (Fabric's reads do not see own writes). */
export interface StateReader {
  get(key: string): Promise<VersionedValue | undefined>;
  /** Keys in [start, end) in byte order; end '' means no upper bound. */
  range(start: string, end: string): Promise<[string, VersionedValue][]>;
  history(key: string): Promise<HistoryEntry[]>;
}

export interface Write {
  key: string;
  /** null deletes the key. */
  value: Uint8Array | null;
}

export interface AppliedTransaction {
  txId: string;
  timestamp: number;
  /** Index in the block. */
  tx: number;
  valid: boolean;
  writes: readonly Write[];
}

const S = 's!';
const H = 'h!';
const T = 't!';
const SAVEPOINT = 'm!savepoint';
const pad = (n: number, width: number) => n.toString().padStart(width, '0');

export class WorldState implements StateReader {
  readonly #db: ClassicLevel<string, Uint8Array>;

  private constructor(db: ClassicLevel<string, Uint8Array>) {
    this.#db = db;
  }

  static async open(dir: string): Promise<WorldState> {
    const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (cause) {
      const detail = String((cause as { cause?: unknown }).cause ?? cause);
      if (/lock/i.test(detail)) {
        throw new LedgerError('LOCKED', `state database ${dir} is open in another process`, { cause });
      }
      throw ioError(`cannot open the state database ${dir}`, cause);
    }
    return new WorldState(db);
  }

  /** The last block whose writes are applied; -1 for an empty (or rebuilt) state. */
  async savepoint(): Promise<number> {
    const bytes = await this.#db.get(SAVEPOINT);
    return bytes === undefined ? -1 : (decode(bytes) as number);
  }

  async get(key: string): Promise<VersionedValue | undefined> {
    const bytes = await this.#db.get(S + key);
    return bytes === undefined ? undefined : decodeVersioned(bytes);
  }

  async range(start: string, end: string): Promise<[string, VersionedValue][]> {
    const out: [string, VersionedValue][] = [];
    const options = end === '' ? { gte: S + start, lt: 's"' } : { gte: S + start, lt: S + end };
    for await (const [key, bytes] of this.#db.iterator(options)) {
      out.push([key.slice(S.length), decodeVersioned(bytes)]);
    }
    return out;
  }

  async history(key: string): Promise<HistoryEntry[]> {
    const out: HistoryEntry[] = [];
    // Keys never hold \0 (the stub refuses them), so it ends a key unambiguously.
    const prefix = `${H}${key}\u0000`;
    for await (const [k, bytes] of this.#db.iterator({ gte: prefix, lt: `${H}${key}\u0001` })) {
      const [block, tx] = k.slice(prefix.length).split('!').map(Number) as [number, number];
      const { txId, timestamp, isDelete } = decode(bytes) as Omit<HistoryEntry, 'version'>;
      out.push({ version: [block, tx], txId, timestamp, isDelete });
    }
    return out;
  }

  /** Where a transaction id was committed, valid or not. */
  async locate(txId: string): Promise<Version | undefined> {
    const bytes = await this.#db.get(T + txId);
    return bytes === undefined ? undefined : (decode(bytes) as Version);
  }

  /** Applies one committed block's valid writes and moves the savepoint, atomically. */
  async apply(block: number, transactions: readonly AppliedTransaction[]): Promise<void> {
    const batch = this.#db.batch();
    for (const t of transactions) {
      batch.put(T + t.txId, encode([block, t.tx]));
      if (!t.valid) continue;
      for (const w of t.writes) {
        if (w.value === null) batch.del(S + w.key);
        else batch.put(S + w.key, encode({ value: w.value, block, tx: t.tx }));
        batch.put(
          `${H}${w.key}\u0000${pad(block, 12)}!${pad(t.tx, 6)}`,
          encode({ txId: t.txId, timestamp: t.timestamp, isDelete: w.value === null }),
        );
      }
    }
    batch.put(SAVEPOINT, encode(block));
    try {
      await batch.write();
    } catch (cause) {
      throw ioError(`cannot apply block ${block} to the state database`, cause);
    }
  }

  /** Every current key with its value and version, in key order (for verification). */
  async *entries(): AsyncGenerator<[string, VersionedValue]> {
    for await (const [key, bytes] of this.#db.iterator({ gte: S, lt: 's"' })) {
      yield [key.slice(S.length), decodeVersioned(bytes)];
    }
  }

  /** Empties the database (before a rebuild from the blocks). */
  async clear(): Promise<void> {
    await this.#db.clear();
  }

  async close(): Promise<void> {
    await this.#db.close();
  }
}

function decodeVersioned(bytes: Uint8Array): VersionedValue {
  const { value, block, tx } = decode(bytes) as { value: Uint8Array; block: number; tx: number };
  return { value, version: [block, tx] };
}
