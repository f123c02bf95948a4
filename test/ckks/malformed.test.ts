/**
 * The door: every kind of malformed, foreign or corrupted input gets a typed CkksError with a
 * code and a message saying what was wrong; nothing raw from WebAssembly leaks; nothing already
 * accepted is lost (the same context keeps working after each refusal).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import zlib from 'node:zlib';
import CRC32 from 'crc-32';
import {
  type CipherVector,
  CkksError,
  type CkksErrorCode,
  HEADER_BYTES,
  loadCiphertext,
  loadKey,
  maxPayloadBytes,
  wasmHeapBytes,
} from '../../src/ckks/index.ts';
import { type Kit, kit, maxAbsError } from './fixtures.ts';

let k: Kit;
let foreign: Kit;
let valid: Uint8Array;
let validSeeded: Uint8Array;
before(async () => {
  k = await kit('paper-p2', [1]);
  foreign = await kit('paper-p1', [1]);
  valid = k.encryptor.encryptToBytes([72, 80, 120, 16]);
  validSeeded = k.symmetric.encryptToBytes([72, 80, 120, 16]);
});
after(() => {
  k.dispose();
  foreign.dispose();
});

const SEAL_SIZE_OFFSET = 8; // SEAL's own 16-byte header: magic, sizes, compression mode, total size
const SEAL_COMPRESSION_OFFSET = 5;

function edit(bytes: Uint8Array, change: (b: Uint8Array, view: DataView) => void): Uint8Array {
  const copy = bytes.slice();
  change(copy, new DataView(copy.buffer));
  return copy;
}
/** Rewrites the header's length and CRC so a change inside the payload passes our checks and reaches SEAL. */
function reseal(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const payload = bytes.subarray(HEADER_BYTES);
  view.setUint32(8, payload.length, true);
  view.setUint32(12, CRC32.buf(payload) >>> 0, true);
  return bytes;
}
function withPayload(bytes: Uint8Array, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  out.set(bytes.subarray(0, HEADER_BYTES));
  out.set(payload, HEADER_BYTES);
  return reseal(out);
}
/** A valid ciphertext's SEAL members followed by `extra` zero bytes, zstd-compressed: a small file that inflates hugely. */
function zstdBomb(extra: number, fill: Buffer = Buffer.alloc(1)): Uint8Array {
  const payload = valid.subarray(HEADER_BYTES);
  const members = zlib.zstdDecompressSync(payload.subarray(16));
  const compressed = zlib.zstdCompressSync(Buffer.concat([members, Buffer.alloc(extra, fill)]));
  const seal = new Uint8Array(16 + compressed.length);
  seal.set(payload.subarray(0, 16));
  seal.set(compressed, 16);
  new DataView(seal.buffer).setBigUint64(8, BigInt(seal.length), true);
  return withPayload(valid, seal);
}

/**
 * The bomb's frame with its declared content size patched to the valid ciphertext's; padded with
 * a repeating pattern, so its blocks are compressed ones (whose output only zstd itself knows).
 */
function lyingBomb(extra: number): Uint8Array {
  const bytes = zstdBomb(extra, Buffer.from('0123456789abcdefghijklmnopqrstuv')).slice();
  const view = new DataView(bytes.buffer);
  const frame = HEADER_BYTES + 16;
  const descriptor = view.getUint8(frame + 4);
  assert.equal(descriptor >> 6, 2, 'node:zstd writes a 4-byte content size here');
  const at = frame + 5 + ((descriptor >> 5) & 1 ? 0 : 1);
  const honest = zlib.zstdDecompressSync(valid.subarray(HEADER_BYTES + 16)).length;
  view.setUint32(at, honest, true);
  return reseal(bytes);
}

