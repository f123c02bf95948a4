/**
 * The client's key vault: the user's Ed25519 seed and CKKS secret key (with what they belong
 * to), sealed under a passphrase in one small file. The same code runs in Node and in browsers:
 * WebCrypto for AES-256-GCM, HMAC, SHA-256 and randomness, noble's scrypt for the memory-hard
 * key derivation, cborg for the encoding. The format is described in docs/client.md ("Key vault").
 *
 *   0        magic "PMHV"                 4 bytes
 *   4        format version               u8 (1)
 *   5        header length H              u16 little-endian
 *   7        header                       H bytes: CBOR { kdf: { name, N, r, p }, salt, iv }
 *   7+H      check value                  32 bytes: HMAC-SHA-256(check key, bytes 0 .. 7+H)
 *   39+H     AES-256-GCM ciphertext + tag the CBOR contents; additional data = bytes 0 .. 7+H
 *   end-32   checksum                     32 bytes: SHA-256 of every byte before it
 *
 * A damaged file fails the checksum before any key derivation (CORRUPT); a wrong passphrase
 * fails the check value (WRONG_PASSPHRASE); a GCM failure after both passed is CORRUPT again.
 */
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { decode, encode, rfc8949EncodeOptions } from 'cborg';
import { CkksError } from '../ckks/errors.ts';
import { unwrap } from '../ckks/format.ts';
import { getPreset, PRESET_IDS, type PresetId } from '../ckks/presets.ts';
import { own, subtle } from '../protocol/bytes.ts';
import type { Layout } from '../protocol/schema.ts';
import type { ClientStore } from './store.ts';

/** One model the person follows: its plan's layout and preset, and its own CKKS secret key. */
export interface VaultSubscription {
  modelId: string;
  layout: Layout;
  presetId: PresetId;
  /** The CKKS secret key as src/ckks SecretKey.save() returns it. */
  ckksSecretKey: Uint8Array;
  /** When it was added (ms since the epoch). */
  addedAt: number;
}

/** A clinician's own part of their vault. */
export interface VaultClinician {
  name: string;
  /** 32-byte seed of the X25519 key people seal shared results to. */
  boxSeed: Uint8Array;
}

/** What a vault holds: everything a client needs to act as the user again on a new device. */
export interface VaultContents {
  userId: string;
  /** The server this identity is registered with, if any. */
  server?: string;
  /** When the identity was made (ms since the epoch). */
  createdAt: number;
  /** Ed25519 32-byte seed (see src/protocol/identity.ts exportPrivateKey/importPrivateKey): the one identity. */
  identitySeed: Uint8Array;
  /** The models followed, in the order they were added: at least one, each model once (none for a clinician). */
  subscriptions: VaultSubscription[];
  /** Present in a clinician's vault: their name and the seed of their X25519 key (docs/sharing.md). */
  clinician?: VaultClinician;
  /** What the models read beside the readings (age, sex, ...): one profile for all of them. */
  profile?: Record<string, number>;
}

export type VaultErrorCode =
  | 'WRONG_PASSPHRASE' // the passphrase does not open this vault
  | 'CORRUPT' // the bytes are damaged, truncated, or not a vault at all
  | 'UNSUPPORTED' // a format version, KDF, preset or field this client does not know, or a KDF cost it will not run
  | 'WEAK_PASSPHRASE' // a new passphrase shorter than MIN_PASSPHRASE_LENGTH
  | 'NOT_FOUND' // no vault in the store
  | 'EXISTS'; // a vault is already in the store and would be overwritten

