/**
 * An encrypted vector of real numbers: one SEAL ciphertext plus what the library needs to
 * compute on it without the caller thinking about levels or scales.
 */
import type { Ciphertext } from 'node-seal';
import type { CkksContext } from './context.ts';
import { CkksError, guard } from './errors.ts';
import { maxPayloadBytes, unwrap } from './format.ts';
import { Held } from './held.ts';
import { checkSealPayload } from './seal-payload.ts';

/**
 * Bounds on a ciphertext's slots: `max` ≥ every |value|, `sum` ≥ Σ|value| over all slots. The
 * plaintext polynomial's coefficients are at most 2·scale·sum/N (the inverse canonical
 * embedding), which is what must stay below half the modulus; `max` alone would refuse sparse
 * vectors that fit.
 */
export interface ValueBound {
  max: number;
  sum: number;
}

export class CipherVector extends Held<Ciphertext> {
  readonly kind = 'ciphertext' as const;
  /**
   * What is known of the values, when anything is: set at encryption (from the values) or by the
   * caller (a loaded ciphertext's range, e.g. a model's), and carried through every Evaluator
   * operation, which refuses a result that would overflow its modulus.
   */
  bound: ValueBound | undefined;

  constructor(context: CkksContext, handle: Ciphertext, bound?: ValueBound) {
    super(context, handle);
    this.bound = bound;
  }

  /** Rescales still available: a fresh ciphertext is at `context.topLevel`, the last level is 0. */
  get level(): number {
    return this.handle.coeffModulusSize() - 1;
  }

  /** The exact scale SEAL tracks for this ciphertext (a fresh one: 2^scaleBits). */
  get scale(): number {
    return this.handle.scale();
  }

  copy(): CipherVector {
    return new CipherVector(
      this.context,
      guard('SEAL_ERROR', 'copying a ciphertext', () => this.handle.clone()),
      this.bound,
    );
  }
}

export interface LoadCiphertextOptions {
  /** Refuse ciphertexts below this level (a model needs its depth). */
  minLevel?: number;
}

/**
 * Loads a ciphertext file, checking it at the door: header (kind, preset, sizes, checksum),
 * then SEAL's own validation, then shape (two polynomials, NTT form, not transparent, a scale
 * that leaves both headroom and precision, the level asked for).
 */
export function loadCiphertext(context: CkksContext, bytes: Uint8Array, options: LoadCiphertextOptions = {}) {
  const { payload } = unwrap(bytes, { kind: 'ciphertext', preset: context.preset });
  checkSealPayload(payload, maxPayloadBytes('ciphertext', context.preset), 'a ciphertext');
  const handle = new context.seal.Ciphertext();
  const vector = new CipherVector(context, handle);
  try {
    guard('SEAL_REJECTED', 'loading a ciphertext', () => handle.loadFromArray(context.context, payload));
    checkShape(vector, options);
    return vector;
  } catch (error) {
    vector.dispose();
    throw error;
  }
}

function checkShape(vector: CipherVector, options: LoadCiphertextOptions): void {
  const ct = vector.handle;
  const context = vector.context;
  if (ct.size() !== 2) {
    throw new CkksError(
      'INVALID_CIPHERTEXT',
      `ciphertext has ${ct.size()} polynomials; expected 2 (relinearized)`,
    );
  }
  if (!ct.isNttForm()) throw new CkksError('INVALID_CIPHERTEXT', 'ciphertext is not in NTT form (not CKKS)');
  if (ct.isTransparent()) {
    throw new CkksError(
      'INVALID_CIPHERTEXT',
      'ciphertext is transparent (its mask is zero): it hides nothing',
    );
  }
  const level = vector.level;
  const scaleBits = Math.log2(ct.scale());
  const modulusBits = context.modulusBitsAt(level);
  if (!Number.isFinite(scaleBits) || scaleBits < 10 || scaleBits > modulusBits - 1) {
    throw new CkksError(
      'INVALID_CIPHERTEXT',
      `ciphertext scale 2^${scaleBits.toFixed(1)} is outside [2^10, 2^${Math.floor(modulusBits - 1)}] at level ${level}`,
    );
  }
  if (options.minLevel !== undefined && level < options.minLevel) {
    throw new CkksError('LEVEL', `ciphertext is at level ${level}; at least ${options.minLevel} is required`);
  }
}
