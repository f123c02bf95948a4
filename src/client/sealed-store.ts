/**
 * The outbox and the history at rest: each value sealed with AES-256-GCM under a key derived
 * (HKDF-SHA256) from the vault's identity seed, so what the device keeps of a person's readings
 * and diagnoses is as safe as the vault: a copied folder or a browser profile without the
 * passphrase shows only ciphertext. The key name is the associated data, so a value moved to
 * another key does not open. The names themselves stay readable (`outbox/<seq>`,
 * `history/<time>-<result id>`): they order the entries, and say when a reading was taken.
 *
 * A value written before this layer existed (no magic) is read as it is and sealed by `migrate`.
 */
import { own, subtle } from '../protocol/bytes.ts';
import type { ClientStore } from './store.ts';

const MAGIC = new TextEncoder().encode('PMHS');
const VERSION = 1;
const IV_BYTES = 12;
/** Present once `migrate` has sealed every older value. */
const MIGRATED_KEY = 'sealed-store-migrated';
/** The prefixes sealed: what holds readings and results, and the clinicians' keys a person granted. */
export const SEALED_PREFIXES: readonly string[] = Object.freeze(['outbox/', 'history/', 'grants/']);

/** A stored value that does not open: damaged, moved to another key, or sealed under other keys. */
export class SealedStoreError extends Error {
  override readonly name = 'SealedStoreError';
}

const utf8 = (s: string) => new TextEncoder().encode(s);

export class SealedStore implements ClientStore {
  readonly #inner: ClientStore;
  readonly #key: CryptoKey;

  private constructor(inner: ClientStore, key: CryptoKey) {
    this.#inner = inner;
    this.#key = key;
  }

  /** `inner` with the outbox and history sealed under a key derived from `identitySeed`. */
  static async over(inner: ClientStore, identitySeed: Uint8Array): Promise<SealedStore> {
    const base = await subtle().importKey('raw', own(identitySeed), 'HKDF', false, ['deriveKey']);
    const key = await subtle().deriveKey(
      { name: 'HKDF', hash: 'SHA-256', salt: utf8('pmhe client store'), info: utf8('outbox and history v1') },
      base,
      { name: 'AES-GCM', length: 256 },
      false,
      ['encrypt', 'decrypt'],
    );
    return new SealedStore(inner, key);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const bytes = await this.#inner.get(key);
    if (bytes === undefined || !sealed(key) || !hasMagic(bytes)) return bytes;
    if (bytes[MAGIC.length] !== VERSION || bytes.length < MAGIC.length + 1 + IV_BYTES + 16) {
      throw new SealedStoreError(`${key}: not a sealed value this client can read`);
    }
    const iv = bytes.subarray(MAGIC.length + 1, MAGIC.length + 1 + IV_BYTES);
    try {
      const plain = await subtle().decrypt(
        { name: 'AES-GCM', iv: own(iv), additionalData: utf8(key) },
        this.#key,
        own(bytes.subarray(MAGIC.length + 1 + IV_BYTES)),
      );
      return new Uint8Array(plain);
    } catch {
      throw new SealedStoreError(`${key}: does not open (damaged, moved, or sealed under other keys)`);
    }
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    if (!sealed(key)) return this.#inner.put(key, value);
    const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
    const sealedValue = new Uint8Array(
      await subtle().encrypt({ name: 'AES-GCM', iv, additionalData: utf8(key) }, this.#key, own(value)),
    );
    const out = new Uint8Array(MAGIC.length + 1 + IV_BYTES + sealedValue.length);
    out.set(MAGIC);
    out[MAGIC.length] = VERSION;
    out.set(iv, MAGIC.length + 1);
    out.set(sealedValue, MAGIC.length + 1 + IV_BYTES);
    return this.#inner.put(key, out);
  }

  delete(key: string): Promise<void> {
    return this.#inner.delete(key);
  }

  keys(prefix: string): Promise<string[]> {
    return this.#inner.keys(prefix);
  }

  /**
   * Seals what an older client stored in the clear; returns how many values it sealed. Once done,
   * a marker spares later unlocks from reading every value again.
   */
  async migrate(): Promise<number> {
    if ((await this.#inner.get(MIGRATED_KEY)) !== undefined) return 0;
    let count = 0;
    for (const prefix of SEALED_PREFIXES) {
      for (const key of await this.#inner.keys(prefix)) {
        const bytes = await this.#inner.get(key);
        if (bytes === undefined || hasMagic(bytes)) continue;
        await this.put(key, bytes);
        count++;
      }
    }
    await this.#inner.put(MIGRATED_KEY, Uint8Array.of(VERSION));
    return count;
  }
}

const sealed = (key: string) => SEALED_PREFIXES.some((p) => key.startsWith(p));

/** CBOR values (the outbox's and history's) never start with "PMHS": a map header comes first. */
const hasMagic = (bytes: Uint8Array) => bytes.length >= MAGIC.length && MAGIC.every((b, i) => bytes[i] === b);
