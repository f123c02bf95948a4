/**
 * Base of every wrapper around a SEAL object: the WebAssembly heap is not garbage collected,
 * so each wrapper owns exactly one SEAL object and frees it in `dispose()` (or at the end of
 * a `using` block). Using a disposed wrapper is an error, never a silent read of freed memory.
 */
import type { ClassHandle } from 'node-seal';
import type { CkksContext } from './context.ts';
import { CkksError } from './errors.ts';
import { type Kind, wrap } from './format.ts';

/** Owns one SEAL object and frees it exactly once. */
export abstract class Owned<T extends ClassHandle> implements Disposable {
  readonly context: CkksContext;
  /** What this is, for the "used after dispose" message. */
  protected abstract readonly what: string;
  #handle: T | undefined;

  constructor(context: CkksContext, handle: T) {
    this.context = context;
    this.#handle = handle;
  }

  /** The SEAL object; for code inside `ckks/` only. */
  get handle(): T {
    if (!this.#handle) throw new CkksError('DISPOSED', `this ${this.what} was disposed`);
    return this.#handle;
  }

  get disposed(): boolean {
    return this.#handle === undefined;
  }

  dispose(): void {
    this.#handle?.delete();
    this.#handle = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** A key or ciphertext: an owned SEAL object that serializes into our checked file format. */
export abstract class Held<T extends ClassHandle> extends Owned<T> {
  abstract readonly kind: Kind;
  protected get what(): string {
    return this.kind;
  }

  /** Serializes with SEAL's zstd compression inside our header. */
  save(): Uint8Array {
    const handle = this.handle as unknown as { saveToArray(mode: unknown): Uint8Array };
    const payload = handle.saveToArray(this.context.seal.ComprModeType.zstd);
    return wrap(this.kind, this.context.preset, payload);
  }
}
