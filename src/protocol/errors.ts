/** Errors of the protocol layer: each names the field and what was wrong with it. */
export type ProtocolErrorCode =
  | 'MALFORMED'
  | 'NOT_CANONICAL'
  | 'UNSUPPORTED_VERSION'
  | 'BAD_SIGNATURE'
  | 'UNKNOWN_TEMPLATE'
  | 'WRONG_TEMPLATE_VERSION'
  | 'STALE'
  | 'FUTURE'
  | 'REPLAY'
  | 'OVERSIZED'
  | 'BAD_FIELD'
  | 'OUT_OF_RANGE'
  | 'UNKNOWN_META_FUNCTION'
  | 'BAD_TEMPLATE'
  | 'LAYOUT'
  /** A submission for another model or preset than its signer registered. */
  | 'WRONG_TEMPLATE';

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
