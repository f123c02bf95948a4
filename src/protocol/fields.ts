/** Strict readers of decoded CBOR fields, shared by the signed formats (envelope.ts, request.ts). */
import type { CborMap, CborValue } from './canonical-cbor.ts';
import { ProtocolError } from './errors.ts';

export const FORMAT_VERSION = 1;
/** Longest id (userId, modelId, presetId, template.id) in UTF-16 code units. */
export const MAX_ID_LENGTH = 256;

/**
 * An id is part of the contract's state keys, percent-encoded (contract/state.ts), and Fabric
 * refuses keys over 1,024 bytes: with the longest prefix and suffix (`result/…/<64 hex>`) this
 * leaves room for 768 encoded characters (256 ASCII characters, or 64 four-byte emoji).
 */
export const MAX_ID_KEY_CHARS = 768;
/** Control characters (U+0000 among them, which PostgreSQL's text refuses) have no place in an id. */
const CONTROL = /\p{Cc}/u;

/** A lone surrogate has no UTF-8 form: it would be signed as U+FFFD, not as what the caller holds. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function checkId(value: unknown, path: string): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) {
    throw new ProtocolError(
      'BAD_FIELD',
      `${path}: expected text of 1 to ${MAX_ID_LENGTH} characters, got ${describe(value)}`,
    );
  }
  if (LONE_SURROGATE.test(value)) throw new ProtocolError('BAD_FIELD', `${path}: text has a lone surrogate`);
  if (CONTROL.test(value)) throw new ProtocolError('BAD_FIELD', `${path}: text has a control character`);
  if (encodeURIComponent(value).length > MAX_ID_KEY_CHARS) {
    throw new ProtocolError(
      'BAD_FIELD',
      `${path}: ${encodeURIComponent(value).length} characters once percent-encoded into a ledger key, more than ${MAX_ID_KEY_CHARS}`,
    );
  }
}

/** The version is read before anything else so that a newer format is named as such. */
export function checkVersion(map: CborMap, what: string, path: string): void {
  const v = map.get('v');
  if (v === undefined) throw new ProtocolError('BAD_FIELD', `${path}: missing`);
  if (v !== FORMAT_VERSION) {
    throw new ProtocolError(
      'UNSUPPORTED_VERSION',
      `${what}: format version ${describe(v)} is not supported (expected ${FORMAT_VERSION})`,
    );
  }
}

export function checkKeys(map: CborMap, keys: readonly string[], what: string, prefix: string): void {
  for (const key of map.keys()) {
    if (!keys.includes(key)) throw new ProtocolError('BAD_FIELD', `${what}: unknown field "${key}"`);
  }
  for (const key of keys) {
    if (!map.has(key)) throw new ProtocolError('BAD_FIELD', `${prefix}${key}: missing`);
  }
}

export function asMap(value: CborValue | undefined, path: string): CborMap {
  if (value instanceof Map) return value;
  throw new ProtocolError('BAD_FIELD', `${path}: expected a map, got ${describe(value)}`);
}

export function asBytes(value: CborValue | undefined, path: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  throw new ProtocolError('BAD_FIELD', `${path}: expected a byte string, got ${describe(value)}`);
}

export function asText(value: CborValue | undefined, path: string): string {
  if (typeof value === 'string') return value;
  throw new ProtocolError('BAD_FIELD', `${path}: expected text, got ${describe(value)}`);
}

export function asUint(value: CborValue | undefined, path: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  throw new ProtocolError('BAD_FIELD', `${path}: expected an unsigned integer, got ${describe(value)}`);
}

/** A short, safe description of a value for error messages (never dumps large payloads). */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number') return `${value}`;
  if (typeof value === 'string')
    return value.length > 40 ? `text of ${value.length} characters` : `"${value}"`;
  if (value instanceof Uint8Array) return `a byte string of ${value.length} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length} items`;
  if (value instanceof Map) return 'a map';
  return typeof value;
}