export class VaultError extends Error {
  override readonly name = 'VaultError';
  readonly code: VaultErrorCode;
  constructor(code: VaultErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

const damaged = (why: string, cause?: unknown) =>
  new VaultError('CORRUPT', `the vault file is damaged: ${why}`, cause === undefined ? undefined : { cause });

/** scrypt (RFC 7914). The parameters are stored in each vault's header, so they can change. */
export interface ScryptParams {
  readonly name: 'scrypt';
  /** CPU/memory cost, a power of two; memory is 128·N·r bytes. */
  readonly N: number;
  readonly r: number;
  readonly p: number;
}
export type KdfParams = ScryptParams;

/**
 * scrypt N=2^17, r=8, p=1: 128 MiB and ~0.9 s per unlock in Node on the 2-core development
 * machine (scryptAsync, median of 5: 942 ms, min 907, max 986; sync 834–878 ms; Node's native
 * OpenSSL scrypt 691 ms, so an attacker on a CPU gains only ~1.4×). Argon2id was measured too:
 * m=19 MiB t=2 265 ms, m=46 MiB t=1 413 ms, m=64 MiB t=1 594 ms, m=64 MiB t=3 1.4–2.0 s; noble's
 * Argon2 is ~5× slower than native code and unaudited, so scrypt buys more attacker cost per
 * second of ours. This is OWASP's scrypt minimum (its equivalent of Argon2id m=19 MiB t=2).
 */
export const DEFAULT_KDF: KdfParams = Object.freeze({ name: 'scrypt', N: 2 ** 17, r: 8, p: 1 });

/** 1 MiB, ~8 ms: for tests only. A vault sealed with it falls to a passphrase search quickly. */
export const FAST_KDF_FOR_TESTS: KdfParams = Object.freeze({ name: 'scrypt', N: 2 ** 10, r: 8, p: 1 });

/**
 * The most a vault may ask of the machine that opens it: a hostile or garbled header must not
 * make a phone allocate gigabytes or spin for minutes. 256 MiB, and 4× the default's work.
 */
export const MAX_KDF_MEMORY = 256 * 2 ** 20;
export const MAX_KDF_WORK = 4 * DEFAULT_KDF.N * DEFAULT_KDF.r * DEFAULT_KDF.p;

export const MIN_PASSPHRASE_LENGTH = 8;

export interface SealOptions extends DeriveOptions {
  /** Key derivation parameters; DEFAULT_KDF unless given (also when re-sealing). */
  kdf?: KdfParams;
}

export interface DeriveOptions {
  /** Called as the key derivation (the slow part, ~1 s) advances, with a fraction 0..1. */
  onProgress?: (fraction: number) => void;
}

export interface VaultInfo {
  version: number;
  kdf: KdfParams;
  bytes: number;
}

const MAGIC = [0x50, 0x4d, 0x48, 0x56]; // "PMHV"
const FORMAT_VERSION = 1;
const PREFIX_BYTES = 7; // magic, version, header length
const CHECK_BYTES = 32;
const TAG_BYTES = 16;
const CHECKSUM_BYTES = 32;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const MAX_HEADER_BYTES = 1024;
const MIN_VAULT_BYTES = PREFIX_BYTES + 1 + CHECK_BYTES + TAG_BYTES + CHECKSUM_BYTES;

const LAYOUTS: readonly Layout[] = ['paper', 'packed', 'batch'];
const CONTENT_FIELDS = new Set([
  'userId',
  'server',
  'createdAt',
  'identitySeed',
  'subscriptions',
  'profile',
  'clinician',
  // A vault from before subscriptions: its one model, read as the first subscription.
  'modelId',
  'layout',
  'presetId',
  'ckksSecretKey',
]);
const SUBSCRIPTION_FIELDS = ['modelId', 'layout', 'presetId', 'ckksSecretKey', 'addedAt'];
/** More than the catalogue holds, few enough that a garbled vault cannot ask for much. */
const MAX_SUBSCRIPTIONS = 32;
const SEED_BYTES = 32;
const MAX_PROFILE_ENTRIES = 64;

/** Strict CBOR: no indefinite lengths, undefined, NaN, ±Infinity, big integers or duplicate keys. */
const DECODE_OPTIONS = {
  strict: true,
  useMaps: true,
  rejectDuplicateMapKeys: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowNaN: false,
  allowInfinity: false,
  allowBigInt: false,
} as const;

const utf8 = new TextEncoder();

function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest('SHA-256', own(bytes)));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Passphrase and key derivation

/** Unicode NFC, so that the same passphrase typed on two keyboards gives the same key. */
function passphraseBytes(passphrase: string): Uint8Array {
  if (typeof passphrase !== 'string') throw new TypeError('the passphrase must be a string');
  return utf8.encode(passphrase.normalize('NFC'));
}

function checkNewPassphrase(passphrase: string): void {
  if (typeof passphrase !== 'string') throw new TypeError('the passphrase must be a string');
  const length = [...passphrase.normalize('NFC')].length;
  if (length < MIN_PASSPHRASE_LENGTH) {
    throw new VaultError(
      'WEAK_PASSPHRASE',
      `the passphrase is too short: ${length} character${length === 1 ? '' : 's'}, at least ${MIN_PASSPHRASE_LENGTH} needed`,
    );
  }
}

/** Checks KDF parameters against what this client runs; `fail` says how to refuse. */
function checkKdf(kdf: unknown, fail: (code: VaultErrorCode, why: string) => never): KdfParams {
  const get = (k: string): unknown =>
    kdf instanceof Map ? kdf.get(k) : (kdf as Record<string, unknown> | null)?.[k];
  if (typeof kdf !== 'object' || kdf === null) fail('CORRUPT', 'the KDF parameters are not a map');
  const name = get('name');
  if (name !== 'scrypt') {
    if (typeof name === 'string') {
      fail('UNSUPPORTED', `the key derivation function "${name}" is not one this client knows (scrypt)`);
    }
    fail('CORRUPT', 'the KDF parameters have no name');
  }
  const keys = kdf instanceof Map ? [...kdf.keys()] : Object.keys(kdf);
  const extra = keys.filter((k) => !['name', 'N', 'r', 'p'].includes(String(k)));
  if (extra.length > 0) fail('CORRUPT', `unexpected scrypt parameter ${extra.map(String).join(', ')}`);
  const count = (k: 'N' | 'r' | 'p'): number => {
    const v = get(k);
    if (!Number.isSafeInteger(v) || (v as number) < 1)
      fail('CORRUPT', `scrypt ${k} is not a positive integer`);
    return v as number;
  };
  const [n, rr, pp] = [count('N'), count('r'), count('p')];
  if (n < 2 || !Number.isInteger(Math.log2(n))) fail('CORRUPT', `scrypt N = ${n} is not a power of two ≥ 2`);
  if (128 * n * rr > MAX_KDF_MEMORY || n * rr * pp > MAX_KDF_WORK) {
    fail(
      'UNSUPPORTED',
      `scrypt N=${n} r=${rr} p=${pp} asks for more than this client will run (at most ${MAX_KDF_MEMORY / 2 ** 20} MiB and N·r·p ≤ ${MAX_KDF_WORK})`,
    );
  }
  return Object.freeze({ name: 'scrypt', N: n, r: rr, p: pp });
}

interface Keys {
  aes: CryptoKey;
  mac: CryptoKey;
}

/** 64 bytes from scrypt: the first 32 key AES-256-GCM, the last 32 the HMAC check value. */
async function deriveKeys(
  passphrase: string,
  salt: Uint8Array,
  kdf: KdfParams,
  onProgress?: (fraction: number) => void,
): Promise<Keys> {
  const secret = passphraseBytes(passphrase);
  let derived: Uint8Array<ArrayBuffer> | undefined;
  try {
    derived = own(
      await scryptAsync(secret, salt, {
        N: kdf.N,
        r: kdf.r,
        p: kdf.p,
        dkLen: 64,
        ...(onProgress ? { onProgress } : {}),
      }),
    );
    const aes = await subtle().importKey('raw', derived.subarray(0, 32), 'AES-GCM', false, [
      'encrypt',
      'decrypt',
    ]);
    const mac = await subtle().importKey(
      'raw',
      derived.subarray(32, 64),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    );
    return { aes, mac };
  } finally {
    secret.fill(0);
    derived?.fill(0);
  }
}

// ---------------------------------------------------------------------------------------------
// Contents

/** A plain object (what a caller hands to sealVault), not an array, bytes or a class instance. */
function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Validates contents (a plain object when sealing, a decoded CBOR map when opening). */
function checkContents(value: unknown, fail: (code: VaultErrorCode, why: string) => never): VaultContents {
  let fields: Map<unknown, unknown>;
  if (value instanceof Map) fields = value;
  else if (isRecord(value)) {
    fields = new Map(Object.entries(value).filter(([, v]) => v !== undefined));
  } else return fail('CORRUPT', 'the contents are not a map');
  for (const key of fields.keys()) {
    if (typeof key !== 'string') fail('CORRUPT', 'the contents have a field whose name is not text');
    if (!CONTENT_FIELDS.has(key)) {
      fail('UNSUPPORTED', `the contents have a field "${key}" this client does not know (a newer app?)`);
    }
  }
  const { text, bytes, time } = readers(fields, '', fail);
  const userId = text('userId', 256) as string;
  const server = text('server', 2048, true);
  const createdAt = time('createdAt');
  const identitySeed = bytes('identitySeed');
  if (identitySeed.length !== SEED_BYTES) {
    fail('CORRUPT', `identitySeed is ${identitySeed.length} bytes, expected ${SEED_BYTES}`);
  }
  const legacy = ['modelId', 'layout', 'presetId', 'ckksSecretKey'].filter((k) => fields.has(k));
  let subscriptions: VaultSubscription[];
  if (fields.has('subscriptions')) {
    if (legacy.length > 0) fail('CORRUPT', `both subscriptions and the older ${legacy.join(', ')}`);
    const list = fields.get('subscriptions');
    // A clinician follows no model; a person follows at least one.
    const least = fields.has('clinician') ? 0 : 1;
    if (!Array.isArray(list) || list.length < least || list.length > MAX_SUBSCRIPTIONS) {
      fail('CORRUPT', `subscriptions must be a list of ${least} to ${MAX_SUBSCRIPTIONS}`);
    }
    subscriptions = (list as unknown[]).map((entry, i) => {
      const map = entry instanceof Map ? entry : isRecord(entry) ? new Map(Object.entries(entry)) : undefined;
      if (!map) return fail('CORRUPT', `subscriptions[${i}] is not a map`);
      const extra = [...map.keys()].filter((k) => !SUBSCRIPTION_FIELDS.includes(k as string));
      if (extra.length > 0) {
        fail(
          'UNSUPPORTED',
          `subscriptions[${i}] has a field "${String(extra[0])}" this client does not know`,
        );
      }
      return subscriptionOf(map, `subscriptions[${i}].`, fail, time(`addedAt`, map, `subscriptions[${i}].`));
    });
  } else {
    subscriptions = [subscriptionOf(fields, '', fail, createdAt)];
  }
  const models = subscriptions.map((x) => x.modelId);
  const twice = models.find((m, i) => models.indexOf(m) !== i);
  if (twice) fail('CORRUPT', `model "${twice}" is subscribed twice`);
  let profile: Record<string, number> | undefined;
  const rawProfile = fields.get('profile');
  if (rawProfile !== undefined) {
    const entries =
      rawProfile instanceof Map
        ? [...rawProfile.entries()]
        : isRecord(rawProfile)
          ? Object.entries(rawProfile)
          : fail('CORRUPT', 'profile is not a map');
    if (entries.length > MAX_PROFILE_ENTRIES)
      fail('CORRUPT', `profile has more than ${MAX_PROFILE_ENTRIES} entries`);
    for (const [k, v] of entries) {
      if (typeof k !== 'string' || k.length === 0 || k.length > 64) {
        fail('CORRUPT', 'profile keys must be text of 1 to 64 characters');
      }
      if (typeof v !== 'number' || !Number.isFinite(v))
        fail('CORRUPT', `profile.${k} is not a finite number`);
    }
    profile = Object.fromEntries(entries) as Record<string, number>;
  }
  let clinician: VaultClinician | undefined;
  const rawClinician = fields.get('clinician');
  if (rawClinician !== undefined) {
    const map =
      rawClinician instanceof Map
        ? rawClinician
        : isRecord(rawClinician)
          ? new Map(Object.entries(rawClinician))
          : fail('CORRUPT', 'clinician is not a map');
    const extra = [...map.keys()].find((k) => k !== 'name' && k !== 'boxSeed');
    if (extra !== undefined)
      fail('UNSUPPORTED', `clinician has a field "${String(extra)}" this client does not know`);
    const read = readers(map, 'clinician.', fail);
    clinician = { name: read.text('name', 200) as string, boxSeed: read.bytes('boxSeed') };
    if (clinician.boxSeed.length !== SEED_BYTES) {
      fail('CORRUPT', `clinician.boxSeed is ${clinician.boxSeed.length} bytes, expected ${SEED_BYTES}`);
    }
    if (subscriptions.length > 0)
      fail('CORRUPT', 'a clinician follows no model, but subscriptions are listed');
  }
  return {
    userId,
    ...(server === undefined ? {} : { server }),
    createdAt,
    identitySeed,
    subscriptions,
    ...(profile === undefined ? {} : { profile }),
    ...(clinician === undefined ? {} : { clinician }),
  };
}

type Fail = (code: VaultErrorCode, why: string) => never;

/** Typed reads of one map's fields; `at` names where the map is, for the messages. */
function readers(fields: Map<unknown, unknown>, at: string, fail: Fail) {
  const text = (key: string, max: number, optional = false): string | undefined => {
    const v = fields.get(key);
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'string')
      return fail('CORRUPT', `${at}${key} is ${v === undefined ? 'missing' : 'not text'}`);
    if (v.length === 0 || v.length > max) fail('CORRUPT', `${at}${key} must be 1 to ${max} characters`);
    return v;
  };
  const bytes = (key: string): Uint8Array => {
    const v = fields.get(key);
    if (!(v instanceof Uint8Array))
      return fail('CORRUPT', `${at}${key} is ${v === undefined ? 'missing' : 'not bytes'}`);
    return new Uint8Array(v); // a copy: plain (not a Buffer) and independent of the input
  };
  const time = (key: string, map = fields, where = at): number => {
    const v = map.get(key);
    if (!Number.isSafeInteger(v) || (v as number) < 0) {
      fail('CORRUPT', `${where}${key} must be a non-negative integer (ms since the epoch)`);
    }
    return v as number;
  };
  return { text, bytes, time };
}

