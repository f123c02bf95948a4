/**
 * The embedded peer's ChaincodeStub: what fabric-shim's stub offers a contract, over committed
 * state, recording a read-write set as Fabric's simulator does. Reads see committed state only,
 * never the transaction's own writes; the write set is sorted by key; a second setEvent replaces
 * the first. Anything the peer does not implement throws, naming the method.
 */
import type { ChaincodeStub, Iterators, SerializedIdentity, Timestamp } from 'fabric-shim-api';
import { LedgerError } from './errors.ts';
import type { Creator, RangeRead, ReadWriteSet } from './transaction.ts';
import type { Version, VersionedValue, Write } from './world-state.ts';

export interface KeyModification {
  txId: string;
  timestamp: number;
  isDelete: boolean;
  value: Uint8Array;
}

/** Committed state as simulation sees it. */
export interface SimulationReader {
  get(key: string): Promise<VersionedValue | undefined>;
  /** The version alone: no value is copied (to a worker thread) when only the read is recorded. */
  version(key: string): Promise<Version | undefined>;
  range(start: string, end: string): Promise<[string, VersionedValue][]>;
  history(key: string): Promise<KeyModification[]>;
}

export interface StubInput {
  txId: string;
  channel: string;
  creator: Creator;
  timestamp: number;
  fn: string;
  args: readonly string[];
  transient: ReadonlyMap<string, Uint8Array>;
}

/** Fabric's limit on a key (its state database refuses longer ones in CouchDB; LevelDB is lenient). */
const MAX_KEY_BYTES = 1024;
const utf8 = new TextEncoder();

const timestampOf = (ms: number): Timestamp =>
  ({
    // A Long as fabric-shim gives it, readable with toNumber() or Number().
    seconds: {
      low: Math.floor(ms / 1000),
      high: 0,
      toNumber: () => Math.floor(ms / 1000),
      valueOf: () => Math.floor(ms / 1000),
    },
    nanos: (ms % 1000) * 1e6,
  }) as unknown as Timestamp;

/** Makes a query result usable both as `await stub.getStateByRange(...)` and `for await`. */
function queryResult<T>(load: () => Promise<T[]>): Promise<Iterators.CommonIterator<T>> & AsyncIterable<T> {
  const items = load();
  const iterator = items.then((list): Iterators.CommonIterator<T> => {
    let i = 0;
    return {
      next: async () =>
        i < list.length ? { value: list[i++] as T, done: false } : { value: undefined as T, done: true },
      close: async () => {
        i = list.length;
      },
    };
  });
  return Object.assign(iterator, {
    async *[Symbol.asyncIterator]() {
      yield* await items;
    },
  });
}

export class SimulationStub {
  readonly #input: StubInput;
  readonly #reader: SimulationReader;
  readonly #reads = new Map<string, Version | null>();
  readonly #ranges: RangeRead[] = [];
  readonly #writes = new Map<string, Uint8Array | null>();
  #event: { name: string; payload: Uint8Array } | null = null;

  constructor(input: StubInput, reader: SimulationReader) {
    this.#input = input;
    this.#reader = reader;
  }

  /** What the contract sees: fabric-shim-api's ChaincodeStub, the methods it uses implemented. */
  asChaincodeStub(): ChaincodeStub {
    return new Proxy(this, {
      get: (target, name) => {
        const value = Reflect.get(target, name);
        if (typeof value === 'function') return value.bind(target);
        if (value !== undefined || typeof name === 'symbol') return value;
        return () => {
          throw new LedgerError('BAD_ARGUMENT', `stub.${name}() is not supported by the embedded peer`);
        };
      },
    }) as unknown as ChaincodeStub;
  }

