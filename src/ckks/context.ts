/**
 * One SEAL context per preset, created once and reused (creation costs a few hundred
 * milliseconds in WebAssembly). Holds what every operation needs: the encoder, SEAL's
 * evaluator, and the modulus chain as plain numbers so scales can be planned exactly.
 */
import type { CKKSEncoder, Evaluator, ParmsIdType, Plaintext, SEALContext } from 'node-seal';
import { CkksError, guard } from './errors.ts';
import { getPreset, type Preset, type PresetId } from './presets.ts';
import { isLive, loadSeal, type Seal } from './seal.ts';

export class CkksContext {
  readonly preset: Preset;
  readonly seal: Seal;
  readonly context: SEALContext;
  readonly encoder: CKKSEncoder;
  readonly sealEvaluator: Evaluator;
  /** Data primes q0..qL as doubles (what SEAL divides a scale by when it rescales). */
  readonly primes: readonly number[];
  /** Level of a fresh ciphertext: L, the number of rescales available. */
  readonly topLevel: number;
  readonly defaultScale: number;
  private readonly parmsIds: ParmsIdType[];
  private readonly generation: number;

  private constructor(preset: Preset, seal: Seal, generation: number) {
    this.preset = preset;
    this.seal = seal;
    this.generation = generation;
    const parms = new seal.EncryptionParameters(seal.SchemeType.ckks);
    try {
      parms.setPolyModulusDegree(preset.polyModulusDegree);
      const moduli = seal.CoeffModulus.Create(
        preset.polyModulusDegree,
        Int32Array.from(preset.coeffModulusBits),
      );
      parms.setCoeffModulus(moduli);
      moduli.delete();
      this.context = new seal.SEALContext(parms, true, seal.SecLevelType.tc128);
    } finally {
      parms.delete();
    }
    if (!this.context.parametersSet()) {
      throw new CkksError('SEAL_ERROR', `SEAL refused the parameters of preset ${preset.id}`);
    }
    this.encoder = new seal.CKKSEncoder(this.context);
    this.sealEvaluator = new seal.Evaluator(this.context);
    // Walk the chain from the last level (q0 only) up: index = level = number of primes - 1.
    const ids: ParmsIdType[] = [];
    let primes: number[] = [];
    let data = this.context.firstContextData();
    for (;;) {
      const chain = data.chainIndex();
      const moduli = data.parms().coeffModulus();
      if (chain === this.context.firstContextData().chainIndex()) {
        primes = Array.from({ length: moduli.size() }, (_, i) => Number(moduli.get(i)?.value() ?? 0n));
      }
      ids[chain] = data.parmsId();
      if (chain === 0) break;
      data = data.nextContextData();
    }
    this.parmsIds = ids;
    this.primes = Object.freeze(primes);
    this.topLevel = primes.length - 1;
    this.defaultScale = 2 ** preset.scaleBits;
  }

  static async create(preset: PresetId | Preset): Promise<CkksContext> {
    const resolved = typeof preset === 'string' ? getPreset(preset) : preset;
    const { seal, generation } = await loadSeal();
    const key = `${generation}:${resolved.id}`;
    for (const [k, c] of cache) if (!c.alive) cache.delete(k); // contexts of an aborted module
    let context = cache.get(key);
    if (!context) {
      context = guard(
        'SEAL_ERROR',
        `creating the ${resolved.id} context`,
        () => new CkksContext(resolved, seal, generation),
      );
      cache.set(key, context);
    }
    return context;
  }

  /** True while the WebAssembly module this context lives in is the current one. */
  get alive(): boolean {
    return isLive(this.generation);
  }

  parmsIdAt(level: number): ParmsIdType {
    const id = this.parmsIds[level];
    if (!id)
      throw new CkksError(
        'LEVEL',
        `level ${level} does not exist in ${this.preset.id} (0..${this.topLevel})`,
      );
    return id;
  }

  /** The prime a ciphertext at `level` is divided by when it is rescaled. */
  primeAt(level: number): number {
    const q = this.primes[level];
    if (q === undefined || level < 1) {
      throw new CkksError('DEPTH_EXHAUSTED', `no rescale is possible at level ${level} of ${this.preset.id}`);
    }
    return q;
  }

  /** Bits of the modulus product Q_level = q0·…·q_level. */
  modulusBitsAt(level: number): number {
    return this.primes.slice(0, level + 1).reduce((bits, q) => bits + Math.log2(q), 0);
  }

  /** Encodes real values (padded with zeros to the slot count) at `scale`, then drops to `level`. */
  encode(values: ArrayLike<number>, scale: number, level: number = this.topLevel): Plaintext {
    const slots = this.preset.slots;
    if (values.length > slots) {
      throw new CkksError('SLOTS', `${values.length} values exceed the ${slots} slots of ${this.preset.id}`);
    }
    const padded = new Float64Array(slots);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new CkksError('INPUT_TYPE', `value at index ${i} is not a finite number (${String(v)})`);
      }
      padded[i] = v;
    }
    return this.encodeSlots(padded, scale, level);
  }

  /** Encodes one constant into every slot. */
  encodeConstant(value: number, scale: number, level: number): Plaintext {
    return this.encodeSlots(new Float64Array(this.preset.slots).fill(value), scale, level);
  }

  private encodeSlots(padded: Float64Array, scale: number, level: number): Plaintext {
    const plain = new this.seal.Plaintext();
    try {
      guard('SCALE', `encoding at scale 2^${Math.log2(scale).toFixed(1)}`, () => {
        this.encoder.encode(padded, scale, plain);
        if (level !== this.topLevel) this.sealEvaluator.plainModSwitchToInplace(plain, this.parmsIdAt(level));
      });
      return plain;
    } catch (error) {
      plain.delete();
      throw error;
    }
  }

  decode(plain: Plaintext): Float64Array {
    return guard('SEAL_ERROR', 'decoding', () => this.encoder.decodeFloat64(plain) as Float64Array);
  }
}

const cache = new Map<string, CkksContext>();
