/**
 * Ed25519 identities over WebCrypto only, so the same code signs in Node and in browsers.
 * Keys cross the wire as raw bytes: 32-byte public keys, 32-byte private seeds (RFC 8032 §5.1.5),
 * 64-byte signatures. Lengths are checked at the door with errors that say what arrived.
 */

import { own, subtle } from './bytes.ts';
import { ProtocolError } from './errors.ts';

export const PUBLIC_KEY_BYTES = 32;
export const SEED_BYTES = 32;
export const SIGNATURE_BYTES = 64;

const ED25519 = { name: 'Ed25519' } as const;

/** PKCS #8 wrapping of a raw seed (RFC 8410 §7): WebCrypto has no raw private-key import. */
const PKCS8_PREFIX = Uint8Array.from('302e020100300506032b657004220420'.match(/../g) ?? [], (h) =>
  Number.parseInt(h, 16),
);

function fromBase64Url(text: string): Uint8Array {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '=')), (c) => c.charCodeAt(0));
}

function expectLength(bytes: Uint8Array, length: number, what: string): void {
  if (!(bytes instanceof Uint8Array)) throw new ProtocolError('BAD_FIELD', `${what}: expected bytes`);
  if (bytes.length !== length) {
    throw new ProtocolError('BAD_FIELD', `${what}: expected ${length} bytes, got ${bytes.length}`);
  }
}

function expectEd25519(key: CryptoKey, type: KeyType, what: string): void {
  if (key.algorithm.name !== ED25519.name || key.type !== type) {
    throw new ProtocolError(
      'BAD_FIELD',
      `${what}: expected an Ed25519 ${type} key, got ${key.algorithm.name} ${key.type}`,
    );
  }
}

/** A fresh key pair; the private key is extractable so a key vault can seal and store it. */
export async function generateIdentity(): Promise<CryptoKeyPair> {
  return (await subtle().generateKey(ED25519, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function exportPublicKey(key: CryptoKey): Promise<Uint8Array> {
  expectEd25519(key, 'public', 'public key');
  return new Uint8Array(await subtle().exportKey('raw', key));
}

export async function importPublicKey(raw: Uint8Array): Promise<CryptoKey> {
  expectLength(raw, PUBLIC_KEY_BYTES, 'public key');
  try {
    return await subtle().importKey('raw', own(raw), ED25519, true, ['verify']);
  } catch (e) {
    // Some engines check the point at import; the caller only needs to know the key is unusable.
    throw new ProtocolError('BAD_FIELD', `public key: not a valid Ed25519 key (${(e as Error).message})`);
  }
}

/** The raw public key that belongs to an extractable private key (a vault keeps only the seed). */
export async function derivePublicKey(privateKey: CryptoKey): Promise<Uint8Array> {
  expectEd25519(privateKey, 'private', 'private key');
  const { x } = await subtle().exportKey('jwk', privateKey);
  if (x === undefined) throw new Error('private key: WebCrypto exported a JWK without "x"');
  return fromBase64Url(x);
}

/** The 32-byte seed of an extractable private key (what RFC 8032 calls the private key). */
export async function exportPrivateKey(key: CryptoKey): Promise<Uint8Array> {
  expectEd25519(key, 'private', 'private key');
  const pkcs8 = new Uint8Array(await subtle().exportKey('pkcs8', key));
  const prefixOk =
    pkcs8.length === PKCS8_PREFIX.length + SEED_BYTES && PKCS8_PREFIX.every((b, i) => pkcs8[i] === b);
  if (!prefixOk) throw new Error('private key: unexpected PKCS #8 layout from WebCrypto');
  return pkcs8.slice(PKCS8_PREFIX.length);
}

/** Imports a 32-byte seed as a signing key; `extractable` is false unless a vault needs it back. */
export async function importPrivateKey(seed: Uint8Array, extractable = false): Promise<CryptoKey> {
  expectLength(seed, SEED_BYTES, 'private key');
  const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + SEED_BYTES);
  pkcs8.set(PKCS8_PREFIX);
  pkcs8.set(seed, PKCS8_PREFIX.length);
  try {
    return await subtle().importKey('pkcs8', pkcs8, ED25519, extractable, ['sign']);
  } finally {
    pkcs8.fill(0); // do not leave a copy of the seed behind
  }
}

export async function sign(privateKey: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  expectEd25519(privateKey, 'private', 'private key');
  return new Uint8Array(await subtle().sign(ED25519, privateKey, own(data)));
}

/** True when `signature` is valid for `data`; a key or signature of the wrong length throws. */
export async function verify(
  publicKey: CryptoKey | Uint8Array,
  signature: Uint8Array,
  data: Uint8Array,
): Promise<boolean> {
  const key = publicKey instanceof Uint8Array ? await importPublicKey(publicKey) : publicKey;
  expectEd25519(key, 'public', 'public key');
  expectLength(signature, SIGNATURE_BYTES, 'signature');
  return subtle().verify(ED25519, key, own(signature), own(data));
}
