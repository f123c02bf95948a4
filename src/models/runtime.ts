/**
 * Running a plan end to end: the client encrypts a tuple in the plan's layout, the contract
 * evaluates it into Z, the client decrypts Z into Q. Also the clear and simulated runs on the
 * same tuple vectors, for measuring accuracy before encrypting.
 */
import {
  type CipherVector,
  type CkksContext,
  type Decryptor,
  type Encryptor,
  type Evaluator,
  loadCiphertext,
} from '../ckks/index.ts';
import { ProtocolError } from '../protocol/errors.ts';
import type { Profile } from '../protocol/meta-functions.ts';
import { layoutVectors } from '../protocol/tuple.ts';
import type { VitalReading } from '../protocol/vitals.ts';
import {
  clearArithmetic,
  encryptedArithmetic,
  evaluateShared,
  type Plan,
  simulatedArithmetic,
  walk,
} from './compiler.ts';

/** Q: each output's values (one per reading for per-reading batch outputs, else one). */
export type Outputs = Record<string, number[]>;

export function tupleVectors(plan: Plan, readings: readonly VitalReading[], profile: Profile): number[][] {
  const vectors = layoutVectors(plan.template, readings, profile, plan.preset.slots);
  const check = plan.model.checkDomain;
  if (check) {
    const names = plan.model.elements.map((e) => e.name);
    readings.forEach((_, r) => {
      const values = Object.fromEntries(
        names.map((name, e) => [
          name,
          (plan.layout === 'packed'
            ? vectors[0]?.[e]
            : vectors[e]?.[plan.layout === 'batch' ? r : 0]) as number,
        ]),
      );
      const problem = check(values);
      if (problem) throw new ProtocolError('OUT_OF_RANGE', `reading ${r}: ${plan.model.id}: ${problem}`);
    });
  }
  return vectors;
}

function collect(plan: Plan, values: number[][], readings: number): Outputs {
  return Object.fromEntries(
    plan.outputs.map((o, i) => [o.name, (values[i] ?? []).slice(0, o.perReading ? readings : 1)]),
  );
}

const readingsOf = (plan: Plan, vectors: readonly number[][]) =>
  plan.layout === 'batch' ? (vectors[0]?.length ?? 0) : 1;

export function runClear(plan: Plan, vectors: readonly number[][]): Outputs {
  return collect(plan, walk(plan, clearArithmetic(plan, vectors)), readingsOf(plan, vectors));
}

export function runSimulated(plan: Plan, vectors: readonly number[][]): Outputs {
  return collect(plan, walk(plan, simulatedArithmetic(plan, vectors)), readingsOf(plan, vectors));
}

/**
 * The exact scale the i-th ciphertext of an upload is encrypted at: the element's own input scale
 * where the model gives one (one element per ciphertext), else the preset's 2^scaleBits.
 */
export function inputScale(plan: Plan, i: number): number {
  const bits =
    plan.layout === 'packed' ? undefined : plan.model.inputScaleBits?.[plan.model.elements[i]?.name ?? ''];
  return 2 ** (bits ?? plan.preset.scaleBits);
}

/** Client: encrypts the tuple vectors, each at its input scale. */
export function encryptTuple(plan: Plan, encryptor: Encryptor, vectors: readonly number[][]): Uint8Array[] {
  return vectors.map((vector, i) => encryptor.encryptToBytes(vector, { scale: inputScale(plan, i) }));
}

/**
 * Loads an uploaded tuple, refusing a wrong count, a ciphertext too low for the plan, or one not
 * at its exact input scale (the evaluation would fail on it later, after it was acknowledged).
 */
export function loadTuple(plan: Plan, context: CkksContext, uploads: readonly Uint8Array[]): CipherVector[] {
  if (uploads.length !== plan.ciphertextsPerUpload) {
    throw new ProtocolError(
      'LAYOUT',
      `${plan.template.id} takes ${plan.ciphertextsPerUpload} ciphertexts per upload, got ${uploads.length}`,
    );
  }
  const loaded: CipherVector[] = [];
  try {
    for (const [i, bytes] of uploads.entries()) {
      const vector = loadCiphertext(context, bytes, { minLevel: plan.depth });
      loaded.push(vector);
      const expected = inputScale(plan, i);
      if (vector.scale !== expected) {
        throw new ProtocolError(
          'LAYOUT',
          `ciphertexts[${i}]: scale 2^${Math.log2(vector.scale)}; ${plan.template.id} encrypts it at exactly 2^${Math.log2(expected)}`,
        );
      }
    }
    return loaded;
  } catch (error) {
    for (const v of loaded) v.dispose();
    throw error;
  }
}

/** Contract: Z = F(M), each output dropped to the last level (fewest bytes to return). */
export function evaluate(plan: Plan, evaluator: Evaluator, inputs: readonly CipherVector[]): CipherVector[] {
  if (plan.sharedZ) {
    using z = evaluateShared(plan, evaluator, inputs[0] as CipherVector);
    return [evaluator.dropToLevel(z, 0)];
  }
  const arithmetic = encryptedArithmetic(plan, evaluator, inputs);
  const results = walk(plan, arithmetic);
  try {
    return results.map((z) => evaluator.dropToLevel(z, 0));
  } finally {
    for (const z of results) arithmetic.release(z);
  }
}

/**
 * Client: Q ≈ D(Dec(Z)). `z` holds one ciphertext per output, or the single Z of a shared-Z
 * plan; each output is read from its template slot on.
 */
export function decryptOutputs(
  plan: Plan,
  decryptor: Decryptor,
  z: readonly CipherVector[],
  readings: number,
): Outputs {
  const count = Math.max(1, readings);
  const shared = plan.sharedZ ? decryptor.decrypt(z[0] as CipherVector) : undefined;
  return collect(
    plan,
    plan.outputs.map((_, i) => {
      if (!shared) return Array.from(decryptor.decrypt(z[i] as CipherVector, count));
      const slot = plan.template.result[i]?.slot ?? 0;
      return Array.from(shared.subarray(slot, slot + count));
    }),
    readings,
  );
}

/** One value per reading: per-reading outputs as they are, window outputs repeated. */
export function finishedRows(plan: Plan, q: Outputs, readings: number): Record<string, number>[] {
  return Array.from({ length: plan.outputs.some((o) => o.perReading) ? readings : 1 }, (_, r) => {
    const row: Record<string, number> = {};
    for (const o of plan.outputs) row[o.name] = (q[o.name]?.[o.perReading ? r : 0] ?? Number.NaN) as number;
    return plan.model.finish(row);
  });
}
