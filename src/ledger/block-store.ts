/**
 * Append-only, hash-chained block files of the embedded peer, in the manner of Fabric's block
 * store: blocks-000000.dat, blocks-000001.dat, ... each a sequence of records (see record.ts).
 *
 * Durability: append() resolves only after the record (and, for a new file, the directory
 * entry) is fsynced, and appends are serialized, so a crash can leave at most one unfinished
 * record, at the end of the last file. open() cuts such a torn tail away; any other damage is
 * tampering or media failure and open() refuses the store, naming the block and offset.
 */
import { type FileHandle, mkdir, open as openFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ioError, LedgerError } from './errors.ts';
import {
  type BlockBody,
  type BlockMetadata,
  blockHash,
  checksum,
  dataHashOf,
  decodeBody,
  encodeRecord,
  equalBytes,
  FRAME_BYTES,
  HASH_BYTES,
  isTimestamp,
  isValidationCode,
  MAGIC,
  readFrame,
} from './record.ts';

export { LedgerError, type LedgerErrorCode } from './errors.ts';
export type { BlockHeader, BlockMetadata } from './record.ts';

export interface Block extends BlockBody {
  /** SHA-256 of the canonical header; the next block's previousHash. */
  hash: Uint8Array;
}

export interface BlockStoreOptions {
  /** A file is closed for appends once the next record would take it past this size. */
  maxFileSize?: number;
  /**
   * Blocks below this number are known to have been durable (e.g. the state database applied
   * them): damage to one of them is never a torn write, even at the tail, and is refused.
   */
  durableHeight?: number;
}

/** What open() cut away from the tail of the last file. */
export interface Recovery {
  file: string;
  offset: number;
  truncatedBytes: number;
  /** Number of the last intact block, -1 if none. */
  lastGoodBlock: number;
  reason: string;
}

export type VerifyResult =
  | { ok: true; height: number; lastHash: Uint8Array }
  | { ok: false; block: number; offset: number; file: string; reason: string };

export const DEFAULT_MAX_FILE_SIZE = 64 * 1024 * 1024;
const ZERO_HASH = new Uint8Array(HASH_BYTES);
const FILE_PATTERN = /^blocks-(\d{6})\.dat$/;

export function blockFileName(index: number): string {
  return `blocks-${String(index).padStart(6, '0')}.dat`;
}

interface Location {
  file: number;
  offset: number;
  /** Record length, frame included. */
  length: number;
}

interface Problem {
  block: number;
  file: number;
  offset: number;
  reason: string;
  /** An unfinished last write, safe to cut away (as opposed to damage before the tail). */
  torn: boolean;
  fileSize: number;
}

interface ScanResult {
  fileCount: number;
  index: Location[];
  lastHash: Uint8Array;
  /** Size of the last file up to the end of its last good record. */
  lastFileSize: number;
  problem: Problem | null;
}

/**
 * Reads every file (whole: files are at most maxFileSize plus one record) and checks each record's
 * frame, CRC, canonical body, number, previousHash and dataHash. Stops at the first problem.
 */
async function scan(dir: string): Promise<ScanResult> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (cause) {
    throw ioError(`cannot list ${dir}`, cause);
  }
  const numbers = names
    .map((name) => FILE_PATTERN.exec(name)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  const index: Location[] = [];
  let lastHash: Uint8Array = ZERO_HASH;
  let lastFileSize = 0;
  for (const [i, fileNumber] of numbers.entries()) {
    const isLast = i === numbers.length - 1;
    const problem = (offset: number, reason: string, torn: boolean, fileSize: number): ScanResult => ({
      fileCount: numbers.length,
      index,
      lastHash,
      lastFileSize,
      problem: { block: index.length, file: fileNumber, offset, reason, torn, fileSize },
    });
    if (fileNumber !== i) return problem(0, `file ${blockFileName(i)} is missing`, false, 0);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(join(dir, blockFileName(i)));
    } catch (cause) {
      throw ioError(`cannot read ${join(dir, blockFileName(i))}`, cause);
    }
    if (bytes.length === 0 && !isLast) return problem(0, 'empty file before the last one', false, 0);
    let offset = 0;
    lastFileSize = 0;
    while (offset < bytes.length) {
      const expected = index.length;
      const frameProblem = checkFrame(bytes, offset);
      if (frameProblem !== null) {
        // Only the last record of the last file can be unfinished; if the record is in fact
        // whole, or an intact record follows it, something rewrote the bytes.
        const torn = isLast && !tamperEvidence(bytes, offset);
        return problem(offset, frameProblem, torn, bytes.length);
      }
      const length = (readFrame(bytes, offset)?.length ?? 0) + FRAME_BYTES;
      let block: BlockBody;
      try {
        block = decodeBody(bytes.subarray(offset + FRAME_BYTES, offset + length));
      } catch (error) {
        if (!(error instanceof LedgerError)) throw error;
        return problem(offset, error.message, false, bytes.length);
      }
      const reason = checkChain(block, expected, lastHash);
      if (reason !== null) return problem(offset, reason, false, bytes.length);
      index.push({ file: i, offset, length });
      lastHash = blockHash(block);
      offset += length;
      lastFileSize = offset;
    }
  }
  return { fileCount: numbers.length, index, lastHash, lastFileSize, problem: null };
}