/** One subscription's fields (at the top level of a vault from before subscriptions). */
function subscriptionOf(
  fields: Map<unknown, unknown>,
  at: string,
  fail: Fail,
  addedAt: number,
): VaultSubscription {
  const { text, bytes } = readers(fields, at, fail);
  const modelId = text('modelId', 128) as string;
  const layout = fields.get('layout');
  if (!LAYOUTS.includes(layout as Layout)) {
    fail('CORRUPT', `${at}layout must be one of ${LAYOUTS.join(', ')}, got ${JSON.stringify(layout)}`);
  }
  const presetId = text('presetId', 64) as string;
  if (!(PRESET_IDS as readonly string[]).includes(presetId)) {
    fail('UNSUPPORTED', `preset "${presetId}" is not one this client knows (${PRESET_IDS.join(', ')})`);
  }
  const ckksSecretKey = bytes('ckksSecretKey');
  try {
    unwrap(ckksSecretKey, { kind: 'secretKey', preset: getPreset(presetId) });
  } catch (error) {
    if (!(error instanceof CkksError)) throw error;
    fail('CORRUPT', `${at}ckksSecretKey is not a CKKS secret key for ${presetId}: ${error.message}`);
  }
  return { modelId, layout: layout as Layout, presetId: presetId as PresetId, ckksSecretKey, addedAt };
}