/** The valid ciphertext's members in a zstd frame written without its content size. */
function undeclaredSize(): Uint8Array {
  const payload = valid.subarray(HEADER_BYTES);
  const members = zlib.zstdDecompressSync(payload.subarray(16));
  const compressed = zlib.zstdCompressSync(members, {
    params: { [zlib.constants.ZSTD_c_contentSizeFlag]: 0 },
  });
  const seal = new Uint8Array(16 + compressed.length);
  seal.set(payload.subarray(0, 16));
  seal.set(compressed, 16);
  new DataView(seal.buffer).setBigUint64(8, BigInt(seal.length), true);
  return withPayload(valid, seal);
}

function threePolynomials(mode: Parameters<CipherVector['handle']['saveToArray']>[0]): Uint8Array {
  using x = k.encryptor.encrypt([3]);
  const out = new k.context.seal.Ciphertext();
  try {
    k.context.sealEvaluator.multiply(x.handle, x.handle, out);
    return withPayload(valid, out.saveToArray(mode) as Uint8Array);
  } finally {
    out.delete();
  }
}

function ciphertextBytes(make: () => CipherVector): Uint8Array {
  using ct = make();
  return ct.save();
}

interface Case {
  name: string;
  input: () => unknown;
  code: CkksErrorCode;
  message: RegExp;
  load?: (bytes: unknown) => unknown;
}

