/**
 * The file format around every serialized key or ciphertext: a 16-byte header, then SEAL's own
 * (zstd-compressed) serialization. The header lets a wrong, foreign, truncated or corrupted file
 * be refused with a precise error before a single byte reaches SEAL.
 *
 *   0  magic "PMHC"        4 bytes
 *   4  format version      u8 (1)
 *   5  kind                u8 (see KIND)
 *   6  preset code         u8 (Preset.code)
 *   7  flags               u8 (bit 0: seeded symmetric ciphertext)
 *   8  payload length      u32 little-endian
 *  12  payload CRC-32      u32 little-endian
 *  16  payload (SEAL serialization)
 */
import CRC32 from 'crc-32';
import { CkksError } from './errors.ts';
import { type Preset, presetByCode } from './presets.ts';

export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 16;
const MAGIC = [0x50, 0x4d, 0x48, 0x43]; // "PMHC"

export const KIND = Object.freeze({
  ciphertext: 1,
  publicKey: 2,
  secretKey: 3,
  relinKeys: 4,
  galoisKeys: 5,
});
export type Kind = keyof typeof KIND;
const KIND_NAMES = new Map<number, Kind>(Object.entries(KIND).map(([name, code]) => [code, name as Kind]));

export const FLAG_SEEDED = 1;

/** Most Galois keys one file may hold: two per power of two up to N/2, plus a few arbitrary steps. */
export const MAX_GALOIS_KEYS = 64;

/**
 * Upper bound on a payload's bytes: SEAL's uncompressed size of the largest valid object of
 * that kind (8-byte words: polys × N × primes), plus room for SEAL's own metadata.
 */
export function maxPayloadBytes(kind: Kind, preset: Preset): number {
  const n = preset.polyModulusDegree;
  const dataPrimes = preset.coeffModulusBits.length - 1;
  const keyPrimes = preset.coeffModulusBits.length;
  const slack = 4096;
  switch (kind) {
    case 'ciphertext':
      // Three polynomials: an unrelinearized product still loads, to be refused by name.
      return 3 * n * dataPrimes * 8 + slack;
    case 'publicKey':
      return 2 * n * keyPrimes * 8 + slack;
    case 'secretKey':
      return n * keyPrimes * 8 + slack;
    case 'relinKeys':
      return dataPrimes * (2 * n * keyPrimes * 8 + slack) + slack;
    case 'galoisKeys':
      return MAX_GALOIS_KEYS * (dataPrimes * (2 * n * keyPrimes * 8 + slack) + slack);
  }
}

function crc32(bytes: Uint8Array): number {
  return CRC32.buf(bytes) >>> 0;
}

export function wrap(kind: Kind, preset: Preset, payload: Uint8Array, flags = 0): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint8(4, FORMAT_VERSION);
  view.setUint8(5, KIND[kind]);
  view.setUint8(6, preset.code);
  view.setUint8(7, flags);
  view.setUint32(8, payload.length, true);
  view.setUint32(12, crc32(payload), true);
  out.set(payload, HEADER_BYTES);
  return out;
}

export interface Unwrapped {
  kind: Kind;
  preset: Preset;
  flags: number;
  payload: Uint8Array;
}

/** Reads only the header: what a file claims to be, without checking its payload. */
export function describe(bytes: Uint8Array): {
  kind: Kind;
  preset: Preset;
  flags: number;
  payloadBytes: number;
} {
  if (!(bytes instanceof Uint8Array)) {
    throw new CkksError(
      'INPUT_TYPE',
      `expected bytes (Uint8Array), got ${bytes === null ? 'null' : typeof bytes}`,
    );
  }
  if (bytes.length < HEADER_BYTES) {
    throw new CkksError('TRUNCATED', `expected at least ${HEADER_BYTES} header bytes, got ${bytes.length}`);
  }
  if (!MAGIC.every((b, i) => bytes[i] === b)) {
    throw new CkksError('BAD_MAGIC', 'not a PMHE CKKS file (magic "PMHC" missing)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(4);
  if (version !== FORMAT_VERSION) {
    throw new CkksError(
      'BAD_VERSION',
      `format version ${version} is not supported (this code reads ${FORMAT_VERSION})`,
    );
  }
  const kind = KIND_NAMES.get(view.getUint8(5));
  if (!kind) throw new CkksError('BAD_KIND', `unknown object kind ${view.getUint8(5)}`);
  const preset = presetByCode(view.getUint8(6));
  if (!preset) throw new CkksError('UNKNOWN_PRESET', `unknown preset code ${view.getUint8(6)}`);
  return { kind, preset, flags: view.getUint8(7), payloadBytes: view.getUint32(8, true) };
}

/**
 * Checks a file against what the caller expects (kind and preset) and returns its payload.
 * Every refusal names the expectation and what was found.
 */
export function unwrap(bytes: Uint8Array, expected: { kind: Kind; preset: Preset }): Unwrapped {
  const head = describe(bytes);
  if (head.kind !== expected.kind) {
    throw new CkksError('BAD_KIND', `expected a ${expected.kind}, got a ${head.kind}`);
  }
  if (head.preset.id !== expected.preset.id) {
    throw new CkksError(
      'FOREIGN_PRESET',
      `this ${head.kind} was made under preset ${head.preset.id}, not ${expected.preset.id}`,
    );
  }
  const bound = maxPayloadBytes(head.kind, head.preset);
  if (head.payloadBytes > bound) {
    throw new CkksError(
      'OVERSIZED',
      `declared ${head.kind} payload of ${head.payloadBytes} bytes exceeds the ${bound}-byte bound for ${head.preset.id}`,
    );
  }
  const actual = bytes.length - HEADER_BYTES;
  if (actual < head.payloadBytes) {
    throw new CkksError(
      'TRUNCATED',
      `${head.kind} truncated: header declares ${head.payloadBytes} bytes, got ${actual}`,
    );
  }
  if (actual > head.payloadBytes) {
    throw new CkksError(
      'OVERSIZED',
      `${head.kind} has ${actual - head.payloadBytes} bytes after its declared ${head.payloadBytes}-byte payload`,
    );
  }
  // A plain Uint8Array view whatever subclass came in: node-seal's loadFromArray refuses a Node
  // Buffer ("expected Uint8Array"), and fabric-shim hands the contract Buffers.
  const payload = new Uint8Array(bytes.buffer, bytes.byteOffset + HEADER_BYTES, actual);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stored = view.getUint32(12, true);
  const computed = crc32(payload);
  if (stored !== computed) {
    throw new CkksError(
      'CHECKSUM',
      `${head.kind} payload checksum mismatch (stored ${stored.toString(16)}, computed ${computed.toString(16)}): corrupted`,
    );
  }
  return { kind: head.kind, preset: head.preset, flags: head.flags, payload };
}