/** Why the record at `offset` is not whole and intact, or null if it is. */
function checkFrame(bytes: Uint8Array, offset: number): string | null {
  const frame = readFrame(bytes, offset);
  if (frame === null) return `short frame (${bytes.length - offset} of ${FRAME_BYTES} bytes)`;
  if (frame.magic !== MAGIC) return `bad magic 0x${frame.magic.toString(16).padStart(8, '0')}`;
  const available = bytes.length - offset - FRAME_BYTES;
  if (frame.length > available) return `short body (${available} of ${frame.length} bytes)`;
  const body = bytes.subarray(offset + FRAME_BYTES, offset + FRAME_BYTES + frame.length);
  if (checksum(body) !== frame.crc) return 'CRC mismatch';
  return null;
}

/** True when bytes after a bad frame show it was altered rather than left unfinished. */
function tamperEvidence(bytes: Uint8Array, offset: number): boolean {
  const frame = readFrame(bytes, offset);
  if (frame !== null) {
    // The body is all there and matches the CRC: only the magic or the length was changed.
    const rest = bytes.subarray(offset + FRAME_BYTES);
    const declared = rest.subarray(0, frame.length);
    if (rest.length > 0 && checksum(rest) === frame.crc) return true;
    if (frame.length > 0 && declared.length === frame.length && checksum(declared) === frame.crc) return true;
  }
  // An intact record further on: the bad one was not the last write.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = offset + 1; at + FRAME_BYTES <= bytes.length; at++) {
    if (view.getUint32(at, true) === MAGIC && checkFrame(bytes, at) === null) return true;
  }
  return false;
}

function checkChain(block: BlockBody, expected: number, previousHash: Uint8Array): string | null {
  if (block.number !== expected) return `number is ${block.number}, expected ${expected}`;
  if (!equalBytes(block.previousHash, previousHash)) {
    return expected === 0
      ? 'previousHash is not 32 zero bytes'
      : `previousHash does not match block ${expected - 1}'s hash`;
  }
  if (!equalBytes(dataHashOf(block.transactions), block.dataHash)) return 'dataHash mismatch';
  const { validation } = block.metadata;
  if (validation.length !== block.transactions.length) {
    return `${validation.length} validation codes for ${block.transactions.length} transactions`;
  }
  return null;
}

function describe(dir: string, problem: Problem): string {
  const where = `${join(dir, blockFileName(problem.file))} at offset ${problem.offset}`;
  return `block ${problem.block}: ${problem.reason} (${where})`;
}