function encodeContents(contents: VaultContents): Uint8Array {
  const valid = checkContents(contents, (_code, why) => {
    throw new TypeError(`vault contents: ${why}`);
  });
  try {
    return encode(valid, rfc8949EncodeOptions);
  } finally {
    valid.identitySeed.fill(0); // checkContents' copies; the caller's arrays are untouched
    for (const x of valid.subscriptions) x.ckksSecretKey.fill(0);
    valid.clinician?.boxSeed.fill(0);
  }
}

function decodeContents(plaintext: Uint8Array): VaultContents {
  let value: unknown;
  try {
    value = decode(plaintext, DECODE_OPTIONS);
  } catch (error) {
    throw damaged(`its contents are not valid CBOR (${(error as Error).message})`, error);
  }
  return checkContents(value, (code, why) => {
    throw code === 'UNSUPPORTED'
      ? new VaultError('UNSUPPORTED', `this vault cannot be read by this client: ${why}`)
      : damaged(`its contents are invalid: ${why}`);
  });
}

// ---------------------------------------------------------------------------------------------
// The file

interface Parsed {
  version: number;
  /** Bytes 0 .. 7+H: what the check value and GCM's additional data cover. */
  prefix: Uint8Array;
  kdf: KdfParams;
  salt: Uint8Array;
  iv: Uint8Array;
  check: Uint8Array;
  ciphertext: Uint8Array;
}

