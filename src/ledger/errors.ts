/**
 * Errors of the embedded ledger. `code` tells callers what to do: CORRUPT (stop, the files were
 * altered: restore or investigate), TORN (an unfinished write at the tail; open() repairs it),
 * IO (the operating system failed), BAD_ARGUMENT (the caller's mistake).
 */
export type LedgerErrorCode = 'CORRUPT' | 'TORN' | 'IO' | 'BAD_ARGUMENT';

export class LedgerError extends Error {
  readonly code: LedgerErrorCode;

  constructor(code: LedgerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LedgerError';
    this.code = code;
  }
}

/** Wraps an operating-system failure, keeping the original as `cause`. */
export function ioError(what: string, cause: unknown): LedgerError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new LedgerError('IO', `${what}: ${detail}`, { cause });
}
