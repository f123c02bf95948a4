/**
 * Canonical CBOR for signed messages. Encoding is cborg's RFC 8949 §4.2.1 core deterministic
 * form (shortest heads, definite lengths, map keys sorted bytewise). Decoding is a strict reader
 * that accepts only items that encoder can produce for our messages: integers, byte strings,
 * UTF-8 text, definite arrays, and maps with text keys in canonical order. Anything else is
 * refused with the path of the offending item, so a signature always covers exactly one
 * meaning and a verifier never has to guess.
 */
import { encode, rfc8949EncodeOptions, type Token, Tokenizer } from 'cborg';
import { ProtocolError } from './errors.ts';

export type CborValue = number | string | Uint8Array | CborValue[] | CborMap;
/** Maps decode to `Map` so that keys such as "__proto__" are plain data. */
export type CborMap = Map<string, CborValue>;

/** Our messages nest three levels deep at most; the limit keeps hostile input off the stack. */
const MAX_DEPTH = 8;

/** cborg reads the values; the head checks below run first so that its errors mean truncation. */
const TOKENIZER_OPTIONS = { strict: true, allowIndefinite: false, allowBigInt: false } as const;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Encodes a value of plain objects, arrays, strings, safe integers and Uint8Arrays canonically. */
export function encodeCanonical(value: unknown): Uint8Array {
  return plain(encode(value, rfc8949EncodeOptions));
}

/**
 * In Node cborg hands out Buffers, and Buffer#slice makes views, not copies. Plain Uint8Arrays
 * keep results identical across Node and browsers, and decoded fields independent of the input.
 */
function plain(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes);
}

/**
 * Decodes exactly one canonical CBOR item filling all of `bytes`. `what` names the item in
 * messages about the whole; `prefix` is put before field paths ("" or "envelope.").
 */
