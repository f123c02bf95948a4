/**
 * Keys: the secret key (client only), the public key (encryption, as in the paper), and the
 * evaluation keys the contract needs: relinearization keys, and Galois keys for only the
 * rotation steps asked for. Evaluation keys and the public key serialize seeded (SEAL stores
 * half of each key as a PRNG seed), which halves what a client uploads once.
 */
import type {
  KeyGenerator,
  GaloisKeys as SealGaloisKeys,
  PublicKey as SealPublicKey,
  RelinKeys as SealRelinKeys,
  SecretKey as SealSecretKey,
} from 'node-seal';
import type { CkksContext } from './context.ts';
import { CkksError, guard } from './errors.ts';
import { type Kind, MAX_GALOIS_KEYS, maxPayloadBytes, unwrap, wrap } from './format.ts';
import { Held } from './held.ts';
import { checkSealPayload } from './seal-payload.ts';

export class PublicKey extends Held<SealPublicKey> {
  readonly kind = 'publicKey' as const;
}

export class RelinKeys extends Held<SealRelinKeys> {
  readonly kind = 'relinKeys' as const;
}

export class GaloisKeys extends Held<SealGaloisKeys> {
  readonly kind = 'galoisKeys' as const;
  /** Whether a rotation by `step` slots (left for positive) has its own key. */
  hasStep(step: number): boolean {
    return this.handle.hasKey(galoisElement(this.context, step));
  }
}

/** SEAL's Galois element for a rotation by `step` slots: 3^step mod 2N (inverse for right rotations). */
export function galoisElement(context: CkksContext, step: number): number {
  const slots = context.preset.slots;
  const modulus = 2n * BigInt(context.preset.polyModulusDegree);
  let exponent = BigInt(((step % slots) + slots) % slots);
  let result = 1n;
  let base = 3n;
  while (exponent > 0n) {
    if (exponent & 1n) result = (result * base) % modulus;
    base = (base * base) % modulus;
    exponent >>= 1n;
  }
  return Number(result);
}

function checkSteps(context: CkksContext, steps: readonly number[]): Int32Array {
  const unique = [...new Set(steps)];
  const slots = context.preset.slots;
  for (const step of unique) {
    if (!Number.isInteger(step) || step === 0 || Math.abs(step) >= slots) {
      throw new CkksError(
        'INPUT_TYPE',
        `rotation step ${step} must be a non-zero integer with |step| < ${slots}`,
      );
    }
  }
  if (unique.length > MAX_GALOIS_KEYS) {
    throw new CkksError('OVERSIZED', `${unique.length} rotation steps requested; at most ${MAX_GALOIS_KEYS}`);
  }
  return Int32Array.from(unique);
}

export class SecretKey extends Held<SealSecretKey> {
  readonly kind = 'secretKey' as const;

  /** Samples a fresh secret key. */
  static generate(context: CkksContext): SecretKey {
    const generator = guard(
      'SEAL_ERROR',
      'generating a secret key',
      () => new context.seal.KeyGenerator(context.context),
    );
    try {
      return new SecretKey(context, generator.secretKey());
    } finally {
      generator.delete();
    }
  }

  private withGenerator<T>(what: string, fn: (generator: KeyGenerator) => T): T {
    const context = this.context;
    return guard('SEAL_ERROR', what, () => {
      const generator = new context.seal.KeyGenerator(context.context, this.handle);
      try {
        return fn(generator);
      } finally {
        generator.delete();
      }
    });
  }

  private saveSeeded(
    kind: Kind,
    what: string,
    create: (g: KeyGenerator) => { saveToArray(m: unknown): unknown },
  ) {
    return this.withGenerator(what, (generator) => {
      const serializable = create(generator) as { saveToArray(m: unknown): Uint8Array; delete(): void };
      try {
        return wrap(
          kind,
          this.context.preset,
          serializable.saveToArray(this.context.seal.ComprModeType.zstd),
        );
      } finally {
        serializable.delete();
      }
    });
  }

  publicKey(): PublicKey {
    return new PublicKey(
      this.context,
      this.withGenerator('generating a public key', (g) => g.createPublicKey()),
    );
  }

  relinKeys(): RelinKeys {
    return new RelinKeys(
      this.context,
      this.withGenerator('generating relinearization keys', (g) => g.createRelinKeys()),
    );
  }

  galoisKeys(steps: readonly number[]): GaloisKeys {
    const checked = checkSteps(this.context, steps);
    return new GaloisKeys(
      this.context,
      this.withGenerator('generating Galois keys', (g) => g.createGaloisKeysWithSteps(checked)),
    );
  }

  /** The public key, serialized seeded (about half the bytes of `publicKey().save()`). */
  savePublicKey(): Uint8Array {
    return this.saveSeeded('publicKey', 'serializing a public key', (g) => g.createPublicKeySerializable());
  }

  savePublicKeyFull(): Uint8Array {
    using key = this.publicKey();
    return key.save();
  }

  saveRelinKeys(): Uint8Array {
    return this.saveSeeded('relinKeys', 'serializing relinearization keys', (g) =>
      g.createRelinKeysSerializable(),
    );
  }

  saveGaloisKeys(steps: readonly number[]): Uint8Array {
    const checked = checkSteps(this.context, steps);
    return this.saveSeeded('galoisKeys', 'serializing Galois keys', (g) =>
      g.createGaloisKeysSerializableWithSteps(checked),
    );
  }
}

type KeyClass = typeof PublicKey | typeof SecretKey | typeof RelinKeys | typeof GaloisKeys;
const KEY_CLASSES = {
  publicKey: PublicKey,
  secretKey: SecretKey,
  relinKeys: RelinKeys,
  galoisKeys: GaloisKeys,
};
type KeyOf<K extends keyof typeof KEY_CLASSES> = InstanceType<(typeof KEY_CLASSES)[K]>;

/** Loads a key file of the expected kind, checked at the door like a ciphertext. */
export function loadKey<K extends keyof typeof KEY_CLASSES>(
  context: CkksContext,
  kind: K,
  bytes: Uint8Array,
): KeyOf<K> {
  const { payload } = unwrap(bytes, { kind, preset: context.preset });
  checkSealPayload(payload, maxPayloadBytes(kind, context.preset), kind);
  const seal = context.seal;
  const handles = {
    publicKey: () => new seal.PublicKey(),
    secretKey: () => new seal.SecretKey(),
    relinKeys: () => new seal.RelinKeys(),
    galoisKeys: () => new seal.GaloisKeys(),
  };
  const handle = handles[kind]();
  const Class = KEY_CLASSES[kind] as KeyClass;
  const key = new (Class as unknown as new (c: CkksContext, h: typeof handle) => KeyOf<K>)(context, handle);
  try {
    guard('SEAL_REJECTED', `loading ${kind}`, () =>
      (handle as unknown as { loadFromArray(c: unknown, b: Uint8Array): void }).loadFromArray(
        context.context,
        payload,
      ),
    );
    return key;
  } catch (error) {
    key.dispose();
    throw error;
  }
}
