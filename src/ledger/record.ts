/**
 * On-disk record of one block: a fixed little-endian frame [u32 magic][u32 length][u32 crc32]
 * followed by the body, the canonical CBOR (RFC 8949 §4.2.1) of the block. The CRC finds torn
 * writes and accidental damage; the SHA-256 hash chain (dataHash, previousHash) finds tampering
 * by anyone who also fixes the CRC.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { decode, encode, rfc8949EncodeOptions } from 'cborg';
import { LedgerError } from './errors.ts';

/** "PBLK" read as a little-endian u32: also a readable marker in a hex dump. */
export const MAGIC = 0x4b4c4250;
export const FRAME_BYTES = 12;
export const HASH_BYTES = 32;

export interface BlockMetadata {
  /** One validation code per transaction (Fabric's TRANSACTIONS_FILTER), 0..255. */
  validation: number[];
  /** Commit timestamp in ms since the epoch, taken by the caller from the block's transactions. */
  timestamp: number;
}

export interface BlockHeader {
  number: number;
  previousHash: Uint8Array;
  dataHash: Uint8Array;
}

export interface BlockBody extends BlockHeader {
  transactions: Uint8Array[];
  metadata: BlockMetadata;
}

export interface Frame {
  magic: number;
  length: number;
  crc: number;
}

export function canonical(value: unknown): Uint8Array {
  return encode(value, rfc8949EncodeOptions);
}

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

export function dataHashOf(transactions: Uint8Array[]): Uint8Array {
  return sha256(canonical(transactions));
}

export function blockHash(header: BlockHeader): Uint8Array {
  const { number, previousHash, dataHash } = header;
  return sha256(canonical({ number, previousHash, dataHash }));
}

export function checksum(bytes: Uint8Array): number {
  return crc32(bytes) >>> 0;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** Frame and body, ready to append. */
export function encodeRecord(block: BlockBody): Uint8Array {
  const body = canonical(block);
  const record = new Uint8Array(FRAME_BYTES + body.length);
  const view = new DataView(record.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, body.length, true);
  view.setUint32(8, checksum(body), true);
  record.set(body, FRAME_BYTES);
  return record;
}

/** The frame at `offset`, or null when fewer than FRAME_BYTES remain. */
export function readFrame(bytes: Uint8Array, offset: number): Frame | null {
  if (bytes.length - offset < FRAME_BYTES) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, FRAME_BYTES);
  return { magic: view.getUint32(0, true), length: view.getUint32(4, true), crc: view.getUint32(8, true) };
}

const DECODE_OPTIONS = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
} as const;

const BODY_KEYS = ['dataHash', 'metadata', 'number', 'previousHash', 'transactions'].join();
const METADATA_KEYS = ['timestamp', 'validation'].join();

function malformed(reason: string): LedgerError {
  return new LedgerError('CORRUPT', `malformed body: ${reason}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}

/** A plain copy, independent of the file buffer (cborg hands out Buffer views in Node). */
function bytesField(value: unknown, what: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw malformed(`${what} is not a byte string`);
  if (length !== undefined && value.length !== length) {
    throw malformed(`${what} has ${value.length} bytes, expected ${length}`);
  }
  return new Uint8Array(value);
}

/**
 * Decodes a body that passed its CRC. Only the exact shape we write is accepted, and it must
 * re-encode to the same bytes, so a block has a single byte representation.
 */
export function decodeBody(bytes: Uint8Array): BlockBody {
  let value: unknown;
  try {
    value = decode(bytes, DECODE_OPTIONS);
  } catch (cause) {
    throw new LedgerError('CORRUPT', `malformed body: ${(cause as Error).message}`, { cause });
  }
  if (!isRecord(value) || Object.keys(value).sort().join() !== BODY_KEYS) {
    throw malformed('not a map of number, previousHash, dataHash, transactions, metadata');
  }
  const { number, previousHash, dataHash, transactions, metadata } = value;
  if (!Number.isSafeInteger(number) || (number as number) < 0)
    throw malformed('number is not a block number');
  if (!Array.isArray(transactions)) throw malformed('transactions is not an array');
  if (!isRecord(metadata) || Object.keys(metadata).sort().join() !== METADATA_KEYS) {
    throw malformed('metadata is not a map of validation, timestamp');
  }
  const { validation, timestamp } = metadata;
  if (!Array.isArray(validation) || !validation.every(isValidationCode)) {
    throw malformed('metadata.validation is not a list of codes 0..255');
  }
  if (!isTimestamp(timestamp)) throw malformed('metadata.timestamp is not a non-negative integer');
  const block: BlockBody = {
    number: number as number,
    previousHash: bytesField(previousHash, 'previousHash', HASH_BYTES),
    dataHash: bytesField(dataHash, 'dataHash', HASH_BYTES),
    transactions: transactions.map((tx, i) => bytesField(tx, `transactions[${i}]`)),
    metadata: { validation: [...validation], timestamp },
  };
  if (!equalBytes(canonical(block), bytes)) throw malformed('not in canonical CBOR form');
  return block;
}

export function isValidationCode(code: unknown): code is number {
  return Number.isInteger(code) && (code as number) >= 0 && (code as number) <= 255;
}

export function isTimestamp(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
