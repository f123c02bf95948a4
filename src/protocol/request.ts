/**
 * Signed requests: how a user asks for something other than storing a tuple (setup, issue, add,
 * mult, and reading their own results). On Fabric the submitting identity is the server's, so the
 * contract decides who is asking from the user's Ed25519 signature, not from the transaction.
 *
 * Request (the signed bytes), a canonical CBOR map:
 *   "v" uint (1), "op" text, "userId" text, "nonce" bytes (16), "timestamp" uint (ms),
 *   "params" map of text → text | uint | bytes | array of text
 * Signed request: a canonical CBOR map { "v": 1, "signature": bytes (64), "request": bytes }.
 */
import { type CborMap, type CborValue, decodeStrict, encodeCanonical, equalBytes } from './canonical-cbor.ts';
import { checkTimestamp, NONCE_BYTES, type PublicKeyInput } from './envelope.ts';
import { ProtocolError } from './errors.ts';
import {
  asBytes,
  asMap,
  asText,
  asUint,
  checkId,
  checkKeys,
  checkVersion,
  describe,
  FORMAT_VERSION,
} from './fields.ts';
import { SIGNATURE_BYTES, sign, verify } from './identity.ts';

export const REQUEST_OPS = Object.freeze([
  'setup',
  // Ends the signer's subscription to params.modelId (its setup record is deleted).
  'unsubscribe',
  'issue',
  'add',
  'mult',
  'submissions',
  'results',
  'result',
  'history',
  // Authenticates one HTTP request to the server: params method, path, body (SHA-256 hex).
  'http',
  // Registers a clinician (their first and only setup): params publicKey, boxKey, name.
  'clinician',
  // A person's consent (docs/sharing.md): params clinicianId, boxKey, models, from, until.
  'grant',
  // Ends a grant: params clinicianId.
  'revoke',
  // Records a sealed item shared under a grant: params clinicianId, resultId, item (SHA-256 hex).
  'share',
  // Reads the consent records (grants and shares) the signer gave or received.
  'consent',
  // Closes the signer's account: their state entries are deleted, a few hundred per transaction.
  'close',
] as const);
export type RequestOp = (typeof REQUEST_OPS)[number];

export type ParamValue = string | number | Uint8Array | string[];
export type Params = Record<string, ParamValue>;

export interface Request {
  op: RequestOp;
  userId: string;
  nonce: Uint8Array;
  timestamp: number;
  params: Params;
}

/** A signed request is small: anything larger is not one. */
export const MAX_REQUEST_BYTES = 64 * 1024;

const REQUEST_KEYS = ['v', 'op', 'userId', 'nonce', 'timestamp', 'params'] as const;

export function encodeRequest(r: Request): Uint8Array {
  checkRequest(r);
  return encodeCanonical({
    v: FORMAT_VERSION,
    op: r.op,
    userId: r.userId,
    nonce: r.nonce,
    timestamp: r.timestamp,
    params: { ...r.params },
  });
}

export async function signRequest(r: Request, privateKey: CryptoKey): Promise<Uint8Array> {
  const request = encodeRequest(r);
  return encodeCanonical({ v: FORMAT_VERSION, signature: await sign(privateKey, request), request });
}

/** What a signed request claims, before its signature is checked: to find the key to check it with. */
export function peekRequest(bytes: Uint8Array): Request {
  return decodeRequest(openSigned(bytes).request);
}

export interface VerifyRequestOptions {
  /** The operation the verifier is performing: a request signed for another op is refused. */
  op: RequestOp;
  /** The signer's key (for setup: the key the request itself registers). */
  publicKey: PublicKeyInput;
  now: number;
  maxAgeMs?: number;
  maxFutureMs?: number;
}

/** Checks size, canonical form, op, signature and timestamp window; replay checks are the caller's. */
export async function verifyRequest(bytes: Uint8Array, options: VerifyRequestOptions): Promise<Request> {
  const { signature, request: payload } = openSigned(bytes);
  const request = decodeRequest(payload);
  if (request.op !== options.op) {
    throw new ProtocolError('BAD_FIELD', `op: request is signed for "${request.op}", not "${options.op}"`);
  }
  if (!(await verify(options.publicKey, signature, payload))) {
    throw new ProtocolError('BAD_SIGNATURE', `signature: does not verify for user "${request.userId}"`);
  }
  checkTimestamp(request.timestamp, options);
  return request;
}

/** Reads a text parameter, naming it when missing or mistyped. */
export function textParam(r: Request, name: string): string {
  const value = r.params[name];
  if (typeof value !== 'string') {
    throw new ProtocolError('BAD_FIELD', `params.${name}: expected text, got ${describe(value)}`);
  }
  return value;
}

