/** What secrecy tests search for: a secret key or a reading in every encoding we can think of. */

/** Every way a value might be written down: raw, base64, base64url, hex (both cases). */
export function encodings(bytes: Uint8Array): Buffer[] {
  const b = Buffer.from(bytes);
  return [
    b,
    Buffer.from(b.toString('base64')),
    Buffer.from(b.toString('base64url')),
    Buffer.from(b.toString('hex')),
    Buffer.from(b.toString('hex').toUpperCase()),
  ];
}

/** Needles for a secret key: 48-byte windows across it (a partial leak is a leak). */
export function keyNeedles(key: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 16; at + 48 <= key.length; at += Math.max(48, Math.floor(key.length / 16))) {
    // base64 of a window only lines up when the window starts at a multiple of 3.
    const start = at - (at % 3);
    out.push(...encodings(key.subarray(start, start + 48)));
  }
  return out;
}

/**
 * Needles for a reading: its decimal text and its float64 bytes, both byte orders. (Not float32:
 * 4 bytes turn up by chance in megabytes of ciphertext, about once in 400 runs per needle.)
 */
export function readingNeedles(value: number): Buffer[] {
  const f64 = Buffer.alloc(8);
  const out = [Buffer.from(String(value))];
  f64.writeDoubleLE(value);
  out.push(Buffer.from(f64));
  f64.writeDoubleBE(value);
  out.push(Buffer.from(f64));
  return out;
}