/** Checks a store's files (open or closed) without changing them. Names the first bad block. */
export async function verify(dir: string): Promise<VerifyResult> {
  const result = await scan(dir);
  const { problem } = result;
  if (problem === null) return { ok: true, height: result.index.length, lastHash: result.lastHash };
  // Whether open() may cut it away depends on the state database (verify.ts knows it, this does not).
  const tail = problem.torn
    ? ' (a torn write at the end of the last file: open() cuts it away if the state database has not applied this block, and refuses to open if it has)'
    : '';
  return {
    ok: false,
    block: problem.block,
    offset: problem.offset,
    file: blockFileName(problem.file),
    reason: `block ${problem.block}: ${problem.reason}${tail}`,
  };
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await openFile(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class BlockStore {
  readonly dir: string;
  /** Set when open() cut a torn tail away; null otherwise. */
  readonly recovered: Recovery | null;
  readonly #maxFileSize: number;
  readonly #index: Location[];
  #lastHash: Uint8Array;
  #fileCount: number;
  #fileSize: number;
  #writer: FileHandle | null = null;
  /** The chain of appends: each waits for the one before. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Set after a failed write: the tail is unknown until the store is reopened. */
  #failed: LedgerError | null = null;
  #closed = false;

  private constructor(dir: string, maxFileSize: number, scanned: ScanResult, recovered: Recovery | null) {
    this.dir = dir;
    this.#maxFileSize = maxFileSize;
    this.#index = scanned.index;
    this.#lastHash = scanned.lastHash;
    this.#fileCount = scanned.fileCount;
    this.#fileSize = scanned.lastFileSize;
    this.recovered = recovered;
  }

  static async open(dir: string, options: BlockStoreOptions = {}): Promise<BlockStore> {
    const maxFileSize = options.maxFileSize ?? DEFAULT_MAX_FILE_SIZE;
    if (!Number.isSafeInteger(maxFileSize) || maxFileSize < 1) {
      throw new LedgerError('BAD_ARGUMENT', `maxFileSize must be a positive integer, got ${maxFileSize}`);
    }
    try {
      await mkdir(dir, { recursive: true });
    } catch (cause) {
      throw ioError(`cannot create ${dir}`, cause);
    }
    const scanned = await scan(dir);
    let recovered: Recovery | null = null;
    const { problem } = scanned;
    if (problem !== null) {
      if (!problem.torn) throw new LedgerError('CORRUPT', `${describe(dir, problem)}; refusing to open`);
      if (problem.block < (options.durableHeight ?? 0)) {
        throw new LedgerError(
          'CORRUPT',
          `${describe(dir, problem)}; the block was committed before, so this is damage, not a torn write; refusing to open`,
        );
      }
      const path = join(dir, blockFileName(problem.file));
      try {
        const handle = await openFile(path, 'r+');
        try {
          await handle.truncate(problem.offset);
          await handle.sync();
        } finally {
          await handle.close();
        }
      } catch (cause) {
        throw ioError(`cannot truncate the torn tail of ${path}`, cause);
      }
      recovered = {
        file: blockFileName(problem.file),
        offset: problem.offset,
        truncatedBytes: problem.fileSize - problem.offset,
        lastGoodBlock: scanned.index.length - 1,
        reason: problem.reason,
      };
    }
    return new BlockStore(dir, maxFileSize, scanned, recovered);
  }

  get height(): number {
    return this.#index.length;
  }

  /** Hash of the last block; 32 zero bytes for an empty store. */
  get lastHash(): Uint8Array {
    return new Uint8Array(this.#lastHash);
  }

  /** Appends the next block; resolves once it is durable on disk. */
  append(transactions: Uint8Array[], metadata: BlockMetadata): Promise<{ number: number; hash: Uint8Array }> {
    const run = this.#queue.then(() => this.#append(transactions, metadata));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #append(
    transactions: Uint8Array[],
    metadata: BlockMetadata,
  ): Promise<{ number: number; hash: Uint8Array }> {
    this.#checkUsable();
    checkArguments(transactions, metadata);
    const header = {
      number: this.#index.length,
      previousHash: this.#lastHash,
      dataHash: dataHashOf(transactions),
    };
    const record = encodeRecord({
      ...header,
      transactions,
      metadata: { validation: [...metadata.validation], timestamp: metadata.timestamp },
    });
    try {
      if (
        this.#fileCount === 0 ||
        (this.#fileSize > 0 && this.#fileSize + record.length > this.#maxFileSize)
      ) {
        await this.#writer?.close();
        this.#writer = null;
        this.#fileCount += 1;
        this.#fileSize = 0;
      }
      const file = this.#fileCount - 1;
      // Opening the writer may create the file (a rollover, or a first block). Its directory
      // entry must be durable too, or the file can vanish after a crash: sync the directory
      // once per writer (also covers an empty file left by a crash before its first record).
      const created = this.#writer === null;
      this.#writer ??= await openFile(join(this.dir, blockFileName(file)), 'a');
      let written = 0;
      while (written < record.length) {
        const { bytesWritten } = await this.#writer.write(record, written, record.length - written);
        written += bytesWritten;
      }
      await this.#writer.sync();
      if (created) await syncDirectory(this.dir);
      this.#index.push({ file, offset: this.#fileSize, length: record.length });
      this.#fileSize += record.length;
    } catch (cause) {
      this.#failed = ioError(`append of block ${header.number} failed; reopen the store to recover`, cause);
      throw this.#failed;
    }
    this.#lastHash = blockHash(header);
    return { number: header.number, hash: new Uint8Array(this.#lastHash) };
  }

  async get(number: number): Promise<Block> {
    if (!Number.isSafeInteger(number) || number < 0 || number >= this.#index.length) {
      throw new LedgerError('BAD_ARGUMENT', `no block ${number}: height is ${this.#index.length}`);
    }
    const location = this.#index[number] as Location;
    const path = join(this.dir, blockFileName(location.file));
    const bytes = new Uint8Array(location.length);
    let bytesRead = 0;
    try {
      const handle = await openFile(path, 'r');
      try {
        ({ bytesRead } = await handle.read(bytes, 0, location.length, location.offset));
      } finally {
        await handle.close();
      }
    } catch (cause) {
      throw ioError(`cannot read block ${number} from ${path}`, cause);
    }
    const corrupt = (reason: string) =>
      new LedgerError('CORRUPT', `block ${number}: ${reason} (${path} at offset ${location.offset})`);
    // Files can be altered while the store is open: check again what the scan checked (except
    // the link to the previous block, which verify() covers).
    if (bytesRead < location.length) throw corrupt(`file ends ${location.length - bytesRead} bytes early`);
    const damage = checkFrame(bytes, 0);
    if (damage !== null) throw corrupt(damage);
    if (readFrame(bytes, 0)?.length !== location.length - FRAME_BYTES) throw corrupt('record length changed');
    let block: BlockBody;
    try {
      block = decodeBody(bytes.subarray(FRAME_BYTES));
    } catch (error) {
      throw error instanceof LedgerError ? corrupt(error.message) : error;
    }
    if (block.number !== number) throw corrupt(`number is ${block.number}, expected ${number}`);
    if (!equalBytes(dataHashOf(block.transactions), block.dataHash)) throw corrupt('dataHash mismatch');
    return { ...block, hash: blockHash(block) };
  }

  /** Blocks in order from `from`, including any appended while iterating. */
  async *blocks(from = 0): AsyncGenerator<Block> {
    if (!Number.isSafeInteger(from) || from < 0) {
      throw new LedgerError('BAD_ARGUMENT', `blocks(from): ${from} is not a block number`);
    }
    for (let n = from; n < this.#index.length; n++) yield await this.get(n);
  }

  /** Waits for pending appends, then releases the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue;
    try {
      await this.#writer?.close();
    } catch (cause) {
      throw ioError(`cannot close ${this.dir}`, cause);
    } finally {
      this.#writer = null;
    }
  }

  #checkUsable(): void {
    if (this.#closed) throw new LedgerError('BAD_ARGUMENT', `block store ${this.dir} is closed`);
    if (this.#failed !== null) throw this.#failed;
  }
}

function checkArguments(transactions: unknown, metadata: unknown): void {
  if (!Array.isArray(transactions) || !transactions.every((tx) => tx instanceof Uint8Array)) {
    throw new LedgerError('BAD_ARGUMENT', 'transactions must be an array of Uint8Array');
  }
  if (typeof metadata !== 'object' || metadata === null) {
    throw new LedgerError('BAD_ARGUMENT', 'metadata must be { validation, timestamp }');
  }
  const { validation, timestamp } = metadata as Partial<BlockMetadata>;
  if (!Array.isArray(validation) || !validation.every(isValidationCode)) {
    throw new LedgerError('BAD_ARGUMENT', 'metadata.validation must be an array of codes 0..255');
  }
  if (validation.length !== transactions.length) {
    throw new LedgerError(
      'BAD_ARGUMENT',
      `metadata.validation has ${validation.length} codes for ${transactions.length} transactions`,
    );
  }
  if (!isTimestamp(timestamp)) {
    throw new LedgerError(
      'BAD_ARGUMENT',
      `metadata.timestamp must be a non-negative integer (ms), got ${timestamp}`,
    );
  }
}
