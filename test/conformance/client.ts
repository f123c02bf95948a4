/**
 * A PMHE client written from docs/protocol.md alone, to show that the document is enough: its
 * own canonical CBOR (§1), its own Ed25519 over node:crypto (§2), its own signed requests,
 * envelopes and Authorization headers (§3–§6), its own PMHC files (§7) and CKKS through
 * node-seal directly (§7–§9), and the plaintext models it checks results against (§10).
 *
 * It imports nothing from src/: anything it needs to know, the document says. Section numbers
 * in comments are docs/protocol.md's.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomBytes,
  sign,
} from 'node:crypto';
import { crc32 } from 'node:zlib';
import SEAL from 'node-seal';

// ---- §1 Canonical CBOR ---------------------------------------------------------------------

export type Cbor = number | string | Uint8Array | Cbor[] | { [key: string]: Cbor };

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function head(major: number, n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`CBOR: ${n} is not an unsigned integer`);
  const m = major << 5;
  if (n < 24) return Uint8Array.of(m | n);
  if (n < 0x100) return Uint8Array.of(m | 24, n);
  if (n < 0x10000) return Uint8Array.of(m | 25, n >> 8, n & 0xff);
  if (n < 0x100000000) return Uint8Array.of(m | 26, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  const out = new Uint8Array(9);
  out[0] = m | 27;
  new DataView(out.buffer).setBigUint64(1, BigInt(n));
  return out;
}

const concat = (parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  }
  return a.length - b.length;
}

/** RFC 8949 §4.2.1: shortest heads, definite lengths, map entries sorted by their encoded keys. */
export function cborEncode(value: Cbor): Uint8Array {
  if (typeof value === 'number') return head(0, value);
  if (typeof value === 'string') {
    const bytes = utf8.encode(value);
    return concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return concat([head(2, value.length), value]);
  if (Array.isArray(value)) return concat([head(4, value.length), ...value.map(cborEncode)]);
  const entries = Object.entries(value).map(([k, v]) => [cborEncode(k), cborEncode(v)] as const);
  entries.sort((a, b) => compareBytes(a[0], b[0]));
  return concat([head(5, entries.length), ...entries.flat()]);
}

/** Decodes one canonical item filling all of `bytes`; refuses what §1 refuses. */
export function cborDecode(bytes: Uint8Array): Cbor {
  let at = 0;
  const fail = (why: string): never => {
    throw new Error(`CBOR: ${why} at byte ${at}`);
  };
  const argument = (minor: number): number => {
    if (minor < 24) return minor;
    if (minor > 27) fail(`additional information ${minor}`);
    const size = 1 << (minor - 24);
    if (at + size > bytes.length) fail('truncated');
    let n = 0;
    for (let i = 0; i < size; i++) n = n * 256 + (bytes[at + i] as number);
    at += size;
    const smallest = [24, 0x100, 0x10000, 0x100000000][minor - 24] as number;
    if (n < smallest) fail('head longer than necessary');
    if (n > Number.MAX_SAFE_INTEGER) fail('integer beyond 2^53 - 1');
    return n;
  };
  const item = (depth: number): Cbor => {
    if (depth > 8) fail('nested too deeply');
    if (at >= bytes.length) fail('truncated');
    const initial = bytes[at++] as number;
    const major = initial >> 5;
    if (major === 1 || major >= 6) fail(`major type ${major} is not allowed`);
    const n = argument(initial & 31);
    switch (major) {
      case 0:
        return n;
      case 2:
      case 3: {
        if (at + n > bytes.length) fail('truncated');
        const content = bytes.slice(at, at + n);
        at += n;
        return major === 2 ? content : fromUtf8.decode(content);
      }
      case 4:
        return Array.from({ length: n }, () => item(depth + 1));
      default: {
        const map: { [key: string]: Cbor } = Object.create(null);
        let previous: Uint8Array | undefined;
        for (let i = 0; i < n; i++) {
          const start = at;
          const key = item(depth + 1);
          if (typeof key !== 'string') fail('a map key that is not text');
          const encoded = bytes.subarray(start, at);
          if (previous && compareBytes(previous, encoded) >= 0) fail('map keys out of order or repeated');
          previous = encoded;
          map[key as string] = item(depth + 1);
        }
        return map;
      }
    }
  };
  const value = item(0);
  if (at !== bytes.length) fail('trailing bytes');
  return value;
}

// ---- §2 Ed25519 identity ---------------------------------------------------------------------

const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface Identity {
  userId: string;
  privateKey: KeyObject;
  /** 32 raw bytes. */
  publicKey: Uint8Array;
}

export function identity(userId: string, seed: Uint8Array = randomBytes(32)): Identity {
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return { userId, privateKey, publicKey: new Uint8Array(Buffer.from(jwk.x as string, 'base64url')) };
}

const ed25519 = (who: Identity, data: Uint8Array) => new Uint8Array(sign(null, data, who.privateKey));

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
export const unhex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
export const nonce = (): Uint8Array => new Uint8Array(randomBytes(16));

// ---- §3 Signed requests, §4 Authorization, §5 envelopes, §6 issue -------------------------------

export interface RequestFields {
  op: string;
  nonce: Uint8Array;
  timestamp: number;
  params: { [name: string]: string | number | Uint8Array | string[] };
}

export function requestBytes(who: Identity, r: RequestFields): Uint8Array {
  return cborEncode({
    v: 1,
    op: r.op,
    userId: who.userId,
    nonce: r.nonce,
    timestamp: r.timestamp,
    params: r.params,
  });
}

export function signedRequest(who: Identity, r: RequestFields): Uint8Array {
  const request = requestBytes(who, r);
  return cborEncode({ v: 1, signature: ed25519(who, request), request });
}

export function authorization(
  who: Identity,
  method: string,
  path: string,
  body: Uint8Array = new Uint8Array(0),
  fields: { nonce?: Uint8Array; timestamp?: number } = {},
): string {
  const signed = signedRequest(who, {
    op: 'http',
    nonce: fields.nonce ?? nonce(),
    timestamp: fields.timestamp ?? Date.now(),
    params: { method, path, body: sha256(body) },
  });
  return `PMHE-Ed25519 ${Buffer.from(signed).toString('base64')}`;
}

export interface SubmissionFields {
  modelId: string;
  presetId: string;
  template: { id: string; version: number };
  nonce: Uint8Array;
  timestamp: number;
  ciphertexts: Uint8Array[];
}

export function submissionBytes(who: Identity, s: SubmissionFields): Uint8Array {
  return cborEncode({
    v: 1,
    nonce: s.nonce,
    userId: who.userId,
    modelId: s.modelId,
    presetId: s.presetId,
    template: { id: s.template.id, version: s.template.version },
    timestamp: s.timestamp,
    ciphertexts: s.ciphertexts,
  });
}

export function envelope(who: Identity, s: SubmissionFields): Uint8Array {
  const submission = submissionBytes(who, s);
  return cborEncode({ v: 1, signature: ed25519(who, submission), submission });
}

export const submissionId = (envelopeBytes: Uint8Array): string => sha256(envelopeBytes);

export function issueRequest(
  who: Identity,
  id: string,
  fields: { nonce?: Uint8Array; timestamp?: number } = {},
) {
  return signedRequest(who, {
    op: 'issue',
    nonce: fields.nonce ?? nonce(),
    timestamp: fields.timestamp ?? Date.now(),
    params: { submissions: [id] },
  });
}

// ---- §7 CKKS: presets, PMHC files ---------------------------------------------------------------

export interface Preset {
  id: string;
  code: number;
  n: number;
  bits: number[];
  scaleBits: number;
}

export const PRESETS = {
  'paper-p1': { id: 'paper-p1', code: 1, n: 8192, bits: [60, 40, 40, 60], scaleBits: 40 },
  'paper-p2': { id: 'paper-p2', code: 2, n: 8192, bits: [50, 30, 30, 30, 50], scaleBits: 30 },
  'secure-4096': { id: 'secure-4096', code: 3, n: 4096, bits: [40, 29, 40], scaleBits: 29 },
  'secure-16384': {
    id: 'secure-16384',
    code: 4,
    n: 16384,
    bits: [60, 40, 40, 40, 40, 40, 40, 40, 60],
    scaleBits: 40,
  },
  'secure-32768': {
    id: 'secure-32768',
    code: 5,
    n: 32768,
    bits: [60, ...Array<number>(15).fill(50), 60],
    scaleBits: 50,
  },
} satisfies Record<string, Preset>;

export function presetOf(id: string): Preset {
  const preset = (PRESETS as Record<string, Preset | undefined>)[id];
  if (!preset) throw new Error(`unknown preset ${id}`);
  return preset;
}

export const KIND = { ciphertext: 1, publicKey: 2, secretKey: 3, relinKeys: 4, galoisKeys: 5 } as const;

export function pmhcWrap(
  kind: keyof typeof KIND,
  preset: Preset,
  payload: Uint8Array,
  flags = 0,
): Uint8Array {
  const out = new Uint8Array(16 + payload.length);
  const view = new DataView(out.buffer);
  out.set(utf8.encode('PMHC'), 0);
  out[4] = 1;
  out[5] = KIND[kind];
  out[6] = preset.code;
  out[7] = flags;
  view.setUint32(8, payload.length, true);
  view.setUint32(12, crc32(payload) >>> 0, true);
  out.set(payload, 16);
  return out;
}

export function pmhcUnwrap(bytes: Uint8Array, kind: keyof typeof KIND, preset: Preset): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 16 || fromUtf8.decode(bytes.subarray(0, 4)) !== 'PMHC')
    throw new Error('not a PMHC file');
  if (bytes[4] !== 1 || bytes[5] !== KIND[kind] || bytes[6] !== preset.code) {
    throw new Error(`PMHC header ${hex(bytes.subarray(4, 8))}: not a version-1 ${kind} of ${preset.id}`);
  }
  const length = view.getUint32(8, true);
  const payload = bytes.subarray(16);
  if (payload.length !== length)
    throw new Error(`PMHC payload of ${payload.length} bytes, header says ${length}`);
  if (crc32(payload) >>> 0 !== view.getUint32(12, true)) throw new Error('PMHC checksum mismatch');
  return payload;
}

