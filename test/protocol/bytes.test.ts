import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { fromBase64, fromHex, sha256Hex, toBase64, toHex } from '../../src/protocol/bytes.ts';

test('sha256Hex: the FIPS 180-2 vector, and the same digest as the browser (noble) path on large input', () => {
  assert.equal(
    sha256Hex(new TextEncoder().encode('abc')),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
  const big = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 31 + 7) & 0xff);
  assert.equal(sha256Hex(big), bytesToHex(sha256(big)));
});

test('base64 and hex round trip (also past one String.fromCharCode chunk); bad base64 is refused', () => {
  const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 17) & 0xff);
  assert.deepEqual(fromBase64(toBase64(bytes)), bytes);
  assert.equal(toBase64(bytes), Buffer.from(bytes).toString('base64'));
  assert.deepEqual(fromHex(toHex(bytes)), bytes);
  for (const bad of ['abc', 'ab!=', 'YQ==YQ==', 'YWJj\n'])
    assert.throws(() => fromBase64(bad), RangeError, bad);
});
