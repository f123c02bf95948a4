/** Real keys and tools for one preset, shared by a test file and disposed at its end. */
import {
  CkksContext,
  Decryptor,
  Encryptor,
  Evaluator,
  type GaloisKeys,
  type PresetId,
  type PublicKey,
  type RelinKeys,
  SecretKey,
} from '../../src/ckks/index.ts';

export interface Kit {
  context: CkksContext;
  secret: SecretKey;
  publicKey: PublicKey;
  relinKeys: RelinKeys;
  galoisKeys: GaloisKeys;
  encryptor: Encryptor;
  symmetric: Encryptor;
  decryptor: Decryptor;
  evaluator: Evaluator;
  dispose(): void;
}

export async function kit(preset: PresetId, galoisSteps: number[] = [1, 2, 4, 8, -1]): Promise<Kit> {
  const context = await CkksContext.create(preset);
  const secret = SecretKey.generate(context);
  const publicKey = secret.publicKey();
  const relinKeys = secret.relinKeys();
  const galoisKeys = secret.galoisKeys(galoisSteps);
  const encryptor = Encryptor.withPublicKey(publicKey);
  const symmetric = Encryptor.withSecretKey(secret);
  const decryptor = new Decryptor(secret);
  const evaluator = new Evaluator(context, { relinKeys, galoisKeys });
  const owned = [evaluator, decryptor, symmetric, encryptor, galoisKeys, relinKeys, publicKey, secret];
  return {
    context,
    secret,
    publicKey,
    relinKeys,
    galoisKeys,
    encryptor,
    symmetric,
    decryptor,
    evaluator,
    dispose: () => {
      for (const o of owned) o.dispose();
    },
  };
}

/** Largest |got − want| over the first want.length values. */
export function maxAbsError(got: ArrayLike<number>, want: readonly number[]): number {
  return want.reduce((m, w, i) => Math.max(m, Math.abs((got[i] as number) - w)), 0);
}
