/**
 * Why the contract refused a transaction. Fabric carries only a message from the contract to the
 * client, so the code leads the message ("REPLAY: nonce: ...") and `contractErrorCode` reads it
 * back on the other side (server, client).
 */
export type ContractErrorCode =
  | 'BAD_REQUEST' // malformed arguments, transient data or request fields
  | 'BAD_SIGNATURE'
  | 'REPLAY'
  | 'STALE'
  | 'UNKNOWN_USER'
  | 'UNKNOWN_MODEL'
  | 'WRONG_TEMPLATE'
  | 'BAD_CIPHERTEXT' // a ciphertext or key that does not load, or not for this preset/plan
  | 'OVERSIZED'
  | 'NOT_FOUND'
  | 'FORBIDDEN'
  | 'EVALUATION_FAILED'; // CKKS failed inside the transaction (the transaction fails alone)

export const CONTRACT_ERROR_CODES: readonly ContractErrorCode[] = Object.freeze([
  'BAD_REQUEST',
  'BAD_SIGNATURE',
  'REPLAY',
  'STALE',
  'UNKNOWN_USER',
  'UNKNOWN_MODEL',
  'WRONG_TEMPLATE',
  'BAD_CIPHERTEXT',
  'OVERSIZED',
  'NOT_FOUND',
  'FORBIDDEN',
  'EVALUATION_FAILED',
]);

export class ContractError extends Error {
  override readonly name = 'ContractError';
  readonly code: ContractErrorCode;

  constructor(code: ContractErrorCode, detail: string, options?: { cause?: unknown }) {
    super(`${code}: ${detail}`, options);
    this.code = code;
  }
}

/** The code at the start of a contract's error message, if it has one. */
export function contractErrorCode(message: string): ContractErrorCode | undefined {
  const code = /^([A-Z_]+): /.exec(message)?.[1];
  return CONTRACT_ERROR_CODES.find((c) => c === code);
}
