/**
 * Seeded randomness for the simulator. Each concern (a person's profile, sleep times, physiology,
 * measurement error, artifacts, dropouts) draws from its own stream derived from (seed, labels),
 * so changing, say, the artifact rate leaves the physiological truth of a series unchanged.
 */
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

/** murmur3's 32-bit finaliser: spreads nearby integers (seed 1, seed 2) far apart. */
function fmix32(h: number): number {
  let v = h | 0;
  v ^= v >>> 16;
  v = Math.imul(v, 0x85ebca6b);
  v ^= v >>> 13;
  v = Math.imul(v, 0xc2b2ae35);
  v ^= v >>> 16;
  return v | 0;
}

/** A 32-bit seed from a safe-integer seed and integer labels (stream id, person index, …). */
export function deriveSeed(seed: number, ...labels: readonly number[]): number {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
  const hi = Math.floor(seed / 2 ** 32);
  let h = fmix32(seed ^ 0x9e3779b9);
  h = fmix32(h ^ Math.imul(hi | 0, 0x27d4eb2f));
  for (const label of labels) h = fmix32(Math.imul(h, 31) ^ fmix32(label + 0x165667b1));
  return h;
}

export class Rng {
  readonly #gen: RandomGenerator;
  #spare: number | undefined;

  constructor(seed: number) {
    this.#gen = xoroshiro128plus(seed);
    // The first outputs of xoroshiro after a 32-bit seed are weakly mixed; discard a few.
    for (let i = 0; i < 8; i++) this.#gen.next();
  }

  /** Uniform on [0, 1). */
  uniform(): number {
    return uniformFloat64(this.#gen);
  }

  /** Uniform on [lo, hi). */
  between(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Standard normal (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    const u = 1 - this.uniform(); // (0, 1]: log(0) never happens
    const r = Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * this.uniform();
    this.#spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** Normal(mean, sd) restricted to [lo, hi] by rejection; clamps after many misses. */
  truncatedNormal(mean: number, sd: number, lo: number, hi: number): number {
    for (let i = 0; i < 1000; i++) {
      const v = mean + sd * this.normal();
      if (v >= lo && v <= hi) return v;
    }
    return Math.min(hi, Math.max(lo, mean));
  }
}

/** Stream labels: one independent generator per concern (see the module comment). */
export const STREAM = Object.freeze({
  profile: 1,
  sleep: 2,
  physiology: 3,
  measurement: 4,
  artifact: 5,
  dropout: 6,
  cohortMember: 7,
});
