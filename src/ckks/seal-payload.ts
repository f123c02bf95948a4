/**
 * A ceiling on what SEAL may inflate, checked before SEAL sees a byte. SEAL decompresses a zstd
 * payload without a limit: a 370 KB "zstd bomb" behind a valid header kept SEAL busy for 17 s
 * and grew the WebAssembly heap (which never shrinks) to 4 GiB. Decompressing in JavaScript
 * first would cost ~5× the load time, so instead we walk the zstd block headers (RFC 8878):
 * each block says how much it regenerates (raw and RLE blocks exactly, compressed blocks at
 * most 128 KiB), which bounds the inflated size in microseconds, without inflating.
 *
 * SEAL's serialization header (16 bytes, little-endian): magic 0xA15E (u16), header size (u8,
 * 16), version major, minor (u8), compression mode (u8: 0 none, 1 zlib, 2 zstd), reserved (u16),
 * total size including the header (u64).
 */
import { CkksError } from './errors.ts';

const SEAL_MAGIC = 0xa15e;
const SEAL_HEADER_BYTES = 16;
const MODE_NONE = 0;
const MODE_ZSTD = 2;

const ZSTD_MAGIC = 0xfd2fb528;
const ZSTD_SKIPPABLE = 0x184d2a50; // …5F: the low four bits are free
const ZSTD_BLOCK_MAX = 128 * 1024;

class Malformed extends Error {}

/** Upper bound on the bytes a sequence of zstd frames regenerates; throws Malformed if it cannot tell. */
export function zstdInflatedBound(data: Uint8Array): number {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const need = (at: number, n: number) => {
    if (at + n > data.length) throw new Malformed(`zstd data ends inside a header at byte ${at}`);
  };
  let at = 0;
  let total = 0;
  while (at < data.length) {
    need(at, 4);
    const magic = view.getUint32(at, true);
    at += 4;
    if ((magic & 0xfffffff0) === ZSTD_SKIPPABLE) {
      need(at, 4);
      at += 4 + view.getUint32(at, true);
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw new Malformed(`not a zstd frame at byte ${at - 4}`);
    need(at, 1);
    const descriptor = view.getUint8(at++);
    const fcsFlag = descriptor >> 6;
    const singleSegment = (descriptor >> 5) & 1;
    const checksum = (descriptor >> 2) & 1;
    const dictionaryFlag = descriptor & 3;
    if (descriptor & 0x08) throw new Malformed('zstd frame header uses a reserved bit');
    const headerRest =
      (singleSegment ? 0 : 1) +
      ([0, 1, 2, 4][dictionaryFlag] ?? 0) +
      ([singleSegment, 2, 4, 8][fcsFlag] ?? 0);
    need(at, headerRest);
    at += headerRest;
    for (let last = 0; !last; ) {
      need(at, 3);
      const header = view.getUint8(at) | (view.getUint8(at + 1) << 8) | (view.getUint8(at + 2) << 16);
      at += 3;
      last = header & 1;
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      if (type === 0) {
        total += size; // raw: stored as is
        at += size;
      } else if (type === 1) {
        total += size; // RLE: one byte repeated `size` times
        at += 1;
      } else if (type === 2) {
        if (size > ZSTD_BLOCK_MAX) throw new Malformed(`compressed zstd block of ${size} bytes`);
        total += ZSTD_BLOCK_MAX; // compressed: regenerates at most the block maximum
        at += size;
      } else {
        throw new Malformed('zstd block of reserved type');
      }
      if (at > data.length) throw new Malformed('zstd data ends inside a block');
    }
    at += checksum ? 4 : 0;
  }
  return total;
}

/** Checks SEAL's header and that the payload cannot inflate past `maxBytes`. */
export function checkSealPayload(payload: Uint8Array, maxBytes: number, what: string): void {
  const reject = (code: 'SEAL_REJECTED' | 'OVERSIZED', message: string): never => {
    throw new CkksError(code, `loading ${what}: ${message}`);
  };
  if (payload.length < SEAL_HEADER_BYTES)
    reject('SEAL_REJECTED', `SEAL header needs 16 bytes, got ${payload.length}`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  if (view.getUint16(0, true) !== SEAL_MAGIC || view.getUint8(2) !== SEAL_HEADER_BYTES) {
    reject('SEAL_REJECTED', 'SEAL header magic is wrong');
  }
  const declared = view.getBigUint64(8, true);
  if (declared !== BigInt(payload.length)) {
    reject('SEAL_REJECTED', `SEAL header declares ${declared} bytes, the payload has ${payload.length}`);
  }
  const mode = view.getUint8(5);
  if (mode === MODE_NONE) return; // already within maxBytes: the file header's bound applies
  if (mode !== MODE_ZSTD) reject('SEAL_REJECTED', `compression mode ${mode} is not accepted (zstd or none)`);
  let bound = 0;
  try {
    bound = SEAL_HEADER_BYTES + zstdInflatedBound(payload.subarray(SEAL_HEADER_BYTES));
  } catch (error) {
    if (!(error instanceof Malformed)) throw error;
    reject('SEAL_REJECTED', error.message);
  }
  // A compressed block is counted as a full 128 KiB, so a valid payload's bound exceeds its
  // real size by less than one block (the last, partial one).
  const limit = maxBytes + ZSTD_BLOCK_MAX;
  if (bound > limit) reject('OVERSIZED', `may inflate to ${bound} bytes, past the ${limit}-byte bound`);
}
