/** Errors of the protocol layer: each names the field and what was wrong with it. */
export const PROTOCOL_ERROR_CODES = Object.freeze([
  'MALFORMED',
  'NOT_CANONICAL',
  'UNSUPPORTED_VERSION',
  'BAD_SIGNATURE',
  'UNKNOWN_TEMPLATE',
  'WRONG_TEMPLATE_VERSION',
  'STALE',
  'FUTURE',
  'REPLAY',
  'OVERSIZED',
  'BAD_FIELD',
  'OUT_OF_RANGE',
  'UNKNOWN_META_FUNCTION',
  'BAD_TEMPLATE',
  'LAYOUT',
  // A submission for another model or preset than its signer registered.
  'WRONG_TEMPLATE',
] as const);
export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number];

/** Whether a code (e.g. one that crossed a thread as a string) is one of the protocol's. */
export function isProtocolErrorCode(code: string): code is ProtocolErrorCode {
  return (PROTOCOL_ERROR_CODES as readonly string[]).includes(code);
}

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
