/**
 * Base of every wrapper around a SEAL object: the WebAssembly heap is not garbage collected,
 * so each wrapper owns exactly one SEAL object and frees it in `dispose()` (or at the end of
 * a `using` block). Using a disposed wrapper is an error, never a silent read of freed memory.
 */
import type { ClassHandle } from 'node-seal';
import type { CkksContext } from './context.ts';
import { CkksError } from './errors.ts';
import { type Kind, wrap } from './format.ts';

export abstract class Held<T extends ClassHandle> implements Disposable {
  readonly context: CkksContext;
  abstract readonly kind: Kind;
  #handle: T | undefined;

  constructor(context: CkksContext, handle: T) {
    this.context = context;
    this.#handle = handle;
  }

  /** The SEAL object; for code inside `ckks/` only. */
  get handle(): T {
    if (!this.#handle) throw new CkksError('DISPOSED', `this ${this.kind} was disposed`);
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

  /** Serializes with SEAL's zstd compression inside our header. */
  save(): Uint8Array {
    const handle = this.handle as unknown as { saveToArray(mode: unknown): Uint8Array };
    const payload = handle.saveToArray(this.context.seal.ComprModeType.zstd);
    return wrap(this.kind, this.context.preset, payload);
  }
}