/** Everything that can be checked without the passphrase, cheapest first. */
async function parse(bytes: Uint8Array): Promise<Parsed> {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('a vault must be bytes (Uint8Array)');
  if (bytes.length === 0) throw damaged('it is empty');
  if (bytes.length < MIN_VAULT_BYTES) {
    throw damaged(`it is only ${bytes.length} bytes long, too short to be a vault (truncated?)`);
  }
  if (!MAGIC.every((b, i) => bytes[i] === b)) {
    throw new VaultError(
      'CORRUPT',
      'this is not a PMHE key vault (it does not begin with "PMHV"), or its start is damaged',
    );
  }
  const body = bytes.subarray(0, bytes.length - CHECKSUM_BYTES);
  if (!equalBytes(await sha256(body), bytes.subarray(bytes.length - CHECKSUM_BYTES))) {
    throw damaged('its SHA-256 checksum does not match (truncated, or altered on disk or in transit)');
  }
  // From here on the bytes are as they were written; what fails was written wrong or on purpose.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(4);
  if (version !== FORMAT_VERSION) {
    throw new VaultError(
      'UNSUPPORTED',
      `this vault is in format version ${version}; this client reads version ${FORMAT_VERSION} (was it written by a newer app?)`,
    );
  }
  const headerBytes = view.getUint16(5, true);
  const prefixEnd = PREFIX_BYTES + headerBytes;
  if (
    headerBytes === 0 ||
    headerBytes > MAX_HEADER_BYTES ||
    prefixEnd + CHECK_BYTES + TAG_BYTES > body.length
  ) {
    throw damaged(`its header length (${headerBytes} bytes) does not fit the file`);
  }
  let header: unknown;
  try {
    header = decode(bytes.subarray(PREFIX_BYTES, prefixEnd), DECODE_OPTIONS);
  } catch (error) {
    throw damaged(`its header is not valid CBOR (${(error as Error).message})`, error);
  }
  if (!(header instanceof Map)) throw damaged('its header is not a map');
  const extra = [...header.keys()].filter((k) => !['kdf', 'salt', 'iv'].includes(k));
  if (extra.length > 0) throw damaged(`its header has unexpected fields ${extra.map(String).join(', ')}`);
  const kdf = checkKdf(header.get('kdf'), (code, why) => {
    throw code === 'UNSUPPORTED'
      ? new VaultError('UNSUPPORTED', `this vault cannot be opened by this client: ${why}`)
      : damaged(`its header is invalid: ${why}`);
  });
  const salt = header.get('salt');
  const iv = header.get('iv');
  if (!(salt instanceof Uint8Array) || salt.length !== SALT_BYTES) {
    throw damaged(`its header's salt is not ${SALT_BYTES} bytes`);
  }
  if (!(iv instanceof Uint8Array) || iv.length !== IV_BYTES)
    throw damaged(`its header's IV is not ${IV_BYTES} bytes`);
  return {
    version,
    prefix: bytes.slice(0, prefixEnd),
    kdf,
    salt: new Uint8Array(salt),
    iv: new Uint8Array(iv),
    check: bytes.slice(prefixEnd, prefixEnd + CHECK_BYTES),
    ciphertext: bytes.slice(prefixEnd + CHECK_BYTES, body.length),
  };
}

