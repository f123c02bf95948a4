/**
 * The signed submission envelope: what a client uploads and what both the untrusted server and
 * the contract check with this one function before touching a ciphertext.
 *
 * Submission (the signed bytes), a canonical CBOR map (RFC 8949 §4.2.1, keys in bytewise order):
 *   "v"            uint    format version (1)
 *   "nonce"        bytes   16 random bytes, refused when seen before
 *   "userId"       text
 *   "modelId"      text
 *   "presetId"     text    CKKS parameter preset of the ciphertexts
 *   "template"     map     { "id": text, "version": uint }
 *   "timestamp"    uint    milliseconds since the Unix epoch
 *   "ciphertexts"  array of bytes (opaque here; ckks/ checks them)
 * Envelope, a canonical CBOR map:
 *   "v" uint (1), "signature" bytes (64, Ed25519 over the submission bytes), "submission" bytes
 *
 * The submission travels as a byte string so the verifier checks the signature over exactly the
 * bytes that were signed, and only then believes what they say.
 */
import { decodeStrict, encodeCanonical, equalBytes } from './canonical-cbor.ts';
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

export { ProtocolError, type ProtocolErrorCode } from './errors.ts';
export { FORMAT_VERSION, MAX_ID_LENGTH } from './fields.ts';

export const NONCE_BYTES = 16;

export interface TemplateRef {
  id: string;
  version: number;
}

export interface Submission {
  userId: string;
  template: TemplateRef;
  modelId: string;
  presetId: string;
  /** 16 random bytes, fresh for every submission. */
  nonce: Uint8Array;
  /** Milliseconds since the Unix epoch, an integer. */
  timestamp: number;
  ciphertexts: Uint8Array[];
}

export interface SizeLimits {
  maxEnvelopeBytes: number;
  maxCiphertexts: number;
  maxCiphertextBytes: number;
}

/**
 * Generous enough for a paper-sized upload at N = 16384 (3 MB per unrelinearized ciphertext);
 * callers that know the preset should tighten them (ckks' `maxPayloadBytes`).
 */
export const DEFAULT_LIMITS: Readonly<SizeLimits> = Object.freeze({
  maxEnvelopeBytes: 32 * 1024 * 1024,
  maxCiphertexts: 32,
  maxCiphertextBytes: 4 * 1024 * 1024,
});

/** How far behind and ahead of `now` a timestamp may be, by default. */
export const DEFAULT_MAX_AGE_MS = 5 * 60 * 1000;
export const DEFAULT_MAX_FUTURE_MS = 30 * 1000;

type MaybePromise<T> = T | Promise<T>;
export type PublicKeyInput = CryptoKey | Uint8Array;

export interface VerifyOptions {
  /** The signer's Ed25519 key (raw 32 bytes or CryptoKey), or a lookup by the claimed userId (and model). */
  publicKey: PublicKeyInput | ((userId: string, modelId: string) => MaybePromise<PublicKeyInput | undefined>);
  /** The template this submission must follow, or the current version of a template id. */
  template: TemplateRef | ((id: string) => MaybePromise<number | undefined>);
  /**
   * The verifier's clock in ms since the epoch: wall-clock time on the server, the transaction
   * timestamp in the contract (which must not read the clock).
   */
  now: number;
  /** Oldest accepted timestamp is now - maxAgeMs. Nonces must be remembered at least this long. */
  maxAgeMs?: number;
  /** Allowed clock skew: newest accepted timestamp is now + maxFutureMs. */
  maxFutureMs?: number;
  /**
   * True when this user's nonce was seen before. Called last, only for an otherwise valid
   * submission, so the callback may record the nonce atomically as it answers.
   */
  nonceSeen: (userId: string, nonce: Uint8Array) => MaybePromise<boolean>;
  limits?: Partial<SizeLimits>;
}

const SUBMISSION_KEYS = [
  'v',
  'nonce',
  'userId',
  'modelId',
  'presetId',
  'template',
  'timestamp',
  'ciphertexts',
] as const;
const TEMPLATE_KEYS = ['id', 'version'] as const;
const ENVELOPE_KEYS = ['v', 'signature', 'submission'] as const;

/** The canonical bytes of a submission: the bytes that are signed. Checks every field first. */
export function encodeSubmission(s: Submission): Uint8Array {
  checkSubmission(s);
  // A fresh object of known fields: extra properties and key insertion order cannot leak in.
  return encodeCanonical({
    v: FORMAT_VERSION,
    nonce: s.nonce,
    userId: s.userId,
    modelId: s.modelId,
    presetId: s.presetId,
    template: { id: s.template.id, version: s.template.version },
    timestamp: s.timestamp,
    ciphertexts: [...s.ciphertexts],
  });
}

/** Signs the canonical submission and wraps it into an envelope ready to upload. */
export async function signSubmission(s: Submission, privateKey: CryptoKey): Promise<Uint8Array> {
  const submission = encodeSubmission(s);
  const signature = await sign(privateKey, submission);
  return encodeCanonical({ v: FORMAT_VERSION, signature, submission });
}

