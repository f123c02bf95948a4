/**
 * A ceiling on what SEAL may inflate, checked before SEAL sees a byte. SEAL decompresses a zstd
 * payload without a limit of its own: a 370 KB "zstd bomb" behind a valid header kept SEAL busy
 * for 17 s and grew the WebAssembly heap (which never shrinks) to 4 GiB. SEAL writes one zstd
 * frame that declares its content size (RFC 8878 Frame_Content_Size), and zstd's decoder refuses
 * a frame that regenerates more than it declared, block by block. So we require exactly one
 * frame with a declared size, walk its block headers to check the frame is well formed and ends
 * where the payload ends, and bound the inflated size by the declaration: exact, in microseconds,
 * without inflating, and the same in the browser (no native zstd there).
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
const ZSTD_BLOCK_MAX = 128 * 1024;

class Malformed extends Error {}

/**
 * The bytes one zstd frame declares it regenerates (its Frame_Content_Size), after checking the
 * frame's block structure; throws Malformed when it is not exactly one frame with a declared size.
 */
export function zstdContentSize(data: Uint8Array): number {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const need = (at: number, n: number) => {
    if (at + n > data.length) throw new Malformed(`zstd data ends inside a header at byte ${at}`);
  };
  need(0, 5);
  if (view.getUint32(0, true) !== ZSTD_MAGIC) throw new Malformed('not a zstd frame');
  const descriptor = view.getUint8(4);
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const checksum = (descriptor >> 2) & 1;
  const dictionaryFlag = descriptor & 3;
  if (descriptor & 0x08) throw new Malformed('zstd frame header uses a reserved bit');
  if (dictionaryFlag !== 0) throw new Malformed('zstd frame needs a dictionary');
  const fcsBytes = [singleSegment, 2, 4, 8][fcsFlag] ?? 0;
  if (fcsBytes === 0) throw new Malformed('zstd frame does not declare its content size');
  let at = 5 + (singleSegment ? 0 : 1);
  need(at, fcsBytes);
  let size: number;
  if (fcsBytes === 1) size = view.getUint8(at);
  else if (fcsBytes === 2) size = view.getUint16(at, true) + 256;
  else if (fcsBytes === 4) size = view.getUint32(at, true);
  else size = Number(view.getBigUint64(at, true));
  at += fcsBytes;
  let stored = 0; // bytes raw and RLE blocks regenerate: known exactly, never more than declared
  for (let last = 0; !last; ) {
    need(at, 3);
    const header = view.getUint8(at) | (view.getUint8(at + 1) << 8) | (view.getUint8(at + 2) << 16);
    at += 3;
    last = header & 1;
    const type = (header >> 1) & 3;
    const blockSize = header >>> 3;
    if (type === 3) throw new Malformed('zstd block of reserved type');
    if (blockSize > ZSTD_BLOCK_MAX) throw new Malformed(`zstd block of ${blockSize} bytes`);
    if (type !== 2) stored += blockSize;
    at += type === 1 ? 1 : blockSize;
    if (at > data.length) throw new Malformed('zstd data ends inside a block');
  }
  at += checksum ? 4 : 0;
  if (at !== data.length) throw new Malformed(`${data.length - at} bytes after the zstd frame`);
  if (stored > size) throw new Malformed(`zstd blocks store ${stored} bytes, more than the ${size} declared`);
  return size;
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
  let inflated = 0;
  try {
    inflated = SEAL_HEADER_BYTES + zstdContentSize(payload.subarray(SEAL_HEADER_BYTES));
  } catch (error) {
    if (!(error instanceof Malformed)) throw error;
    reject('SEAL_REJECTED', error.message);
  }
  if (inflated > maxBytes) {
    reject('OVERSIZED', `inflates to ${inflated} bytes, past the ${maxBytes}-byte bound for its kind`);
  }
}