const cases: Case[] = [
  {
    name: 'empty input',
    input: () => new Uint8Array(0),
    code: 'TRUNCATED',
    message: /at least 16 header bytes, got 0/,
  },
  { name: 'shorter than the header', input: () => valid.slice(0, 10), code: 'TRUNCATED', message: /got 10/ },
  {
    name: 'a string instead of bytes',
    input: () => 'PMHC...',
    code: 'INPUT_TYPE',
    message: /expected bytes.*string/,
  },
  { name: 'null', input: () => null, code: 'INPUT_TYPE', message: /got null/ },
  {
    name: 'wrong magic',
    input: () => edit(valid, (b) => b.set([0x7f, 0x45, 0x4c, 0x46])),
    code: 'BAD_MAGIC',
    message: /PMHC/,
  },
  {
    name: 'a raw SEAL ciphertext without our header',
    input: () => valid.slice(HEADER_BYTES),
    code: 'BAD_MAGIC',
    message: /not a PMHE CKKS file/,
  },
  {
    name: 'future format version',
    input: () => edit(valid, (_, v) => v.setUint8(4, 2)),
    code: 'BAD_VERSION',
    message: /version 2/,
  },
  {
    name: 'unknown kind byte',
    input: () => edit(valid, (_, v) => v.setUint8(5, 99)),
    code: 'BAD_KIND',
    message: /unknown object kind 99/,
  },
  {
    name: 'a public key where a ciphertext is expected',
    input: () => k.secret.savePublicKey(),
    code: 'BAD_KIND',
    message: /expected a ciphertext, got a publicKey/,
  },
  {
    name: 'unknown preset code',
    input: () => edit(valid, (_, v) => v.setUint8(6, 77)),
    code: 'UNKNOWN_PRESET',
    message: /preset code 77/,
  },
  {
    name: 'a ciphertext of another preset (paper-p1)',
    input: () => foreign.encryptor.encryptToBytes([1, 2]),
    code: 'FOREIGN_PRESET',
    message: /made under preset paper-p1, not paper-p2/,
  },
  {
    name: 'truncated to half',
    input: () => valid.slice(0, valid.length >> 1),
    code: 'TRUNCATED',
    message: /truncated: header declares/,
  },
  { name: 'missing its last byte', input: () => valid.slice(0, -1), code: 'TRUNCATED', message: /truncated/ },
  {
    name: 'one trailing byte',
    input: () => Uint8Array.from([...valid, 0]),
    code: 'OVERSIZED',
    message: /1 bytes after its declared/,
  },
  {
    name: 'declared length above the preset bound',
    input: () => edit(valid, (_, v) => v.setUint32(8, 0x7fffffff, true)),
    code: 'OVERSIZED',
    message: /exceeds the \d+-byte bound for paper-p2/,
  },
  {
    name: 'a flipped bit in the payload',
    input: () =>
      edit(valid, (b) => {
        b[HEADER_BYTES + 5000] = (b[HEADER_BYTES + 5000] as number) ^ 0x10;
      }),
    code: 'CHECKSUM',
    message: /checksum mismatch/,
  },
  {
    name: 'a flipped bit in the last byte',
    input: () =>
      edit(valid, (b) => {
        b[b.length - 1] = (b[b.length - 1] as number) ^ 1;
      }),
    code: 'CHECKSUM',
    message: /corrupted/,
  },
  {
    name: 'a corrupted checksum field',
    input: () =>
      edit(valid, (b) => {
        b[12] = (b[12] as number) ^ 0xff;
      }),
    code: 'CHECKSUM',
    message: /checksum/,
  },
  {
    name: 'random payload with a valid header and checksum',
    input: () =>
      withPayload(
        valid,
        Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24),
      ),
    code: 'SEAL_REJECTED',
    message: /loading a ciphertext: .+/,
  },
  {
    name: "SEAL's magic corrupted (checksum recomputed)",
    input: () =>
      reseal(
        edit(valid, (b) => {
          b[HEADER_BYTES] = 0;
        }),
      ),
    code: 'SEAL_REJECTED',
    message: /loading a ciphertext/,
  },
  {
    name: "SEAL's compression mode invalid (checksum recomputed)",
    input: () =>
      reseal(
        edit(valid, (b) => {
          b[HEADER_BYTES + SEAL_COMPRESSION_OFFSET] = 9;
        }),
      ),
    code: 'SEAL_REJECTED',
    message: /loading a ciphertext/,
  },
  {
    name: "SEAL's declared size inflated (checksum recomputed)",
    input: () =>
      reseal(edit(valid, (_, v) => v.setUint32(HEADER_BYTES + SEAL_SIZE_OFFSET, 0x40000000, true))),
    code: 'SEAL_REJECTED',
    message: /loading a ciphertext/,
  },
  {
    name: 'payload cut short inside (length and checksum recomputed)',
    input: () => withPayload(valid, valid.slice(HEADER_BYTES, HEADER_BYTES + 2000)),
    code: 'SEAL_REJECTED',
    message: /loading a ciphertext/,
  },
  {
    name: 'a paper-p1 payload relabelled as paper-p2',
    input: () => withPayload(valid, foreign.encryptor.encryptToBytes([1]).slice(HEADER_BYTES)),
    code: 'SEAL_REJECTED',
    message: /loading a ciphertext/,
  },
  {
    name: 'a seeded ciphertext cut short inside',
    input: () => withPayload(validSeeded, validSeeded.slice(HEADER_BYTES, -100)),
    code: 'SEAL_REJECTED',
    message: /loading a ciphertext/,
  },
  {
    name: 'a zstd bomb: ~350 KB that inflates to 256 MiB',
    input: () => zstdBomb(2 ** 28),
    code: 'OVERSIZED',
    message: /inflates to \d+ bytes, past the \d+-byte bound/,
  },
  {
    name: 'valid members followed by 1 MiB of padding inside the compressed data',
    input: () => zstdBomb(2 ** 20),
    code: 'OVERSIZED',
    message: /loading a ciphertext: inflates to \d+ bytes/,
  },
  {
    name: 'a zstd bomb that under-declares its content size (256 MiB declared as 512 KiB)',
    input: () => lyingBomb(2 ** 28),
    code: 'SEAL_REJECTED',
    message: /loading a ciphertext: .*decompression failed/,
  },
  {
    name: 'a zstd frame that does not declare its content size',
    input: () => undeclaredSize(),
    code: 'SEAL_REJECTED',
    message: /does not declare its content size/,
  },
  {
    name: 'bytes after the zstd frame (lengths and checksum recomputed)',
    input: () => {
      const payload = valid.subarray(HEADER_BYTES);
      const longer = new Uint8Array(payload.length + 8);
      longer.set(payload);
      new DataView(longer.buffer).setBigUint64(8, BigInt(longer.length), true);
      return withPayload(valid, longer);
    },
    code: 'SEAL_REJECTED',
    message: /8 bytes after the zstd frame/,
  },
  {
    name: "SEAL's zlib compression mode (never produced here)",
    input: () =>
      reseal(
        edit(valid, (b) => {
          b[HEADER_BYTES + SEAL_COMPRESSION_OFFSET] = 1;
        }),
      ),
    code: 'SEAL_REJECTED',
    message: /compression mode 1 is not accepted/,
  },
  {
    name: 'an unrelinearized three-polynomial ciphertext (compressed: refused for what it is)',
    input: () => threePolynomials(k.context.seal.ComprModeType.zstd),
    code: 'INVALID_CIPHERTEXT',
    message: /3 polynomials; expected 2/,
  },
  {
    name: 'an unrelinearized three-polynomial ciphertext (uncompressed: refused by shape)',
    input: () => threePolynomials(k.context.seal.ComprModeType.none),
    code: 'INVALID_CIPHERTEXT',
    message: /3 polynomials; expected 2/,
  },
  {
    name: 'a transparent ciphertext (hides nothing)',
    input: () => {
      // Uncompressed SEAL serialization ends with the second polynomial: zero it.
      using x = k.encryptor.encrypt([3]);
      const raw = x.handle.saveToArray(k.context.seal.ComprModeType.none) as Uint8Array;
      const polyBytes = k.context.preset.polyModulusDegree * (k.context.topLevel + 1) * 8;
      raw.fill(0, raw.length - polyBytes);
      return withPayload(valid, raw);
    },
    code: 'INVALID_CIPHERTEXT',
    message: /transparent/,
  },
  {
    name: 'an absurd scale',
    input: () =>
      ciphertextBytes(() => {
        const x = k.encryptor.encrypt([3]);
        x.handle.setScale(2 ** 4);
        return x;
      }),
    code: 'INVALID_CIPHERTEXT',
    message: /scale 2\^4\.0 is outside/,
  },
  {
    name: 'a ciphertext below the level required',
    input: () =>
      ciphertextBytes(() => {
        using x = k.encryptor.encrypt([3]);
        return k.evaluator.dropToLevel(x, 0);
      }),
    code: 'LEVEL',
    message: /level 0; at least 2 is required/,
    load: (b) => loadCiphertext(k.context, b as Uint8Array, { minLevel: 2 }),
  },
  {
    name: 'relinearization keys loaded as Galois keys',
    input: () => k.secret.saveRelinKeys(),
    code: 'BAD_KIND',
    message: /expected a galoisKeys, got a relinKeys/,
    load: (b) => loadKey(k.context, 'galoisKeys', b as Uint8Array),
  },
  {
    name: 'truncated relinearization keys',
    input: () => k.secret.saveRelinKeys().slice(0, 5000),
    code: 'TRUNCATED',
    message: /relinKeys truncated/,
    load: (b) => loadKey(k.context, 'relinKeys', b as Uint8Array),
  },
  {
    name: 'Galois keys of another preset',
    input: () => foreign.secret.saveGaloisKeys([1]),
    code: 'FOREIGN_PRESET',
    message: /paper-p1/,
    load: (b) => loadKey(k.context, 'galoisKeys', b as Uint8Array),
  },
  {
    name: 'a secret key with a garbage payload',
    input: () => withPayload(k.secret.save(), new Uint8Array(3000).fill(7)),
    code: 'SEAL_REJECTED',
    message: /loading secretKey/,
    load: (b) => loadKey(k.context, 'secretKey', b as Uint8Array),
  },
  {
    name: 'a public key of another preset relabelled (checksum recomputed)',
    input: () => withPayload(k.secret.savePublicKey(), foreign.secret.savePublicKey().slice(HEADER_BYTES)),
    code: 'SEAL_REJECTED',
    message: /loading publicKey/,
    load: (b) => loadKey(k.context, 'publicKey', b as Uint8Array),
  },
];

