/**
 * The one interface the server uses to reach a ledger, whichever runs it: the embedded peer
 * (embedded.ts) or a Hyperledger Fabric network (fabric/adapter.ts).
 *
 * Arguments follow Fabric's rules so that nothing the embedded peer accepts is refused by
 * Fabric: transaction arguments are strings (Fabric delivers them as UTF-8); binary data
 * travels in the transient map, which is never written to a block.
 */

/** Fabric's TxValidationCode values that the embedded peer produces. */
export const TX_VALID = 0;
export const TX_ENDORSEMENT_POLICY_FAILURE = 10;
export const TX_MVCC_READ_CONFLICT = 11;
export const TX_PHANTOM_READ_CONFLICT = 12;

export const VALIDATION_CODE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  [TX_VALID]: 'VALID',
  [TX_ENDORSEMENT_POLICY_FAILURE]: 'ENDORSEMENT_POLICY_FAILURE',
  [TX_MVCC_READ_CONFLICT]: 'MVCC_READ_CONFLICT',
  [TX_PHANTOM_READ_CONFLICT]: 'PHANTOM_READ_CONFLICT',
});

export interface Proposal {
  /** Transaction arguments, as strings. */
  args?: readonly string[];
  /** Private inputs (ciphertexts, keys): seen by the contract, never written to a block. */
  transient?: Readonly<Record<string, Uint8Array>>;
}

export interface Committed {
  txId: string;
  blockNumber: number;
  /** What the transaction function returned (UTF-8 JSON for FheContract). */
  payload: Uint8Array;
}

export interface ChaincodeEvent {
  txId: string;
  blockNumber: number;
  /** Event name set by the contract with setEvent. */
  name: string;
  payload: Uint8Array;
}

export interface EventOptions {
  /** First block to deliver events from; by default the next block to commit. */
  startBlock?: number;
  signal?: AbortSignal;
}

/** A transaction as stored in a block, in a form both implementations can give. */
export interface TransactionInfo {
  txId: string;
  blockNumber: number;
  /** Fabric TxValidationCode: 0 is VALID. */
  validationCode: number;
  /** Transaction function name, e.g. "receive". */
  function: string;
  timestamp: number;
  /** What the transaction function returned (kept in the block by both ledgers). */
  payload: Uint8Array;
}

/**
 * A transaction whose id is known before it is sent: a caller that records the id first can
 * find out after a crash whether it committed (getTransaction) instead of sending it twice.
 */
export interface Prepared {
  readonly txId: string;
  /** Endorses, orders and waits for the commit, as Ledger.submit. Call at most once. */
  submit(): Promise<Committed>;
}

export interface BlockInfo {
  number: number;
  /** Hex SHA-256 of the block header (embedded) or Fabric's header hash. */
  hash: string;
  previousHash: string;
  dataHash: string;
  transactions: TransactionInfo[];
}

export interface Ledger {
  /** Endorses, orders and waits for the commit; throws LedgerError unless the transaction is VALID. */
  submit(name: string, proposal?: Proposal): Promise<Committed>;
  /** Fixes the transaction id of a submit without sending anything yet. */
  prepare(name: string, proposal?: Proposal): Promise<Prepared>;
  /** Runs a query transaction against committed state; nothing is ordered or written. */
  evaluate(name: string, proposal?: Proposal): Promise<Uint8Array>;
  /** Chaincode events of committed, valid transactions, in block order. */
  events(options?: EventOptions): AsyncIterable<ChaincodeEvent>;
  getBlock(number: number): Promise<BlockInfo>;
  getTransaction(txId: string): Promise<TransactionInfo>;
  /** Current block height (number of committed blocks). */
  height(): Promise<number>;
  close(): Promise<void>;
}
