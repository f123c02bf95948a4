/**
 * Errors of the ledgers. `code` tells callers what to do: CORRUPT (stop, the files were
 * altered: restore or investigate), IO (the operating system failed), BAD_ARGUMENT (the
 * caller's mistake), ENDORSEMENT (the contract refused the transaction: `message` says why;
 * do not retry unchanged), MISMATCH (the endorsing organisations disagreed: another one refused
 * alone, or their responses differ, e.g. a peer not yet at the latest block; retrying may succeed), INVALID (ordered but invalidated at commit, e.g. an MVCC read
 * conflict: `validationCode` says which; retrying may succeed), NOT_FOUND (no such block or
 * transaction), UNAVAILABLE (the ledger is closed or unreachable: retry later), LOCKED (another
 * process has the ledger folder open).
 */
export type LedgerErrorCode =
  | 'CORRUPT'
  | 'IO'
  | 'BAD_ARGUMENT'
  | 'ENDORSEMENT'
  | 'MISMATCH'
  | 'INVALID'
  | 'NOT_FOUND'
  | 'UNAVAILABLE'
  | 'LOCKED';

export class LedgerError extends Error {
  readonly code: LedgerErrorCode;
  /** For INVALID: Fabric's TxValidationCode; for ENDORSEMENT: the transaction id, when known. */
  readonly validationCode: number | undefined;
  readonly txId: string | undefined;

  constructor(
    code: LedgerErrorCode,
    message: string,
    options?: { cause?: unknown; validationCode?: number; txId?: string },
  ) {
    super(message, options);
    this.name = 'LedgerError';
    this.code = code;
    this.validationCode = options?.validationCode;
    this.txId = options?.txId;
  }
}

/**
 * A failure worth retrying unchanged: the endorsers disagreed or one lags (MISMATCH), a peer,
 * chaincode or discovery was not there (UNAVAILABLE), an MVCC conflict (INVALID).
 */
export function isTransient(error: unknown): error is LedgerError {
  return error instanceof LedgerError && ['MISMATCH', 'UNAVAILABLE', 'INVALID'].includes(error.code);
}

/** Wraps an operating-system failure, keeping the original as `cause`. */
export function ioError(what: string, cause: unknown): LedgerError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new LedgerError('IO', `${what}: ${detail}`, { cause });
}