export function listParam(r: Request, name: string): string[] {
  const value = r.params[name];
  if (!Array.isArray(value)) {
    throw new ProtocolError('BAD_FIELD', `params.${name}: expected an array of text, got ${describe(value)}`);
  }
  return value;
}

export function uintParam(r: Request, name: string): number {
  const value = r.params[name];
  if (typeof value !== 'number') {
    throw new ProtocolError(
      'BAD_FIELD',
      `params.${name}: expected an unsigned integer, got ${describe(value)}`,
    );
  }
  return value;
}

export function bytesParam(r: Request, name: string): Uint8Array {
  const value = r.params[name];
  if (!(value instanceof Uint8Array)) {
    throw new ProtocolError('BAD_FIELD', `params.${name}: expected bytes, got ${describe(value)}`);
  }
  return value;
}

function openSigned(bytes: Uint8Array): { signature: Uint8Array; request: Uint8Array } {
  const { signature, payload } = openSignedMap(bytes, 'request', MAX_REQUEST_BYTES);
  return { signature, request: payload };
}

/**
 * A signed wrapper, the canonical CBOR map { v: 1, signature: 64 bytes, <key>: bytes }, of at
 * most `maxBytes`: a signed request (key "request") or a shared item (key "item").
 */
export function openSignedMap(
  bytes: Uint8Array,
  key: 'request' | 'item',
  maxBytes: number,
): { signature: Uint8Array; payload: Uint8Array } {
  if (!(bytes instanceof Uint8Array)) throw new ProtocolError('MALFORMED', `${key}: expected bytes`);
  if (bytes.length > maxBytes) {
    throw new ProtocolError('OVERSIZED', `${key}: ${bytes.length} bytes, more than the ${maxBytes} allowed`);
  }
  const what = `signed ${key}`;
  const map = asMap(decodeStrict(bytes, what, `${key}.`), what);
  checkVersion(map, what, 'v');
  checkKeys(map, ['v', 'signature', key], what, '');
  const signature = asBytes(map.get('signature'), 'signature');
  if (signature.length !== SIGNATURE_BYTES) {
    throw new ProtocolError(
      'BAD_SIGNATURE',
      `signature: expected ${SIGNATURE_BYTES} bytes, got ${signature.length}`,
    );
  }
  return { signature, payload: asBytes(map.get(key), key) };
}

function decodeRequest(bytes: Uint8Array): Request {
  const map = asMap(decodeStrict(bytes, 'request'), 'request');
  checkVersion(map, 'request', 'v');
  checkKeys(map, REQUEST_KEYS, 'request', '');
  const request: Request = {
    op: asText(map.get('op'), 'op') as RequestOp,
    userId: asText(map.get('userId'), 'userId'),
    nonce: asBytes(map.get('nonce'), 'nonce'),
    timestamp: asUint(map.get('timestamp'), 'timestamp'),
    params: readParams(asMap(map.get('params'), 'params')),
  };
  if (!equalBytes(encodeRequest(request), bytes)) {
    throw new ProtocolError('NOT_CANONICAL', 'request: bytes differ from the canonical encoding');
  }
  return request;
}

function readParams(map: CborMap): Params {
  const params: Params = {};
  for (const [name, value] of map) params[name] = readParam(value, `params.${name}`);
  return params;
}

function readParam(value: CborValue, path: string): ParamValue {
  if (typeof value === 'string' || value instanceof Uint8Array) return value;
  if (typeof value === 'number') return asUint(value, path);
  if (Array.isArray(value)) return value.map((v, i) => asText(v, `${path}[${i}]`));
  throw new ProtocolError(
    'BAD_FIELD',
    `${path}: expected text, uint, bytes or text array, got ${describe(value)}`,
  );
}

function checkRequest(r: Request): void {
  if (typeof r !== 'object' || r === null)
    throw new ProtocolError('BAD_FIELD', 'request: expected an object');
  if (!REQUEST_OPS.includes(r.op)) {
    throw new ProtocolError(
      'BAD_FIELD',
      `op: expected one of ${REQUEST_OPS.join(', ')}, got ${describe(r.op)}`,
    );
  }
  checkId(r.userId, 'userId');
  if (!(r.nonce instanceof Uint8Array) || r.nonce.length !== NONCE_BYTES) {
    throw new ProtocolError('BAD_FIELD', `nonce: expected ${NONCE_BYTES} bytes, got ${describe(r.nonce)}`);
  }
  if (!Number.isSafeInteger(r.timestamp) || r.timestamp < 0) {
    throw new ProtocolError(
      'BAD_FIELD',
      `timestamp: expected integer ms since the epoch, got ${r.timestamp}`,
    );
  }
  if (typeof r.params !== 'object' || r.params === null) {
    throw new ProtocolError('BAD_FIELD', 'params: expected an object');
  }
  for (const [name, value] of Object.entries(r.params)) readParam(value as CborValue, `params.${name}`);
}