/** The submission inside one's own envelope, decoded strictly but not verified (to sign it again). */
export function readSubmission(envelope: Uint8Array): Submission {
  return decodeSubmission(openEnvelope(envelope).submission);
}

/**
 * Opens an envelope and returns its submission only if everything holds, in this order: size,
 * strict canonical decoding of envelope and submission, signature, template, timestamp window,
 * ciphertext limits, replay. Throws a ProtocolError naming the field otherwise.
 */
export async function verifySubmission(envelope: Uint8Array, options: VerifyOptions): Promise<Submission> {
  const limits = checkOptions(options);
  if (!(envelope instanceof Uint8Array)) throw new ProtocolError('MALFORMED', 'envelope: expected bytes');
  if (envelope.length > limits.maxEnvelopeBytes) {
    throw new ProtocolError(
      'OVERSIZED',
      `envelope: ${envelope.length} bytes, more than the ${limits.maxEnvelopeBytes} allowed`,
    );
  }
  const { signature, submission: payload } = openEnvelope(envelope);
  const submission = decodeSubmission(payload);

  const key = await resolveKey(options.publicKey, submission.userId, submission.modelId);
  if (!(await verify(key, signature, payload))) {
    throw new ProtocolError('BAD_SIGNATURE', `signature: does not verify for user "${submission.userId}"`);
  }

  await checkTemplate(submission.template, options.template);
  checkTimestamp(submission.timestamp, options);
  checkSizes(submission.ciphertexts, limits);
  if (await options.nonceSeen(submission.userId, submission.nonce)) {
    throw new ProtocolError('REPLAY', `nonce: already used by user "${submission.userId}"`);
  }
  return submission;
}

/** A NaN limit would compare false and wave everything through: misconfiguration fails loudly. */
function checkOptions(options: VerifyOptions): SizeLimits {
  const limits: SizeLimits = { ...DEFAULT_LIMITS };
  for (const name of Object.keys(limits) as (keyof SizeLimits)[]) {
    const value = options.limits?.[name];
    if (value !== undefined) limits[name] = value; // an explicit undefined keeps the default
  }
  const numbers: [string, number | undefined][] = [
    ['now', options.now ?? Number.NaN], // required: without it no timestamp could be judged
    ['maxAgeMs', options.maxAgeMs],
    ['maxFutureMs', options.maxFutureMs],
    ...Object.entries(limits).map(([k, v]): [string, number] => [`limits.${k}`, v]),
  ];
  for (const [name, value] of numbers) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
      throw new RangeError(`verifySubmission: options.${name} must be a non-negative integer, got ${value}`);
    }
  }
  if (typeof options.nonceSeen !== 'function') {
    throw new TypeError('verifySubmission: options.nonceSeen is required (replays must be refused)');
  }
  return limits;
}

function openEnvelope(bytes: Uint8Array): { signature: Uint8Array; submission: Uint8Array } {
  const map = asMap(decodeStrict(bytes, 'envelope', 'envelope.'), 'envelope');
  checkVersion(map, 'envelope', 'envelope.v');
  checkKeys(map, ENVELOPE_KEYS, 'envelope', 'envelope.');
  const signature = asBytes(map.get('signature'), 'envelope.signature');
  if (signature.length !== SIGNATURE_BYTES) {
    throw new ProtocolError(
      'BAD_SIGNATURE',
      `envelope.signature: expected ${SIGNATURE_BYTES} bytes, got ${signature.length}`,
    );
  }
  return { signature, submission: asBytes(map.get('submission'), 'envelope.submission') };
}

/** Strictly decodes signed bytes; re-encoding must give them back, or they are not canonical. */
function decodeSubmission(bytes: Uint8Array): Submission {
  const map = asMap(decodeStrict(bytes, 'submission'), 'submission');
  checkVersion(map, 'submission', 'v');
  checkKeys(map, SUBMISSION_KEYS, 'submission', '');
  const template = asMap(map.get('template'), 'template');
  checkKeys(template, TEMPLATE_KEYS, 'template', 'template.');
  const ciphertexts = map.get('ciphertexts');
  if (!Array.isArray(ciphertexts)) {
    throw new ProtocolError('BAD_FIELD', `ciphertexts: expected an array, got ${describe(ciphertexts)}`);
  }
  const submission: Submission = {
    userId: asText(map.get('userId'), 'userId'),
    template: {
      id: asText(template.get('id'), 'template.id'),
      version: asUint(template.get('version'), 'template.version'),
    },
    modelId: asText(map.get('modelId'), 'modelId'),
    presetId: asText(map.get('presetId'), 'presetId'),
    nonce: asBytes(map.get('nonce'), 'nonce'),
    timestamp: asUint(map.get('timestamp'), 'timestamp'),
    ciphertexts: ciphertexts.map((c, i) => asBytes(c, `ciphertexts[${i}]`)),
  };
  // The strict reader has refused every other spelling; this is the last word on canonical form.
  if (!equalBytes(encodeSubmission(submission), bytes)) {
    throw new ProtocolError('NOT_CANONICAL', 'submission: bytes differ from the canonical encoding');
  }
  return submission;
}

