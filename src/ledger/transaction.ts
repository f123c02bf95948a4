/**
 * A transaction as the embedded peer orders and stores it: the proposal (minus its transient
 * data, which Fabric never writes to a block), the read-write set from simulation, the event,
 * and the contract's response. Canonical CBOR, so the same simulation gives the same bytes.
 */
import { decode } from 'cborg';
import { LedgerError } from './errors.ts';
import { canonical, sha256 } from './record.ts';
import type { Version, Write } from './world-state.ts';

export interface RangeRead {
  start: string;
  end: string;
  /** The keys the range returned, with their versions: a different answer at commit is a phantom. */
  results: [string, Version][];
}

export interface ReadWriteSet {
  /** Every key read, with the version read (null: absent), sorted by key. */
  reads: [string, Version | null][];
  ranges: RangeRead[];
  /** Sorted by key; the last write of a key wins. */
  writes: Write[];
}

export interface Response {
  /** 200 success; ≥ 400 error (Fabric's ERRORTHRESHOLD). */
  status: number;
  message: string;
  payload: Uint8Array;
}

export interface Creator {
  mspid: string;
  /** PEM certificate. */
  idBytes: Uint8Array;
}

export interface TxRecord {
  txId: string;
  channel: string;
  chaincode: string;
  creator: Creator;
  /** Proposal timestamp, ms since the epoch: the contract's only clock. */
  timestamp: number;
  function: string;
  args: string[];
  rwset: ReadWriteSet;
  event: { name: string; payload: Uint8Array } | null;
  response: Response;
}

export const TX_FORMAT = 1;

export function encodeTx(tx: TxRecord): Uint8Array {
  return canonical({ v: TX_FORMAT, ...tx });
}

export function decodeTx(bytes: Uint8Array): TxRecord {
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (error) {
    throw new LedgerError('CORRUPT', `transaction does not decode: ${(error as Error).message}`);
  }
  const tx = value as TxRecord & { v?: number };
  if (typeof tx !== 'object' || tx === null || tx.v !== TX_FORMAT || typeof tx.txId !== 'string') {
    throw new LedgerError('CORRUPT', 'transaction: not a PMHE transaction record');
  }
  const { v: _v, ...rest } = tx;
  return rest;
}

/** A transaction id as Fabric makes it: SHA-256 of a fresh nonce and the creator. */
export function makeTxId(nonce: Uint8Array, creator: Creator): string {
  const bytes = new Uint8Array(nonce.length + creator.idBytes.length);
  bytes.set(nonce);
  bytes.set(creator.idBytes, nonce.length);
  return Buffer.from(sha256(bytes)).toString('hex');
}