/** Seals `contents` under `passphrase`: fresh salt and IV every time. */
export async function sealVault(
  contents: VaultContents,
  passphrase: string,
  options: SealOptions = {},
): Promise<Uint8Array> {
  checkNewPassphrase(passphrase);
  const kdf = checkKdf(options.kdf ?? DEFAULT_KDF, (_code, why) => {
    throw new VaultError('UNSUPPORTED', `cannot seal a vault with these KDF parameters: ${why}`);
  });
  const plaintext = encodeContents(contents);
  try {
    const salt = randomBytes(SALT_BYTES);
    const iv = randomBytes(IV_BYTES);
    const header = encode(
      { kdf: { name: kdf.name, N: kdf.N, r: kdf.r, p: kdf.p }, salt, iv },
      rfc8949EncodeOptions,
    );
    const prefix = new Uint8Array(PREFIX_BYTES + header.length);
    prefix.set(MAGIC, 0);
    const view = new DataView(prefix.buffer);
    view.setUint8(4, FORMAT_VERSION);
    view.setUint16(5, header.length, true);
    prefix.set(header, PREFIX_BYTES);
    const keys = await deriveKeys(passphrase, salt, kdf, options.onProgress);
    const check = new Uint8Array(await subtle().sign('HMAC', keys.mac, prefix));
    const ciphertext = new Uint8Array(
      await subtle().encrypt(
        { name: 'AES-GCM', iv, additionalData: prefix, tagLength: 128 },
        keys.aes,
        own(plaintext),
      ),
    );
    const body = concat(prefix, check, ciphertext);
    return concat(body, await sha256(body));
  } finally {
    plaintext.fill(0);
  }
}

