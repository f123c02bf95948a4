/**
 * CKKS parameter presets: small named, frozen objects (the way noble-curves instantiates one
 * generic core with per-curve parameters). The two paper presets are exactly §6.1's
 * Parameters1/Parameters2; the `secure-*` presets are ours, each within the
 * HomomorphicEncryption.org 128-bit bound for its ring dimension.
 */
import { CkksError } from './errors.ts';

export type PresetId = 'paper-p1' | 'paper-p2' | 'secure-4096' | 'secure-16384' | 'secure-32768';

/**
 * Largest total coefficient-modulus bits at 128-bit classical security with a ternary secret
 * (HomomorphicEncryption.org security standard, Table 1; SEAL's `CoeffModulus.MaxBitCount`).
 */
export const MAX_BITS_128: Readonly<Record<number, number>> = Object.freeze({
  1024: 27,
  2048: 54,
  4096: 109,
  8192: 218,
  16384: 438,
  32768: 881,
});

export interface Preset {
  readonly id: PresetId;
  /** One-byte code used in file headers. */
  readonly code: number;
  readonly description: string;
  /** N, the ring dimension (SEAL's poly_modulus_degree). */
  readonly polyModulusDegree: number;
  /** Bit sizes of the coefficient-modulus primes: data primes q0..qL, then the special prime. */
  readonly coeffModulusBits: readonly number[];
  /** log2 of the default encoding scale Δ. */
  readonly scaleBits: number;
  /** N/2 complex slots; we use the real parts. */
  readonly slots: number;
  /** Rescales available: one per data prime above q0. */
  readonly depth: number;
  readonly totalModulusBits: number;
  readonly maxSecureBits: number;
  /** Values must stay below 2^integerBits in magnitude at the last level (q0 over Δ, one bit of sign). */
  readonly integerBits: number;
  /**
   * Bits after the binary point a fresh public-key encryption keeps: −log2 of the largest error
   * over 4,096 values, measured by `npm run bench:presets`, less one bit of margin (docs/ckks.md).
   */
  readonly expectedPrecisionBits: number;
}

function preset(
  id: PresetId,
  code: number,
  polyModulusDegree: number,
  coeffModulusBits: number[],
  scaleBits: number,
  expectedPrecisionBits: number,
  description: string,
): Preset {
  const totalModulusBits = coeffModulusBits.reduce((sum, bits) => sum + bits, 0);
  const maxSecureBits = MAX_BITS_128[polyModulusDegree] ?? 0;
  if (totalModulusBits > maxSecureBits)
    throw new Error(`preset ${id}: ${totalModulusBits} bits exceed 128-bit bound`);
  return Object.freeze({
    id,
    code,
    description,
    polyModulusDegree,
    coeffModulusBits: Object.freeze([...coeffModulusBits]),
    scaleBits,
    slots: polyModulusDegree / 2,
    depth: coeffModulusBits.length - 2,
    totalModulusBits,
    maxSecureBits,
    integerBits: (coeffModulusBits[0] ?? 0) - scaleBits - 1,
    expectedPrecisionBits,
  });
}

export const PRESETS: Readonly<Record<PresetId, Preset>> = Object.freeze({
  'paper-p1': preset(
    'paper-p1',
    1,
    8192,
    [60, 40, 40, 60],
    40,
    25,
    'PMHE paper Parameters1 (§6.1): depth 2, Δ = 2^40',
  ),
  'paper-p2': preset(
    'paper-p2',
    2,
    8192,
    [50, 30, 30, 30, 50],
    30,
    16,
    'PMHE paper Parameters2 (§6.1): depth 3, Δ = 2^30',
  ),
  'secure-4096': preset(
    'secure-4096',
    3,
    4096,
    [40, 29, 40],
    29,
    16,
    'smallest ring: depth 1, for sums and one product',
  ),
  'secure-16384': preset(
    'secure-16384',
    4,
    16384,
    [60, 40, 40, 40, 40, 40, 40, 40, 60],
    40,
    24,
    'depth 7, Δ = 2^40, 8192 slots',
  ),
  'secure-32768': preset(
    'secure-32768',
    5,
    32768,
    [60, ...Array<number>(15).fill(50), 60],
    50,
    33,
    'depth 15, Δ = 2^50, 16384 slots',
  ),
});

export const PRESET_IDS = Object.freeze(Object.keys(PRESETS) as PresetId[]);

export function getPreset(id: string): Preset {
  const found = (PRESETS as Record<string, Preset | undefined>)[id];
  if (!found)
    throw new CkksError('UNKNOWN_PRESET', `unknown preset "${id}"; known: ${PRESET_IDS.join(', ')}`);
  return found;
}

export function presetByCode(code: number): Preset | undefined {
  return PRESET_IDS.map((id) => PRESETS[id]).find((p) => p.code === code);
}