/** Field rules shared by signer and verifier, so nothing is signed that would be refused. */
function checkSubmission(s: Submission): void {
  if (typeof s !== 'object' || s === null)
    throw new ProtocolError('BAD_FIELD', 'submission: expected an object');
  checkId(s.userId, 'userId');
  checkId(s.modelId, 'modelId');
  checkId(s.presetId, 'presetId');
  if (typeof s.template !== 'object' || s.template === null) {
    throw new ProtocolError('BAD_FIELD', 'template: expected { id, version }');
  }
  checkId(s.template.id, 'template.id');
  if (!Number.isSafeInteger(s.template.version) || s.template.version < 1) {
    throw new ProtocolError(
      'BAD_FIELD',
      `template.version: expected an integer ≥ 1, got ${s.template.version}`,
    );
  }
  if (!(s.nonce instanceof Uint8Array) || s.nonce.length !== NONCE_BYTES) {
    const got = s.nonce instanceof Uint8Array ? `${s.nonce.length} bytes` : describe(s.nonce);
    throw new ProtocolError('BAD_FIELD', `nonce: expected ${NONCE_BYTES} bytes, got ${got}`);
  }
  if (!Number.isSafeInteger(s.timestamp) || s.timestamp < 0) {
    throw new ProtocolError(
      'BAD_FIELD',
      `timestamp: expected integer milliseconds since the epoch, got ${s.timestamp}`,
    );
  }
  if (!Array.isArray(s.ciphertexts) || s.ciphertexts.length === 0) {
    throw new ProtocolError('BAD_FIELD', 'ciphertexts: expected at least one ciphertext');
  }
  s.ciphertexts.forEach((c, i) => {
    if (!(c instanceof Uint8Array) || c.length === 0) {
      throw new ProtocolError('BAD_FIELD', `ciphertexts[${i}]: expected non-empty bytes`);
    }
  });
}

async function resolveKey(
  source: VerifyOptions['publicKey'],
  userId: string,
  modelId: string,
): Promise<PublicKeyInput> {
  if (typeof source !== 'function') return source;
  const key = await source(userId, modelId);
  if (key === undefined)
    throw new ProtocolError('BAD_SIGNATURE', `userId: no public key known for "${userId}"`);
  return key;
}

async function checkTemplate(got: TemplateRef, expected: VerifyOptions['template']): Promise<void> {
  let version: number | undefined;
  if (typeof expected === 'function') {
    version = await expected(got.id);
    if (version === undefined)
      throw new ProtocolError('UNKNOWN_TEMPLATE', `template.id: unknown template "${got.id}"`);
  } else {
    if (got.id !== expected.id) {
      throw new ProtocolError('UNKNOWN_TEMPLATE', `template.id: expected "${expected.id}", got "${got.id}"`);
    }
    version = expected.version;
  }
  if (got.version !== version) {
    throw new ProtocolError(
      'WRONG_TEMPLATE_VERSION',
      `template.version: expected ${version}, got ${got.version}`,
    );
  }
}

/** The timestamp window shared by envelopes and signed requests. */
export function checkTimestamp(
  timestamp: number,
  options: Pick<VerifyOptions, 'now' | 'maxAgeMs' | 'maxFutureMs'>,
): void {
  const { now } = options;
  const maxAge = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  const maxFuture = options.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
  if (now - timestamp > maxAge) {
    throw new ProtocolError(
      'STALE',
      `timestamp: ${now - timestamp} ms old, more than the ${maxAge} ms allowed (timestamp ${timestamp}, now ${now})`,
    );
  }
  if (timestamp - now > maxFuture) {
    throw new ProtocolError(
      'FUTURE',
      `timestamp: ${timestamp - now} ms ahead of now, more than the ${maxFuture} ms allowed (timestamp ${timestamp}, now ${now})`,
    );
  }
}

function checkSizes(ciphertexts: Uint8Array[], limits: SizeLimits): void {
  if (ciphertexts.length > limits.maxCiphertexts) {
    throw new ProtocolError(
      'OVERSIZED',
      `ciphertexts: ${ciphertexts.length} ciphertexts, more than the ${limits.maxCiphertexts} allowed`,
    );
  }
  ciphertexts.forEach((c, i) => {
    if (c.length > limits.maxCiphertextBytes) {
      throw new ProtocolError(
        'OVERSIZED',
        `ciphertexts[${i}]: ${c.length} bytes, more than the ${limits.maxCiphertextBytes} allowed`,
      );
    }
  });
}