/** Opens vault bytes: WRONG_PASSPHRASE, CORRUPT or UNSUPPORTED when it cannot. Writes nothing. */
export async function openVault(
  bytes: Uint8Array,
  passphrase: string,
  options: DeriveOptions = {},
): Promise<VaultContents> {
  if (typeof passphrase !== 'string') throw new TypeError('the passphrase must be a string');
  const parsed = await parse(bytes);
  const keys = await deriveKeys(passphrase, parsed.salt, parsed.kdf, options.onProgress);
  if (!(await subtle().verify('HMAC', keys.mac, own(parsed.check), own(parsed.prefix)))) {
    throw new VaultError('WRONG_PASSPHRASE', 'wrong passphrase');
  }
  let plaintext: Uint8Array;
  try {
    plaintext = new Uint8Array(
      await subtle().decrypt(
        { name: 'AES-GCM', iv: own(parsed.iv), additionalData: own(parsed.prefix), tagLength: 128 },
        keys.aes,
        own(parsed.ciphertext),
      ),
    );
  } catch (error) {
    throw damaged(
      'the passphrase is right but the encrypted contents fail authentication (altered by something that also rewrote the checksum?)',
      error,
    );
  }
  try {
    return decodeContents(plaintext);
  } finally {
    plaintext.fill(0);
  }
}

/** What a vault says about itself without the passphrase (checksum and header checked). */
export async function inspectVault(bytes: Uint8Array): Promise<VaultInfo> {
  const { version, kdf } = await parse(bytes);
  return { version, kdf, bytes: bytes.length };
}

/** Re-seals under a new passphrase (and `options.kdf`, else DEFAULT_KDF); the input is untouched. */
export async function changePassphrase(
  bytes: Uint8Array,
  oldPassphrase: string,
  newPassphrase: string,
  options: SealOptions = {},
): Promise<Uint8Array> {
  checkNewPassphrase(newPassphrase); // before spending a key derivation on the old one
  const contents = await openVault(bytes, oldPassphrase);
  return sealVault(contents, newPassphrase, options);
}

// ---------------------------------------------------------------------------------------------
// The vault in a ClientStore

/** Where the vault lives in a ClientStore. */
export const VAULT_KEY = 'vault.cbor';

export interface ImportOptions extends SealOptions {
  /** Replace a vault already in the store (it is lost unless backed up). Default: refuse (EXISTS). */
  replace?: boolean;
  /** Re-seal under this passphrase instead of keeping the backup's (with `kdf`, else DEFAULT_KDF). */
  newPassphrase?: string;
}

async function readStored(store: ClientStore): Promise<Uint8Array> {
  const bytes = await store.get(VAULT_KEY);
  if (bytes === undefined) throw new VaultError('NOT_FOUND', 'there is no key vault on this device yet');
  return bytes;
}

async function refuseExisting(store: ClientStore): Promise<void> {
  if ((await store.get(VAULT_KEY)) !== undefined) {
    throw new VaultError(
      'EXISTS',
      'a key vault already exists on this device and is never overwritten (to swap it, import a backup with replace)',
    );
  }
}

/**
 * The bytes of an encrypted backup of the stored vault. The vault is opened first, so a backup
 * is known to open; with a `backupPassphrase` (other than `passphrase`) the backup is re-sealed
 * under it (with `options.kdf`, else DEFAULT_KDF), else it is the stored file as is.
 */
export async function exportBackup(
  store: ClientStore,
  passphrase: string,
  backupPassphrase?: string,
  options: SealOptions = {},
): Promise<Uint8Array> {
  if (backupPassphrase !== undefined) checkNewPassphrase(backupPassphrase);
  const bytes = await readStored(store);
  const contents = await openVault(bytes, passphrase);
  if (backupPassphrase === undefined || backupPassphrase.normalize('NFC') === passphrase.normalize('NFC')) {
    return bytes;
  }
  return sealVault(contents, backupPassphrase, options);
}