type Seal = Awaited<ReturnType<typeof SEAL>>;
let sealModule: Promise<Seal> | undefined;

/** §7: one SEAL context per preset; keys, seeded symmetric encryption, decryption. */
export class Ckks {
  readonly preset: Preset;
  readonly slots: number;
  readonly #seal: Seal;
  readonly #context: InstanceType<Seal['SEALContext']>;
  readonly #keygen: InstanceType<Seal['KeyGenerator']>;
  readonly #encoder: InstanceType<Seal['CKKSEncoder']>;
  readonly #encryptor: InstanceType<Seal['Encryptor']>;
  readonly #decryptor: InstanceType<Seal['Decryptor']>;

  private constructor(seal: Seal, preset: Preset) {
    this.#seal = seal;
    this.preset = preset;
    this.slots = preset.n / 2;
    const parms = new seal.EncryptionParameters(seal.SchemeType.ckks);
    parms.setPolyModulusDegree(preset.n);
    parms.setCoeffModulus(seal.CoeffModulus.Create(preset.n, Int32Array.from(preset.bits)));
    this.#context = new seal.SEALContext(parms, true, seal.SecLevelType.tc128);
    if (!this.#context.parametersSet()) throw new Error(`SEAL refused ${preset.id}`);
    this.#keygen = new seal.KeyGenerator(this.#context);
    const secretKey = this.#keygen.secretKey();
    this.#encoder = new seal.CKKSEncoder(this.#context);
    this.#encryptor = new seal.Encryptor(this.#context, this.#keygen.createPublicKey(), secretKey);
    this.#decryptor = new seal.Decryptor(this.#context, secretKey);
  }

  static async create(preset: Preset): Promise<Ckks> {
    sealModule ??= SEAL();
    return new Ckks(await sealModule, preset);
  }

  /** A PMHC file of the seeded symmetric encryption of `values` (zeros after them) at Δ. */
  encrypt(values: readonly number[]): Uint8Array {
    const slots = new Float64Array(this.slots);
    slots.set(values);
    const plain = new this.#seal.Plaintext();
    this.#encoder.encode(slots, 2 ** this.preset.scaleBits, plain);
    const serializable = this.#encryptor.encryptSymmetricSerializable(plain);
    const payload = serializable.saveToArray(this.#seal.ComprModeType.zstd) as Uint8Array;
    serializable.delete();
    plain.delete();
    return pmhcWrap('ciphertext', this.preset, payload, 1);
  }

  galoisKeys(steps: readonly number[]): Uint8Array {
    const keys = this.#keygen.createGaloisKeysSerializableWithSteps(Int32Array.from(steps));
    const payload = keys.saveToArray(this.#seal.ComprModeType.zstd) as Uint8Array;
    keys.delete();
    return pmhcWrap('galoisKeys', this.preset, payload);
  }

  relinKeys(): Uint8Array {
    const keys = this.#keygen.createRelinKeysSerializable();
    const payload = keys.saveToArray(this.#seal.ComprModeType.zstd) as Uint8Array;
    keys.delete();
    return pmhcWrap('relinKeys', this.preset, payload);
  }

  /** The first `count` slots of a PMHC ciphertext file. */
  decrypt(file: Uint8Array, count = 1): number[] {
    const ciphertext = new this.#seal.Ciphertext();
    ciphertext.loadFromArray(this.#context, pmhcUnwrap(file, 'ciphertext', this.preset));
    const plain = new this.#seal.Plaintext();
    this.#decryptor.decrypt(ciphertext, plain);
    const values = Array.from(this.#encoder.decodeFloat64(plain) as Float64Array).slice(0, count);
    ciphertext.delete();
    plain.delete();
    return values;
  }
}

// ---- §9 Tuples, §10 models -------------------------------------------------------------------

export interface Reading {
  x: number;
  y: number;
  z: number;
  w: number;
}

export interface Element {
  name: string;
  fn: string;
  of?: string | [string, string];
  k?: number;
  from?: number | null;
  to?: number | null;
  field?: string;
  center?: number;
  spread?: number;
}

export interface Template {
  id: string;
  version: number;
  preset: string;
  layout: 'paper' | 'packed' | 'batch';
  elements: Element[];
  /** §9.3: packed, the elements are written this many times at a power-of-two stride. */
  copies?: number;
  result: { name: string; output: number; slot: number }[];
}

/** §9: an element's value for one reading (the meta-functions a real-time reading can use). */
export function elementValue(e: Element, r: Reading, profile: Record<string, number> = {}): number {
  const v = (name: unknown) => r[name as keyof Reading];
  switch (e.fn) {
    case 'vital':
      return v(e.of);
    case 'power':
      return v(e.of) ** (e.k as number);
    case 'product':
      return v((e.of as string[])[0]) * v((e.of as string[])[1]);
    case 'deviation':
      return ((v(e.of) - (e.center as number)) / (e.spread as number)) ** (e.k ?? 1);
    case 'pulsePressure':
      return r.z - r.y;
    case 'meanArterialPressure':
      return (r.z + 2 * r.y) / 3;
    case 'shockIndex':
      return r.x / r.z;
    case 'band':
      return (e.from == null || v(e.of) >= e.from) && (e.to == null || v(e.of) < e.to) ? 1 : 0;
    case 'profile':
      return profile[e.field as string] as number;
    default:
      throw new Error(`meta-function ${e.fn} is not for a single reading`);
  }
}

/** §9: the vectors to encrypt for one reading in the paper or packed layout. */
export function tupleVectors(
  template: Template,
  r: Reading,
  profile: Record<string, number> = {},
): number[][] {
  const values = template.elements.map((e) => elementValue(e, r, profile));
  if (template.layout !== 'packed') return values.map((value) => [value]);
  const copies = template.copies ?? 1;
  const stride = 2 ** Math.ceil(Math.log2(values.length));
  const vector = new Array<number>(copies === 1 ? values.length : stride * (copies - 1) + values.length).fill(
    0,
  );
  for (let b = 0; b < copies; b++) {
    for (const [i, value] of values.entries()) vector[b * stride + i] = value;
  }
  return [vector];
}

/** §10: NEWS2 vital-sign scores, straight from the table. */
export function news2(r: Reading): { rrScore: number; sbpScore: number; hrScore: number; total: number } {
  const score = (v: number, bands: [number, number, number][]) =>
    bands.find(([from, to]) => v >= from && v < to)?.[2] ?? 0;
  const rrScore = score(r.w, [
    [-Infinity, 9, 3],
    [9, 12, 1],
    [12, 21, 0],
    [21, 25, 2],
    [25, Infinity, 3],
  ]);
  const sbpScore = score(r.z, [
    [-Infinity, 91, 3],
    [91, 101, 2],
    [101, 111, 1],
    [111, 220, 0],
    [220, Infinity, 3],
  ]);
  const hrScore = score(r.x, [
    [-Infinity, 41, 3],
    [41, 51, 1],
    [51, 91, 0],
    [91, 111, 1],
    [111, 131, 2],
    [131, Infinity, 3],
  ]);
  return { rrScore, sbpScore, hrScore, total: rrScore + sbpScore + hrScore };
}

// ---- §12 HTTP --------------------------------------------------------------------------------

export interface Reply<T> {
  status: number;
  body: T;
}

export class Http {
  readonly base: string;
  readonly who: Identity;

  constructor(base: string, who: Identity) {
    this.base = base.replace(/\/+$/, '');
    this.who = who;
  }

  /** A request; signed unless `signed` is false. CBOR bodies go as application/cbor. */
  async call<T = unknown>(method: string, path: string, body?: Uint8Array, signed = true): Promise<Reply<T>> {
    const headers: Record<string, string> = {};
    if (body) headers['content-type'] = 'application/cbor';
    if (signed) headers.authorization = authorization(this.who, method, path, body);
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers,
      ...(body ? { body: body as BodyInit } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /**
   * §12.8: the event stream. Resolves with the first `result` event for `submissionId`, or
   * undefined if `signal` aborts first. `opened` resolves once the server answered 200.
   */
  events(
    submissionId: string,
    signal: AbortSignal,
  ): { opened: Promise<void>; result: Promise<string | undefined> } {
    let opened!: () => void;
    let failed!: (e: unknown) => void;
    const openedPromise = new Promise<void>((resolve, reject) => {
      opened = resolve;
      failed = reject;
    });
    const result = (async () => {
      const path = '/v1/events';
      const res = await fetch(`${this.base}${path}`, {
        headers: { authorization: authorization(this.who, 'GET', path) },
        signal,
      }).catch((e: unknown) => {
        failed(e);
        throw e;
      });
      if (res.status !== 200 || !res.body) {
        const error = new Error(`GET /v1/events: ${res.status}`);
        failed(error);
        throw error;
      }
      opened();
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const frame = buffer.slice(0, end).split('\n');
            buffer = buffer.slice(end + 2);
            const event = frame
              .find((l) => l.startsWith('event:'))
              ?.slice(6)
              .trim();
            const data = frame
              .filter((l) => l.startsWith('data:'))
              .map((l) => l.slice(5).replace(/^ /, ''))
              .join('\n');
            if (event !== 'result') continue;
            const parsed = JSON.parse(data) as { resultId: string; submissionId: string };
            if (parsed.submissionId === submissionId) return parsed.resultId;
          }
        }
      } catch (error) {
        if (!signal.aborted) throw error;
      }
      return undefined;
    })();
    return { opened: openedPromise, result };
  }
}