test('the corpus has at least 20 kinds of malformed input', () => {
  assert.ok(cases.length >= 20, `${cases.length} cases`);
  assert.ok(maxPayloadBytes('ciphertext', k.context.preset) < 1 << 20);
});

for (const c of cases) {
  test(`refused: ${c.name}`, () => {
    const input = c.input();
    const load = c.load ?? ((b: unknown) => loadCiphertext(k.context, b as Uint8Array));
    assert.throws(
      () => load(input),
      (e: unknown) => {
        assert.ok(e instanceof CkksError, `expected CkksError, got ${String(e)}`);
        assert.equal(e.code, c.code, e.message);
        assert.match(e.message, c.message);
        return true;
      },
    );
    // Nothing lost: the context still loads and decrypts a valid ciphertext.
    using ok = loadCiphertext(k.context, valid);
    assert.ok(maxAbsError(k.decryptor.decrypt(ok, 4), [72, 80, 120, 16]) < 1e-4);
  });
}

test('a zstd bomb neither loads nor grows the WebAssembly heap', async () => {
  const before = await wasmHeapBytes();
  const bomb = zstdBomb(2 ** 28);
  assert.ok(bomb.length < 1 << 20, `bomb is ${bomb.length} bytes`);
  assert.throws(
    () => loadCiphertext(k.context, bomb),
    (e: unknown) => e instanceof CkksError && e.code === 'OVERSIZED',
  );
  assert.ok((await wasmHeapBytes()) - before < 8 * 2 ** 20, 'heap grew by less than 8 MiB');
});

