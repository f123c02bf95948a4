/**
 * Where the client keeps what must survive a restart (the vault, the outbox, the history): a
 * small key → bytes store. Node keeps it in a folder (src/client/node/folder-store.ts), the
 * browser in IndexedDB; everything above this interface is the same code in both.
 */
export interface ClientStore {
  /** The bytes under `key`, or undefined. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Replaces the value atomically: a crash leaves the old bytes or the new, never a mix. */
  put(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  /** Keys starting with `prefix`, sorted. */
  keys(prefix: string): Promise<string[]>;
}

/** Keys are paths of safe segments ("outbox/0001-…"): letters, digits, `.`, `_`, `-`, `/`. */
export const KEY_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;

export function checkKey(key: string): string {
  if (!KEY_PATTERN.test(key) || key.length > 200)
    throw new RangeError(`store key ${JSON.stringify(key)} is not a safe path`);
  return key;
}

/** In memory: for a page that must not persist anything, and for tests of the layers above. */
export class MemoryStore implements ClientStore {
  readonly #map = new Map<string, Uint8Array>();
  async get(key: string) {
    const v = this.#map.get(checkKey(key));
    return v && new Uint8Array(v);
  }
  async put(key: string, value: Uint8Array) {
    this.#map.set(checkKey(key), new Uint8Array(value));
  }
  async delete(key: string) {
    this.#map.delete(checkKey(key));
  }
  async keys(prefix: string) {
    return [...this.#map.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}