export function decodeStrict(bytes: Uint8Array, what: string, prefix = ''): CborValue {
  // A plain view (no copy) of a Buffer, so that cborg's slices of it are copies.
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const reader = new StrictReader(view, what, prefix);
  const value = reader.read('', 0);
  const trailing = bytes.length - reader.position;
  if (trailing > 0) {
    throw new ProtocolError(
      'MALFORMED',
      `${what}: ${trailing} trailing byte${trailing === 1 ? '' : 's'} after the CBOR item`,
    );
  }
  return value;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Bytewise lexicographic order: the RFC 8949 §4.2.1 order of encoded map keys. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

const MAJOR_NAMES = ['integer', 'negative integer', 'byte string', 'text string', 'array', 'map'];

class StrictReader {
  readonly #data: Uint8Array;
  readonly #tokens: Tokenizer;
  readonly #what: string;
  readonly #prefix: string;

  constructor(data: Uint8Array, what: string, prefix: string) {
    this.#data = data;
    this.#tokens = new Tokenizer(data, TOKENIZER_OPTIONS);
    this.#what = what;
    this.#prefix = prefix;
  }

  get position(): number {
    return this.#tokens.pos();
  }

  #name(path: string): string {
    return path === '' ? this.#what : `${this.#prefix}${path}`;
  }

  read(path: string, depth: number): CborValue {
    const name = this.#name(path);
    if (depth > MAX_DEPTH) throw new ProtocolError('MALFORMED', `${name}: nested deeper than ${MAX_DEPTH}`);
    const start = this.position;
    this.#checkHead(start, name);
    let token: Token;
    try {
      token = this.#tokens.next();
    } catch (e) {
      const reason = e instanceof Error ? e.message.replace(/^CBOR decode error:\s*/, '') : String(e);
      throw new ProtocolError('MALFORMED', `${name}: ${reason} (at byte ${start} of ${this.#data.length})`);
    }
    switch (token.type.name) {
      case 'uint':
      case 'negint':
        return token.value as number;
      case 'bytes':
        return token.value as Uint8Array;
      case 'string':
        return this.#text(start, token, name);
      case 'array':
        return this.#array(token.value as number, path, depth);
      case 'map':
        return this.#map(token.value as number, path, depth);
      case 'float': {
        const v = token.value as number;
        // Our messages carry no floats: an integral one is another spelling of an integer.
        if (Number.isInteger(v)) {
          throw new ProtocolError(
            'NOT_CANONICAL',
            `${name}: integer ${v} written as a floating-point number`,
          );
        }
        throw new ProtocolError(
          'BAD_FIELD',
          `${name}: expected an integer, got the floating-point number ${v}`,
        );
      }
      default:
        throw new ProtocolError('MALFORMED', `${name}: unsupported CBOR item ${token.type.name}`);
    }
  }

  /** Rejects non-canonical heads (longer integer forms, indefinite lengths) and unsupported items. */
  #checkHead(pos: number, name: string): void {
    const data = this.#data;
    const initial = data[pos];
    if (initial === undefined) {
      throw new ProtocolError('MALFORMED', `${name}: input ends early (truncated at byte ${pos})`);
    }
    const major = initial >> 5;
    const minor = initial & 31;
    if (major === 6) throw new ProtocolError('MALFORMED', `${name}: CBOR tags are not allowed`);
    if (major === 7) {
      if (minor >= 25 && minor <= 27) return; // floats: judged in read() with the value at hand
      if (minor === 31) throw new ProtocolError('MALFORMED', `${name}: unexpected "break" byte`);
      const simple = ['false', 'true', 'null', 'undefined'][minor - 20];
      throw new ProtocolError('BAD_FIELD', `${name}: unexpected simple value ${simple ?? `#${minor}`}`);
    }
    if (minor >= 28 && minor <= 30) {
      throw new ProtocolError('MALFORMED', `${name}: reserved additional information ${minor}`);
    }
    if (minor === 31) {
      if (major <= 1) throw new ProtocolError('MALFORMED', `${name}: reserved additional information 31`);
      throw new ProtocolError('NOT_CANONICAL', `${name}: indefinite-length ${MAJOR_NAMES[major]}`);
    }
    if (minor < 24) return;
    const size = 1 << (minor - 24); // 1, 2, 4 or 8 bytes of argument
    if (pos + 1 + size > data.length) return; // truncated: cborg reports it
    let high = 0;
    let low = 0;
    for (let i = 0; i < size; i++) {
      const b = data[pos + 1 + i] as number;
      if (size === 8 && i < 4) high = high * 256 + b;
      else low = low * 256 + b;
    }
    const smallest = size === 1 ? 24 : size === 2 ? 256 : size === 4 ? 65536 : 0;
    if ((size === 8 && high === 0) || (size < 8 && low < smallest)) {
      const value = high * 2 ** 32 + low;
      throw new ProtocolError(
        'NOT_CANONICAL',
        `${name}: ${MAJOR_NAMES[major]} head ${value} written in ${size + 1} bytes, longer than necessary`,
      );
    }
    if (high * 2 ** 32 + low > Number.MAX_SAFE_INTEGER) {
      throw new ProtocolError('MALFORMED', `${name}: integer or length beyond 2^53 - 1`);
    }
  }

  /** Decodes text ourselves, strictly: cborg replaces invalid UTF-8 and drops a leading BOM. */
  #text(start: number, token: Token, name: string): string {
    const end = start + (token.encodedLength ?? 0);
    try {
      return utf8.decode(this.#data.subarray(end - this.#contentLength(start), end));
    } catch {
      throw new ProtocolError('MALFORMED', `${name}: text is not valid UTF-8`);
    }
  }

  /** Length of the content that follows the head starting at `start` (definite items only). */
  #contentLength(start: number): number {
    const minor = (this.#data[start] as number) & 31;
    if (minor < 24) return minor;
    let n = 0;
    for (let i = 0; i < 1 << (minor - 24); i++) n = n * 256 + (this.#data[start + 1 + i] as number);
    return n;
  }

  #array(count: number, path: string, depth: number): CborValue[] {
    this.#checkCount(count, path);
    const items: CborValue[] = [];
    for (let i = 0; i < count; i++) items.push(this.read(`${path}[${i}]`, depth + 1));
    return items;
  }

  #map(count: number, path: string, depth: number): CborMap {
    this.#checkCount(count, path);
    const map: CborMap = new Map();
    let previous: Uint8Array | undefined;
    let previousKey = '';
    for (let i = 0; i < count; i++) {
      const keyStart = this.position;
      const initial = this.#data[keyStart];
      if (initial !== undefined && initial >> 5 !== 3) {
        throw new ProtocolError('MALFORMED', `${this.#name(path)}: map keys must be text strings`);
      }
      const key = this.read(path, depth + 1) as string;
      const keyBytes = this.#data.subarray(keyStart, this.position);
      if (previous !== undefined) {
        const order = compareBytes(previous, keyBytes);
        if (order === 0)
          throw new ProtocolError('MALFORMED', `${this.#name(path)}: key "${key}" appears twice`);
        if (order > 0) {
          throw new ProtocolError(
            'NOT_CANONICAL',
            `${this.#name(path)}: key "${key}" comes after "${previousKey}", out of canonical order`,
          );
        }
      }
      previous = keyBytes;
      previousKey = key;
      map.set(key, this.read(path === '' ? key : `${path}.${key}`, depth + 1));
    }
    return map;
  }

  /** Every item takes at least one byte: a larger count is a lie, refused before any loop. */
  #checkCount(count: number, path: string): void {
    const remaining = this.#data.length - this.position;
    if (count > remaining) {
      throw new ProtocolError(
        'MALFORMED',
        `${this.#name(path)}: declares ${count} items but only ${remaining} bytes remain`,
      );
    }
  }
}
