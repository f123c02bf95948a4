/**
 * ClientStore over IndexedDB (the browser's ClientStore; the `idb` package's promises over the
 * raw API). One object store, key → bytes. Every put is its own readwrite transaction, and
 * IndexedDB commits a transaction whole or not at all: a crash or a closed tab leaves the old
 * bytes or the new, never a mix. Works in a page and in a Web Worker alike (both have
 * `indexedDB`); the PMHE web client uses it from its worker, so keys never reach the page.
 */
import { type DBSchema, type IDBPDatabase, openDB } from 'idb';
import { type ClientStore, checkKey } from '../store.ts';

const STORE = 'entries';

interface Schema extends DBSchema {
  [STORE]: { key: string; value: Uint8Array };
}

export class IdbStore implements ClientStore, Disposable {
  readonly name: string;
  readonly #db: IDBPDatabase<Schema>;

  private constructor(name: string, db: IDBPDatabase<Schema>) {
    this.name = name;
    this.#db = db;
  }

  /** Opens (creating when needed) the database `name`; one per user profile of the app. */
  static async open(name = 'pmhe-client'): Promise<IdbStore> {
    const db = await openDB<Schema>(name, 1, {
      upgrade(database) {
        if (!database.objectStoreNames.contains(STORE)) database.createObjectStore(STORE);
      },
      blocking() {
        // A newer version of the app wants the database: let it have it.
        db.close();
      },
    });
    return new IdbStore(name, db);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const value = await this.#db.get(STORE, checkKey(key));
    // A copy: the caller owns it (and may zero it) without touching anything cached.
    return value === undefined ? undefined : new Uint8Array(value);
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    checkKey(key);
    const tx = this.#db.transaction(STORE, 'readwrite', { durability: 'strict' });
    // A copy of exactly the view's bytes (a view over a larger buffer would store all of it).
    await tx.store.put(new Uint8Array(value), key);
    await tx.done;
  }

  async delete(key: string): Promise<void> {
    const tx = this.#db.transaction(STORE, 'readwrite', { durability: 'strict' });
    await tx.store.delete(checkKey(key));
    await tx.done;
  }

  async keys(prefix: string): Promise<string[]> {
    // Keys sort as strings; every key with the prefix lies in [prefix, prefix + U+FFFF).
    const range = prefix === '' ? undefined : IDBKeyRange.bound(prefix, `${prefix}\uffff`, false, true);
    const keys = await this.#db.getAllKeys(STORE, range);
    return keys.filter((k) => k.startsWith(prefix)).sort();
  }

  close(): void {
    this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
