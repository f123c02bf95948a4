/**
 * Encode+encrypt and decrypt+decode (the paper's E/Enc and Dec/D, eq. 3 and 7).
 * Two ways to encrypt: with the public key, as the paper does, or with the secret key
 * (symmetric, seeded: half of the ciphertext is a PRNG seed, so about half the bytes on the
 * wire) for a client that holds its own secret key anyway.
 */
import type { Plaintext, Decryptor as SealDecryptor, Encryptor as SealEncryptor } from 'node-seal';
import type { CkksContext } from './context.ts';
import { CkksError, guard } from './errors.ts';
import { FLAG_SEEDED, wrap } from './format.ts';
import type { PublicKey, SecretKey } from './keys.ts';
import { CipherVector } from './vector.ts';

export interface EncryptOptions {
  /** Encoding scale; defaults to the preset's 2^scaleBits. */
  scale?: number;
}

export class Encryptor implements Disposable {
  readonly context: CkksContext;
  readonly mode: 'public' | 'symmetric';
  #encryptor: SealEncryptor | undefined;

  private constructor(context: CkksContext, mode: 'public' | 'symmetric', encryptor: SealEncryptor) {
    this.context = context;
    this.mode = mode;
    this.#encryptor = encryptor;
  }

  static withPublicKey(key: PublicKey): Encryptor {
    const context = key.context;
    return new Encryptor(
      context,
      'public',
      guard(
        'SEAL_ERROR',
        'creating an encryptor',
        () => new context.seal.Encryptor(context.context, key.handle),
      ),
    );
  }

  /** Symmetric encryption; SEAL's encryptor also wants a public key, so one is derived once. */
  static withSecretKey(key: SecretKey): Encryptor {
    const context = key.context;
    using publicKey = key.publicKey();
    return new Encryptor(
      context,
      'symmetric',
      guard(
        'SEAL_ERROR',
        'creating an encryptor',
        () => new context.seal.Encryptor(context.context, publicKey.handle, key.handle),
      ),
    );
  }

  private get encryptor(): SealEncryptor {
    if (!this.#encryptor) throw new CkksError('DISPOSED', 'this encryptor was disposed');
    return this.#encryptor;
  }

  private encode(values: ArrayLike<number>, options: EncryptOptions): Plaintext {
    const context = this.context;
    const scale = options.scale ?? context.defaultScale;
    const limit = 2 ** (context.modulusBitsAt(context.topLevel) - Math.log2(scale) - 2);
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (Math.abs(v) >= limit) {
        throw new CkksError(
          'SCALE',
          `value ${v} at index ${i} is too large for ${context.preset.id} (|v| < ${limit})`,
        );
      }
    }
    return context.encode(values, scale);
  }

  /** Encrypts up to `slots` values into a ciphertext to compute on. */
  encrypt(values: ArrayLike<number>, options: EncryptOptions = {}): CipherVector {
    const plain = this.encode(values, options);
    const cipher = new this.context.seal.Ciphertext();
    try {
      guard('SEAL_ERROR', 'encrypting', () =>
        this.mode === 'public'
          ? this.encryptor.encrypt(plain, cipher)
          : this.encryptor.encryptSymmetric(plain, cipher),
      );
      return new CipherVector(this.context, cipher);
    } catch (error) {
      cipher.delete();
      throw error;
    } finally {
      plain.delete();
    }
  }

  /** Encrypts straight to bytes for upload: seeded (about half the size) when symmetric. */
  encryptToBytes(values: ArrayLike<number>, options: EncryptOptions = {}): Uint8Array {
    const plain = this.encode(values, options);
    try {
      return guard('SEAL_ERROR', 'encrypting', () => {
        const serializable =
          this.mode === 'public'
            ? this.encryptor.encryptSerializable(plain)
            : this.encryptor.encryptSymmetricSerializable(plain);
        try {
          const payload = serializable.saveToArray(this.context.seal.ComprModeType.zstd) as Uint8Array;
          return wrap(
            'ciphertext',
            this.context.preset,
            payload,
            this.mode === 'symmetric' ? FLAG_SEEDED : 0,
          );
        } finally {
          serializable.delete();
        }
      });
    } finally {
      plain.delete();
    }
  }

  dispose(): void {
    this.#encryptor?.delete();
    this.#encryptor = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

export class Decryptor implements Disposable {
  readonly context: CkksContext;
  #decryptor: SealDecryptor | undefined;

  constructor(key: SecretKey) {
    this.context = key.context;
    this.#decryptor = guard(
      'SEAL_ERROR',
      'creating a decryptor',
      () => new key.context.seal.Decryptor(key.context.context, key.handle),
    );
  }

  /** Decrypts and decodes; `length` keeps only the first values (default: every slot). */
  decrypt(vector: CipherVector, length: number = this.context.preset.slots): Float64Array {
    const decryptor = this.#decryptor;
    if (!decryptor) throw new CkksError('DISPOSED', 'this decryptor was disposed');
    if (vector.context.preset.id !== this.context.preset.id) {
      throw new CkksError(
        'MISMATCH',
        `ciphertext of ${vector.context.preset.id} given to a ${this.context.preset.id} key`,
      );
    }
    const plain = new this.context.seal.Plaintext();
    try {
      guard('SEAL_ERROR', 'decrypting', () => decryptor.decrypt(vector.handle, plain));
      return this.context.decode(plain).slice(0, length);
    } finally {
      plain.delete();
    }
  }

  dispose(): void {
    this.#decryptor?.delete();
    this.#decryptor = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
