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
import { Owned } from './held.ts';
import type { PublicKey, SecretKey } from './keys.ts';
import { CipherVector } from './vector.ts';

export interface EncryptOptions {
  /** Encoding scale; defaults to the preset's 2^scaleBits. */
  scale?: number;
}

export class Encryptor extends Owned<SealEncryptor> {
  protected readonly what = 'encryptor';
  readonly mode: 'public' | 'symmetric';

  private constructor(context: CkksContext, mode: 'public' | 'symmetric', encryptor: SealEncryptor) {
    super(context, encryptor);
    this.mode = mode;
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
          ? this.handle.encrypt(plain, cipher)
          : this.handle.encryptSymmetric(plain, cipher),
      );
      const bound = { max: 0, sum: 0 };
      for (let i = 0; i < values.length; i++) {
        const v = Math.abs(values[i] as number);
        bound.max = Math.max(bound.max, v);
        bound.sum += v;
      }
      return new CipherVector(this.context, cipher, bound);
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
            ? this.handle.encryptSerializable(plain)
            : this.handle.encryptSymmetricSerializable(plain);
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
}

export class Decryptor extends Owned<SealDecryptor> {
  protected readonly what = 'decryptor';

  constructor(key: SecretKey) {
    super(
      key.context,
      guard(
        'SEAL_ERROR',
        'creating a decryptor',
        () => new key.context.seal.Decryptor(key.context.context, key.handle),
      ),
    );
  }

  /** Decrypts and decodes; `length` keeps only the first values (default: every slot). */
  decrypt(vector: CipherVector, length: number = this.context.preset.slots): Float64Array {
    const decryptor = this.handle;
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
}