/**
 * Stores a backup as this store's vault and returns its contents. The backup must open with
 * `passphrase` before anything is written; a vault already there is refused (EXISTS) unless
 * `options.replace`. Kept sealed as it is (the backup passphrase stays the passphrase), or
 * re-sealed under `options.newPassphrase`.
 */
export async function importBackup(
  store: ClientStore,
  bytes: Uint8Array,
  passphrase: string,
  options: ImportOptions = {},
): Promise<VaultContents> {
  if (options.newPassphrase !== undefined) checkNewPassphrase(options.newPassphrase);
  if (!options.replace) await refuseExisting(store); // before spending a key derivation
  const contents = await openVault(bytes, passphrase);
  const toStore =
    options.newPassphrase === undefined
      ? new Uint8Array(bytes)
      : await sealVault(contents, options.newPassphrase, options);
  if (!options.replace) await refuseExisting(store); // and again: the derivation took a while
  await store.put(VAULT_KEY, toStore);
  return contents;
}

/**
 * The vault under VAULT_KEY in a ClientStore. Nothing here overwrites a vault unless asked to
 * (`importBackup` with `replace`, `changePassphrase`), and a failed open writes nothing. The
 * store has no compare-and-set, so two tabs creating a vault at the same moment could race;
 * `create` checks before and again right after the (slow) sealing to make that window small.
 */
export const Vault = Object.freeze({
  KEY: VAULT_KEY,

  async exists(store: ClientStore): Promise<boolean> {
    return (await store.get(VAULT_KEY)) !== undefined;
  },

  /** Seals `contents` and stores them; EXISTS if the store already has a vault. */
  async create(
    store: ClientStore,
    contents: VaultContents,
    passphrase: string,
    options: SealOptions = {},
  ): Promise<void> {
    await refuseExisting(store);
    const bytes = await sealVault(contents, passphrase, options);
    await refuseExisting(store);
    await store.put(VAULT_KEY, bytes);
  },

  /** Opens the stored vault; NOT_FOUND if there is none. Writes nothing. */
  async open(store: ClientStore, passphrase: string, options: DeriveOptions = {}): Promise<VaultContents> {
    return openVault(await readStored(store), passphrase, options);
  },

  /** Checksum, format version and KDF parameters of the stored vault, without the passphrase. */
  async inspect(store: ClientStore): Promise<VaultInfo> {
    return inspectVault(await readStored(store));
  },

  /** Re-seals the stored vault under a new passphrase (with `options.kdf`, else DEFAULT_KDF). */
  async changePassphrase(
    store: ClientStore,
    oldPassphrase: string,
    newPassphrase: string,
    options: SealOptions = {},
  ): Promise<void> {
    await store.put(
      VAULT_KEY,
      await changePassphrase(await readStored(store), oldPassphrase, newPassphrase, options),
    );
  },

  /**
   * Re-seals the stored vault with `change` applied to its contents, under the same passphrase
   * and key-derivation parameters (an edited profile). The old vault stays until the new one is
   * written whole (the store's put is atomic); a wrong passphrase writes nothing.
   */
  async update(
    store: ClientStore,
    passphrase: string,
    change: (contents: VaultContents) => VaultContents | Promise<VaultContents>,
    options: DeriveOptions = {},
  ): Promise<VaultContents> {
    const stored = await readStored(store);
    // Opened first: a wrong passphrase fails before `change` acts (it may call a server).
    const contents = await change(await openVault(stored, passphrase, options));
    const { kdf } = await inspectVault(stored);
    await store.put(VAULT_KEY, await sealVault(contents, passphrase, { ...options, kdf }));
    return contents;
  },

  /**
   * Deletes everything this client kept in `store`: the vault (the only copy of the keys, so
   * what they sealed is unreadable from now on), the outbox, the history, its cursors. The
   * passphrase is checked first. For closing an account, after the server closed it.
   */
  async destroy(store: ClientStore, passphrase: string, options: DeriveOptions = {}): Promise<number> {
    await openVault(await readStored(store), passphrase, options);
    const all = await store.keys('');
    // The vault last: a crash part-way leaves it, and destroying again finishes.
    for (const key of all.filter((k) => k !== VAULT_KEY)) await store.delete(key);
    await store.delete(VAULT_KEY);
    return all.length;
  },

  exportBackup,
  importBackup,
});
