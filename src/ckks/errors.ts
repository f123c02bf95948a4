/**
 * The one error type that leaves `ckks/`. SEAL reports failures as `WebAssembly.Exception`
 * (not an `Error`) and an Emscripten abort as a `WebAssembly.RuntimeError`; both are turned
 * into a `CkksError` with a code a caller can branch on and a message a person can act on.
 */
/** What went wrong, one code per kind of failure. */
export const CKKS_ERROR_CODES = Object.freeze([
  'INPUT_TYPE', // not bytes / not numbers where bytes or numbers were expected
  'TRUNCATED', // fewer bytes than the header or its declared payload length
  'OVERSIZED', // more bytes than declared, or a declared size above the preset's bound
  'BAD_MAGIC', // not a PMHE CKKS file
  'BAD_VERSION', // a format version this code does not read
  'BAD_KIND', // an unknown kind, or a key where a ciphertext was expected (or the reverse)
  'UNKNOWN_PRESET', // a preset id this build does not know
  'FOREIGN_PRESET', // a valid file made under another preset than the context's
  'CHECKSUM', // the payload's CRC-32 does not match: corrupted in transit or at rest
  'SEAL_REJECTED', // SEAL refused the payload while loading it
  'INVALID_CIPHERTEXT', // loaded, but not a ciphertext this library will compute on
  'LEVEL', // a ciphertext at a level below the one required
  'DEPTH_EXHAUSTED', // a computation needs more multiplicative levels than remain
  'SCALE', // an operation would overflow the modulus or lose all precision
  'SLOTS', // more values than the preset has slots
  'MISSING_KEY', // an operation needs a key (relinearization, Galois step) that was not given
  'MISMATCH', // operands from different contexts or of different shapes
  'DISPOSED', // an object used after dispose()
  'SEAL_ERROR', // SEAL threw during a computation
  'WASM_ABORT', // the WebAssembly module aborted; its state is lost and the module is reloaded
] as const);
export type CkksErrorCode = (typeof CKKS_ERROR_CODES)[number];

export class CkksError extends Error {
  override readonly name = 'CkksError';
  readonly code: CkksErrorCode;
  constructor(code: CkksErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** SEAL's C++ exceptions arrive as `WebAssembly.Exception` whose `message` is `[type, what]`. */
function sealWhat(error: unknown): string | undefined {
  if (typeof WebAssembly.Exception === 'function' && error instanceof WebAssembly.Exception) {
    const message = (error as unknown as { message?: unknown }).message;
    if (Array.isArray(message)) return message.map(String).join(': ');
    return String(message ?? 'unknown SEAL exception');
  }
  return undefined;
}

let onAbort: (() => void) | undefined;
/** The module loader registers here so an abort drops the poisoned WebAssembly instance. */
export function setAbortHandler(handler: () => void): void {
  onAbort = handler;
}

/**
 * Runs `fn`, turning anything SEAL or the WebAssembly runtime throws into a `CkksError`.
 * `code` and `what` say what was being attempted, so the message reads "loading a ciphertext: ...".
 */
export function guard<T>(code: CkksErrorCode, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof CkksError) throw error;
    const seal = sealWhat(error);
    if (seal !== undefined) throw new CkksError(code, `${what}: ${seal}`, { cause: error });
    if (error instanceof WebAssembly.RuntimeError) {
      onAbort?.();
      throw new CkksError('WASM_ABORT', `${what}: WebAssembly aborted (${error.message}); module reloaded`, {
        cause: error,
      });
    }
    if (error instanceof Error) throw new CkksError(code, `${what}: ${error.message}`, { cause: error });
    throw new CkksError(code, `${what}: ${String(error)}`, { cause: error });
  }
}
