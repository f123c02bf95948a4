/**
 * One mapping from every refusal in the system to an HTTP status and a stable code, so a client
 * can tell "fix the request" (4xx) from "try again later" (503).
 */
import { CKKS_ERROR_CODES, CkksError } from '../ckks/errors.ts';
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
  // Uploads for a model the user has not registered (yet): the client keeps them until they do.
  NOT_SUBSCRIBED: 409,
  UNKNOWN_MODEL: 400,
  WRONG_TEMPLATE: 409,
  BAD_CIPHERTEXT: 422,
  OVERSIZED: 413,
  NOT_FOUND: 404,
  FORBIDDEN: 403,
  EVALUATION_FAILED: 422,
  // No grant in force for this clinician, model or result (revoked, expired, never given).
  NO_GRANT: 403,
  // The account is closed (or closing): nothing but closing goes on.
  CLOSED: 410,
};

/** Codes the server itself gives, beside the protocol's and the contract's (mapped above). */
const SERVER_STATUS = {
  UNAUTHENTICATED: [401, 'no valid signed Authorization header for a known user (which one is not said)'],
  FORBIDDEN: [403, 'an envelope signed by another user than the one authenticated'],
  ENROLMENT_REQUIRED: [403, 'this server registers new users only with an enrolment code'],
  ENROLMENT_INVALID: [403, 'the enrolment code is unknown, expired or already used'],
  NOT_FOUND: [404, 'no such route, or no such submission/result of yours'],
  USER_EXISTS: [409, 'the user id is registered with another key'],
  ALREADY_REQUESTED: [409, 'the submission already has its issue request'],
  REJECTED: [409, 'the submission was refused by the contract'],
  REQUEST_TIMEOUT: [408, 'the request did not arrive within the time limit'],
  URI_TOO_LONG: [414, 'a path parameter is too long'],
  UNSUPPORTED_MEDIA_TYPE: [415, 'the body is not of the content type the route takes'],
  OVERSIZED: [413, 'a body, envelope or key set larger than allowed'],
  REFUSED: [422, 'the contract refused without one of its codes'],
  QUOTA_EXCEEDED: [429, "past one of the user's (or address's) quotas over 24 hours"],
  RATE_LIMITED: [429, 'more requests per minute than allowed (per address, then per user)'],
  HEADERS_TOO_LARGE: [431, 'the request headers are too large'],
  BAD_REQUEST: [400, 'a request the HTTP layer could not take'],
  BAD_HTTP: [400, 'not valid HTTP/1.1'],
  INTERNAL: [500, 'a fault of the server (never caused by what a client sends)'],
  BACKUP_EXISTS: [409, "operator: the backup's folder is not empty"],
  BACKUP_FAILED: [503, 'operator: pg_dump is missing or failed'],
  LEDGER_UNAVAILABLE: [503, 'the ledger cannot be reached now; retry later (also LEDGER_<code>)'],
  LEDGER_LAGGING: [503, 'a committed result the peer asked has not applied yet; retry in a moment'],
} as const satisfies Record<string, readonly [number, string]>;

const PROTOCOL_MEANING: Record<ProtocolErrorCode, string> = {
  MALFORMED: 'not CBOR, or not the expected structure',
  NOT_CANONICAL: 'CBOR that is not in canonical (deterministic) form',
  UNSUPPORTED_VERSION: 'a format version this server does not read',
  BAD_SIGNATURE: 'the Ed25519 signature does not verify',
  UNKNOWN_TEMPLATE: 'a template id the user did not register',
  WRONG_TEMPLATE_VERSION: "not the registered template's version",
  STALE: 'the signed timestamp is too old',
  FUTURE: 'the signed timestamp is too far ahead',
  REPLAY: 'the nonce was used before by this user (envelope or request)',
  OVERSIZED: 'an envelope or ciphertext larger than allowed',
  BAD_FIELD: 'a field of the wrong type or value (named in the message)',
  OUT_OF_RANGE: 'a value outside the model domain',
  UNKNOWN_META_FUNCTION: 'a template names an unknown meta-function',
  BAD_TEMPLATE: 'a template that does not validate',
  LAYOUT: 'ciphertexts that do not fit the plan: count, level or exact input scale',
  WRONG_TEMPLATE: 'made for another model or preset than the user registered',
};

/**
 * Every error code a client can receive, with its HTTP status and meaning: the server's own, the
 * protocol's, the contract's (relayed from the ledger), and CKKS_<code> for a ciphertext or key
 * refused at the door (422). Published in the OpenAPI document and docs/protocol.md.
 */
export function errorCatalogue(): { code: string; status: number; meaning: string }[] {
  const rows = new Map<string, { code: string; status: number; meaning: string }>();
  for (const [code, [status, meaning]] of Object.entries(SERVER_STATUS))
    rows.set(code, { code, status, meaning });
  for (const [code, status] of Object.entries(PROTOCOL_STATUS) as [ProtocolErrorCode, number][]) {
    if (!rows.has(code)) rows.set(code, { code, status, meaning: PROTOCOL_MEANING[code] });
  }
  for (const [code, status] of Object.entries(CONTRACT_STATUS)) {
    if (!rows.has(code)) rows.set(code, { code, status, meaning: 'the contract refused (see its message)' });
  }
  for (const code of CKKS_ERROR_CODES) {
    rows.set(`CKKS_${code}`, {
      code: `CKKS_${code}`,
      status: 422,
      meaning: `a ciphertext or key refused at the door: ${code}`,
    });
  }
  return [...rows.values()].sort((a, b) => a.status - b.status || a.code.localeCompare(b.code));
}

/** Fastify's own 4xx codes (FST_ERR_…), by status, as ours. */
const FRAMEWORK_CODES: Record<number, string> = {
  413: 'OVERSIZED',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
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
    const given = (error as { code?: string }).code;
    const code = given && !given.startsWith('FST_') ? given : (FRAMEWORK_CODES[status] ?? 'BAD_REQUEST');
    return new HttpError(status, code, (error as Error).message);
  }
  return new HttpError(500, 'INTERNAL', 'internal error');
}