test('a bomb that under-declares its size is stopped by zstd within one block, heap bounded', async () => {
  const before = await wasmHeapBytes();
  assert.throws(
    () => loadCiphertext(k.context, lyingBomb(2 ** 28)),
    (e: unknown) => e instanceof CkksError && e.code === 'SEAL_REJECTED',
  );
  assert.ok((await wasmHeapBytes()) - before < 8 * 2 ** 20, 'heap grew by less than 8 MiB');
});

test('a fresh public-key ciphertext at secure-32768 loads (the bound is exact, not per block)', async () => {
  const big = await kit('secure-32768', []);
  try {
    const bytes = big.encryptor.encryptToBytes([72, 80]);
    using back = loadCiphertext(big.context, bytes);
    assert.ok(maxAbsError(big.decryptor.decrypt(back, 2), [72, 80]) < 1e-3);
  } finally {
    big.dispose();
  }
});

test('an uncompressed SEAL payload is accepted too', () => {
  using ct = loadCiphertext(k.context, valid);
  const raw = ct.handle.saveToArray(k.context.seal.ComprModeType.none) as Uint8Array;
  using back = loadCiphertext(k.context, withPayload(valid, raw));
  assert.ok(maxAbsError(k.decryptor.decrypt(back, 4), [72, 80, 120, 16]) < 1e-4);
});

test('300 random byte mutations reaching SEAL: each loads or is a CkksError, never anything raw', () => {
  let seed = 0x2545f491;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const outcomes = new Map<string, number>();
  for (let i = 0; i < 300; i++) {
    const source = i % 2 ? valid : validSeeded;
    const mutated = source.slice();
    // Mostly SEAL's header and the metadata after it, where mutations are most dangerous.
    const region = i % 3 === 0 ? mutated.length - HEADER_BYTES : 96;
    const at = HEADER_BYTES + (next() % region);
    mutated[at] = next() & 0xff;
    try {
      using ct = loadCiphertext(k.context, reseal(mutated));
      outcomes.set('loaded', (outcomes.get('loaded') ?? 0) + 1);
      assert.equal(ct.level, k.context.topLevel);
    } catch (e) {
      assert.ok(e instanceof CkksError, `mutation at ${at}: ${String(e)}`);
      outcomes.set(e.code, (outcomes.get(e.code) ?? 0) + 1);
    }
  }
  assert.ok((outcomes.get('SEAL_REJECTED') ?? 0) > 0, JSON.stringify([...outcomes]));
});
