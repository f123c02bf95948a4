/**
 * One mapping from every refusal in the system to an HTTP status and a stable code, so a client
 * can tell "fix the request" (4xx) from "try again later" (503).
 */
import { CkksError } from '../ckks/errors.ts';
import { LedgerError } from '../ledger/errors.ts';
import { type ContractErrorCode, contractErrorCode } from '../protocol/contract.ts';
import { ProtocolError, type ProtocolErrorCode } from '../protocol/errors.ts';

export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly statusCode: number;
  readonly code: string;

  constructor(statusCode: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.statusCode = statusCode;
    this.code = code;
  }
}

const PROTOCOL_STATUS: Record<ProtocolErrorCode, number> = {
  MALFORMED: 400,
  NOT_CANONICAL: 400,
  UNSUPPORTED_VERSION: 400,
  BAD_SIGNATURE: 401,
  UNKNOWN_TEMPLATE: 409,
  WRONG_TEMPLATE_VERSION: 409,
  STALE: 401,
  FUTURE: 401,
  REPLAY: 409,
  OVERSIZED: 413,
  BAD_FIELD: 400,
  OUT_OF_RANGE: 422,
  UNKNOWN_META_FUNCTION: 400,
  BAD_TEMPLATE: 400,
  LAYOUT: 422,
  WRONG_TEMPLATE: 409,
};

const CONTRACT_STATUS: Record<ContractErrorCode, number> = {
  BAD_REQUEST: 400,
  BAD_SIGNATURE: 401,
  REPLAY: 409,
  STALE: 401,
  UNKNOWN_USER: 404,
  UNKNOWN_MODEL: 400,
  WRONG_TEMPLATE: 409,
  BAD_CIPHERTEXT: 422,
  OVERSIZED: 413,
  NOT_FOUND: 404,
  FORBIDDEN: 403,
  EVALUATION_FAILED: 422,
};

/** Any error → an HttpError (unknown errors become a 500 that says nothing of their content). */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof ProtocolError)
    return new HttpError(PROTOCOL_STATUS[error.code], error.code, error.message);
  if (error instanceof CkksError) return new HttpError(422, `CKKS_${error.code}`, error.message);
  if (error instanceof LedgerError) {
    if (error.code === 'ENDORSEMENT') {
      const code = contractErrorCode(error.message);
      return code
        ? new HttpError(CONTRACT_STATUS[code], code, error.message)
        : new HttpError(422, 'REFUSED', error.message);
    }
    if (error.code === 'NOT_FOUND') return new HttpError(404, 'NOT_FOUND', error.message);
    if (error.code === 'BAD_ARGUMENT') return new HttpError(413, 'OVERSIZED', error.message);
    return new HttpError(503, `LEDGER_${error.code}`, 'the ledger is unavailable; try again later');
  }
  const status = (error as { statusCode?: number }).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = (error as { code?: string }).code ?? 'BAD_REQUEST';
    return new HttpError(status, code, (error as Error).message);
  }
  return new HttpError(500, 'INTERNAL', 'internal error');
}