  readWriteSet(): ReadWriteSet {
    const byKey = <T>(a: [string, T], b: [string, T]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
    return {
      reads: [...this.#reads].sort(byKey),
      ranges: this.#ranges,
      writes: [...this.#writes].sort(byKey).map(([key, value]): Write => ({ key, value })),
    };
  }

  get event(): { name: string; payload: Uint8Array } | null {
    return this.#event;
  }

  getArgs(): string[] {
    return [this.#input.fn, ...this.#input.args];
  }

  getStringArgs(): string[] {
    return this.getArgs();
  }

  getBufferArgs(): Buffer[] {
    return this.getArgs().map((a) => Buffer.from(a, 'utf8'));
  }

  getFunctionAndParameters(): { fcn: string; params: string[] } {
    return { fcn: this.#input.fn, params: [...this.#input.args] };
  }

  getTxID(): string {
    return this.#input.txId;
  }

  getChannelID(): string {
    return this.#input.channel;
  }

  getCreator(): SerializedIdentity {
    return { mspid: this.#input.creator.mspid, idBytes: this.#input.creator.idBytes };
  }

  getMspID(): string {
    return this.#input.creator.mspid;
  }

  /** Buffers, as fabric-shim delivers them (node-seal, for one, refuses a Buffer). */
  getTransient(): Map<string, Uint8Array> {
    return new Map([...this.#input.transient].map(([k, v]) => [k, asBuffer(v)]));
  }

  getTxTimestamp(): Timestamp {
    return timestampOf(this.#input.timestamp);
  }

  getDateTimestamp(): Date {
    return new Date(this.#input.timestamp);
  }

  async getState(key: string): Promise<Uint8Array> {
    checkKey(key);
    const found = await this.#reader.get(key);
    if (!this.#reads.has(key)) this.#reads.set(key, found ? found.version : null);
    return asBuffer(found ? found.value : new Uint8Array(0));
  }

  /**
   * Fabric's GetStateMetadata: with a read set being recorded, the peer reads the key and records
   * its version (core/ledger/kvledger/txmgmt/txmgr/query_executor.go). No key-level endorsement
   * policies here, so there is never one to return.
   */
  async getStateValidationParameter(key: string): Promise<Uint8Array | undefined> {
    checkKey(key);
    const version = await this.#reader.version(key);
    if (!this.#reads.has(key)) this.#reads.set(key, version ?? null);
    return undefined;
  }

  async putState(key: string, value: Uint8Array): Promise<void> {
    checkKey(key);
    if (!(value instanceof Uint8Array) || value.length === 0) {
      throw new LedgerError(
        'BAD_ARGUMENT',
        `putState(${JSON.stringify(key)}): value must be non-empty bytes`,
      );
    }
    this.#writes.set(key, new Uint8Array(value));
  }

  async deleteState(key: string): Promise<void> {
    checkKey(key);
    this.#writes.set(key, null);
  }

  getStateByRange(
    start: string,
    end: string,
  ): Promise<Iterators.StateQueryIterator> & AsyncIterable<Iterators.KV> {
    if (start !== '') checkKey(start);
    if (end !== '') checkKey(end);
    return queryResult(async () => {
      const found = await this.#reader.range(start, end);
      this.#ranges.push({ start, end, results: found.map(([key, v]) => [key, v.version]) });
      return found.map(([key, v]) => ({ namespace: '', key, value: asBuffer(v.value) }));
    });
  }

  getHistoryForKey(
    key: string,
  ): Promise<Iterators.HistoryQueryIterator> & AsyncIterable<Iterators.KeyModification> {
    checkKey(key);
    return queryResult(async () =>
      (await this.#reader.history(key)).map((m) => ({
        txId: m.txId,
        isDelete: m.isDelete,
        value: asBuffer(m.value),
        timestamp: timestampOf(m.timestamp),
      })),
    );
  }

  setEvent(name: string, payload: Uint8Array): void {
    if (typeof name !== 'string' || name.length === 0) {
      throw new LedgerError('BAD_ARGUMENT', 'setEvent: the event name must be a non-empty string');
    }
    this.#event = { name, payload: new Uint8Array(payload) };
  }
}

/** A Node Buffer over the same bytes: what fabric-shim gives a contract for every value. */
const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** Fabric refuses empty keys, invalid UTF-8, and simple keys starting with \0 (composite keys). */
function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) {
    throw new LedgerError('BAD_ARGUMENT', 'state key must be a non-empty string');
  }
  if (key.includes('\u0000')) {
    throw new LedgerError(
      'BAD_ARGUMENT',
      `state key ${JSON.stringify(key)} holds \\0 (composite keys are not supported)`,
    );
  }
  if (/\p{Cs}/u.test(key)) throw new LedgerError('BAD_ARGUMENT', 'state key is not valid UTF-8');
  if (utf8.encode(key).length > MAX_KEY_BYTES) {
    throw new LedgerError('BAD_ARGUMENT', `state key longer than ${MAX_KEY_BYTES} bytes`);
  }
}
