/**
 * The model compiler: a model and a layout become an evaluation plan (template, preset, depth,
 * multiplications, rotations, Galois steps), and the plan runs in three modes on the same
 * inputs, so accuracy loss is measured before anything is encrypted (as Concrete ML does):
 * - clear:     float64 arithmetic;
 * - simulate:  plaintext arithmetic that quantizes inputs and constants as CKKS encodes them
 *              (the levels it spends were checked against the preset when the plan was made);
 * - encrypted: real CKKS through src/ckks.
 * One generic walk over the model's expressions drives all three.
 */
import {
  type CipherVector,
  CkksError,
  type Evaluator,
  getPreset,
  type Preset,
  polynomialDepth,
} from '../ckks/index.ts';
import type { PresetId } from '../ckks/presets.ts';
import { ProtocolError } from '../protocol/errors.ts';
import type { Layout, Template } from '../protocol/schema.ts';
import { checkTemplate } from '../protocol/template.ts';
import type { Expr, Model } from './model.ts';

/** Presets from cheapest to dearest; the compiler takes the first that fits. */
const PRESET_ORDER: PresetId[] = ['secure-4096', 'paper-p1', 'paper-p2', 'secure-16384', 'secure-32768'];

export interface PlanOutput {
  name: string;
  depth: number;
  /** True when the output has one value per reading (batch layout), else one value in slot 0. */
  perReading: boolean;
}

export interface Plan {
  model: Model;
  layout: Layout;
  preset: Preset;
  template: Template;
  depth: number;
  outputs: PlanOutput[];
  multiplications: { ciphertext: number; plaintext: number };
  rotations: number;
  galoisSteps: number[];
  /** Ciphertexts per upload and readings per upload. */
  ciphertextsPerUpload: number;
  readingsPerUpload: number;
  /**
   * Packed, every output linear: all outputs in the slots of one Z (output k at slot k·m, m the
   * template's block size), from one plaintext product and log2(m) rotations.
   */
  sharedZ: boolean;
}

const nextPow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
const sumSteps = (count: number) => {
  const steps: number[] = [];
  for (let s = 1; s < count; s *= 2) steps.push(s);
  return steps;
};

/** Ciphertext and plaintext multiplications of Evaluator.polyval for these coefficients. */
function polyvalCost(coefficients: readonly number[]): { ciphertext: number; plaintext: number } {
  let degree = coefficients.length - 1;
  while (degree > 0 && coefficients[degree] === 0) degree--;
  const depth = polynomialDepth(degree);
  const ceilLog2 = (n: number) => (n <= 1 ? 0 : Math.ceil(Math.log2(n)));
  const powers = new Set<number>();
  const power = (i: number): void => {
    if (i <= 1 || powers.has(i)) return;
    const high = 2 ** (ceilLog2(i) - 1);
    power(high);
    power(i - high);
    powers.add(i);
  };
  let ciphertext = 0;
  let plaintext = 0;
  const term = (i: number, budget: number): void => {
    if (ceilLog2(i) + 1 <= budget) {
      power(i);
      plaintext += 1;
      return;
    }
    const high = 2 ** (ceilLog2(i) - 1);
    power(high);
    term(i - high, budget - 1);
    ciphertext += 1;
  };
  for (let i = 1; i <= degree; i++) if (coefficients[i] !== 0) term(i, depth);
  return { ciphertext: ciphertext + powers.size, plaintext };
}

/** Walks an expression for its depth and costs in a layout. */
function analyse(model: Model, layout: Layout, slots: number) {
  const costs = { ciphertext: 0, plaintext: 0, rotations: 0, steps: new Set<number>() };
  const index = new Map(model.elements.map((e, i) => [e.name, i]));
  const need = (name: string) => {
    const i = index.get(name);
    if (i === undefined)
      throw new ProtocolError('BAD_TEMPLATE', `model ${model.id}: unknown element "${name}"`);
    return i;
  };
  const depth = (expr: Expr): number => {
    switch (expr.op) {
      case 'element': {
        const i = need(expr.name);
        if (layout === 'packed' && i > 0) {
          costs.rotations += 1;
          costs.steps.add(i);
        }
        return 0;
      }
      case 'linear':
        for (const t of expr.terms) need(t.element);
        if (layout === 'packed') {
          costs.plaintext += 1;
          for (const s of sumSteps(nextPow2(model.elements.length))) costs.steps.add(s);
          costs.rotations += sumSteps(nextPow2(model.elements.length)).length;
        } else {
          costs.plaintext += expr.terms.length;
        }
        return 1;
      case 'mul':
        costs.ciphertext += 1;
        return Math.max(depth(expr.a), depth(expr.b)) + 1;
      case 'poly': {
        const cost = polyvalCost(expr.coefficients);
        costs.ciphertext += cost.ciphertext;
        costs.plaintext += cost.plaintext;
        let degree = expr.coefficients.length - 1;
        while (degree > 0 && expr.coefficients[degree] === 0) degree--;
        return depth(expr.arg) + polynomialDepth(degree);
      }
      case 'windowMean': {
        need(expr.element);
        if (layout !== 'batch')
          throw new ProtocolError('LAYOUT', `windowMean needs the batch layout, not ${layout}`);
        if (!model.windows?.[expr.window])
          throw new ProtocolError('BAD_TEMPLATE', `unknown window "${expr.window}"`);
        const steps = sumSteps(nextPow2(Math.min(slots, model.batch?.readings ?? slots)));
        costs.plaintext += 1;
        costs.rotations += steps.length;
        for (const s of steps) costs.steps.add(s);
        return 1;
      }
    }
  };
  const outputs = model.outputs.map((o) => ({
    name: o.name,
    depth: depth(o.expr),
    perReading: layout === 'batch' && !usesWindow(o.expr),
  }));
  return { outputs, costs };
}

function usesWindow(expr: Expr): boolean {
  switch (expr.op) {
    case 'windowMean':
      return true;
    case 'mul':
      return usesWindow(expr.a) || usesWindow(expr.b);
    case 'poly':
      return usesWindow(expr.arg);
    default:
      return false;
  }
}

export interface CompileOptions {
  layout: Layout;
  /** Pin a preset instead of letting the compiler choose. */
  preset?: PresetId;
}

/** A model and a layout → an evaluation plan on the smallest preset that fits (or the pinned one). */
export function compile(model: Model, options: CompileOptions): Plan {
  const { layout } = options;
  if (!(layout in model.layouts)) {
    throw new ProtocolError(
      'LAYOUT',
      `model ${model.id} is not defined for the ${layout} layout (it has ${Object.keys(model.layouts).join(', ')})`,
    );
  }
  const candidates = options.preset ? [options.preset] : PRESET_ORDER;
  let chosen: { preset: Preset; analysis: ReturnType<typeof analyse> } | undefined;
  const refusals: string[] = [];
  for (const id of candidates) {
    const preset = getPreset(id);
    const analysis = analyse(model, layout, preset.slots);
    const depth = Math.max(...analysis.outputs.map((o) => o.depth));
    const largest = Math.max(
      ...model.outputs.map((o) => Math.max(Math.abs(o.range[0]), Math.abs(o.range[1]))),
    );
    const readings = layout === 'batch' ? (model.batch?.readings ?? preset.slots) : 1;
    if (depth > preset.depth) refusals.push(`${id}: depth ${preset.depth} < ${depth}`);
    else if (Math.log2(largest) + 1 > preset.integerBits)
      refusals.push(`${id}: outputs up to ${largest} overflow`);
    else if (readings > preset.slots)
      refusals.push(`${id}: ${readings} readings exceed ${preset.slots} slots`);
    else if (layout === 'packed' && model.elements.length > preset.slots)
      refusals.push(`${id}: too many elements`);
    else {
      chosen = { preset, analysis };
      break;
    }
  }
  if (!chosen) {
    throw new CkksError(
      'DEPTH_EXHAUSTED',
      `model ${model.id} (${layout}) fits no preset: ${refusals.join('; ')}`,
    );
  }
  const { preset, analysis } = chosen;
  const block = nextPow2(model.elements.length);
  const sharedZ =
    layout === 'packed' &&
    model.outputs.length > 1 &&
    model.outputs.every((o) => o.expr.op === 'linear') &&
    model.outputs.length * block <= preset.slots;
  if (sharedZ) {
    analysis.costs.plaintext = 1;
    analysis.costs.rotations = sumSteps(block).length;
  }
  const template = checkTemplate({
    id: `${model.id}-${layout}`,
    version: model.version,
    preset: preset.id,
    layout,
    vitals: model.vitals,
    profile: model.profile,
    elements: model.elements,
    ...(layout === 'batch' && model.batch ? { batch: model.batch } : {}),
    ...(sharedZ ? { copies: model.outputs.length } : {}),
    result: model.outputs.map((o, i) => ({
      name: o.name,
      unit: o.unit,
      output: i,
      slot: sharedZ ? i * block : 0,
      criteria: o.criteria,
      description: `${o.description}${analysis.outputs[i]?.perReading ? ' (one per reading: slot i is reading i)' : ''}`,
    })),
  });
  const steps = [...analysis.costs.steps].sort((a, b) => a - b);
  return {
    model,
    layout,
    preset,
    template,
    depth: Math.max(...analysis.outputs.map((o) => o.depth)),
    outputs: analysis.outputs,
    multiplications: { ciphertext: analysis.costs.ciphertext, plaintext: analysis.costs.plaintext },
    rotations: analysis.costs.rotations,
    galoisSteps: steps,
    ciphertextsPerUpload: layout === 'packed' ? 1 : model.elements.length,
    readingsPerUpload: layout === 'batch' ? Math.min(preset.slots, model.batch?.readings ?? preset.slots) : 1,
    sharedZ,
  };
}

// ---- one walk, three arithmetics ----------------------------------------------------------

/** The operations an expression needs; each mode implements them over its own values. */
export interface Arithmetic<V> {
  element(index: number): V;
  linear(terms: readonly { index: number; coeff: number }[], constant: number): V;
  mul(a: V, b: V): V;
  /** A polynomial of a value within ±inputBound, whose result stays within ±outputBound. */
  poly(arg: V, coefficients: readonly number[], outputBound: number, inputBound: number): V;
  windowMean(index: number, mask: readonly number[]): V;
  /** Frees an intermediate value (encrypted mode); inputs are never released. */
  release(value: V): void;
}

/** Evaluates every output of a plan with one arithmetic. */
export function walk<V>(plan: Plan, arithmetic: Arithmetic<V>): V[] {
  const index = new Map(plan.model.elements.map((e, i) => [e.name, i]));
  const at = (name: string) => index.get(name) as number;
  const evaluate = (expr: Expr, bound: number): V => {
    switch (expr.op) {
      case 'element':
        return arithmetic.element(at(expr.name));
      case 'linear':
        return arithmetic.linear(
          expr.terms.map((t) => ({ index: at(t.element), coeff: t.coeff })),
          expr.constant,
        );
      case 'mul': {
        const a = evaluate(expr.a, bound);
        const b = evaluate(expr.b, bound);
        try {
          return arithmetic.mul(a, b);
        } finally {
          arithmetic.release(a);
          arithmetic.release(b);
        }
      }
      case 'poly': {
        const arg = evaluate(expr.arg, bound);
        try {
          const inputBound = Math.max(Math.abs(expr.domain[0]), Math.abs(expr.domain[1]));
          return arithmetic.poly(arg, expr.coefficients, bound, inputBound);
        } finally {
          arithmetic.release(arg);
        }
      }
      case 'windowMean':
        return arithmetic.windowMean(at(expr.element), windowMask(plan, expr.window));
    }
  };
  return plan.model.outputs.map((o) =>
    evaluate(o.expr, Math.max(Math.abs(o.range[0]), Math.abs(o.range[1]))),
  );
}

/** The plaintext mask of a window: 1/count on the window's slots, 0 elsewhere. */
export function windowMask(plan: Plan, window: string): number[] {
  const batch = plan.model.batch ?? { readings: plan.readingsPerUpload, intervalMinutes: 1 };
  const select = plan.model.windows?.[window];
  if (!select) throw new ProtocolError('BAD_TEMPLATE', `unknown window "${window}"`);
  const inWindow = Array.from({ length: plan.readingsPerUpload }, (_, i) => select(i, batch));
  const count = inWindow.filter(Boolean).length;
  if (count === 0) throw new ProtocolError('BAD_TEMPLATE', `window "${window}" selects no reading`);
  return inWindow.map((on) => (on ? 1 / count : 0));
}

/** Σ values with Neumaier's compensation: the float64 nearest the exact sum, in practice. */
export function compensatedSum(values: readonly number[]): number {
  let sum = 0;
  let carry = 0;
  for (const v of values) {
    const t = sum + v;
    carry += Math.abs(sum) >= Math.abs(v) ? sum - t + v : v - t + sum;
    sum = t;
  }
  return sum + carry;
}

/** float64 arithmetic over the layout's slot vectors. */
export function clearArithmetic(plan: Plan, vectors: readonly number[][]): Arithmetic<number[]> {
  const packed = plan.layout === 'packed';
  const input = (i: number): number[] => (packed ? [vectors[0]?.[i] as number] : (vectors[i] as number[]));
  const width = packed ? 1 : (vectors[0]?.length ?? 1);
  return {
    element: input,
    linear: (terms, constant) =>
      Array.from(
        { length: width },
        (_, s) => constant + terms.reduce((sum, t) => sum + t.coeff * (input(t.index)[s] as number), 0),
      ),
    mul: (a, b) => a.map((v, s) => v * (b[s] as number)),
    poly: (arg, coefficients) => arg.map((v) => coefficients.reduce((sum, c, k) => sum + c * v ** k, 0)),
    // The mean as a clinician computes it: the window's sum, then one division (Σ v·(1/n) put a
    // week of 130 mmHg at 129.99999999999937, below the 130 threshold).
    windowMean: (i, mask) => {
      const values = input(i).filter((_, s) => (mask[s] ?? 0) > 0);
      return [compensatedSum(values) / values.length];
    },
    release: () => {},
  };
}

/**
 * Plaintext arithmetic following the plan: inputs rounded to the scale they are encrypted at,
 * constants to theirs (Δ for plaintext products, the output scale inside a polynomial). The
 * levels each step spends were checked against the preset when the plan was made. No noise is
 * added: the difference to `clear` is the quantization CKKS encoding imposes, cheaply.
 */
export function simulatedArithmetic(plan: Plan, vectors: readonly number[][]): Arithmetic<number[]> {
  const delta = 2 ** plan.preset.scaleBits;
  const q0Bits = plan.preset.coeffModulusBits[0] ?? 0;
  const round = (v: number, scale: number) => Math.round(v * scale) / scale;
  const inputScale = (i: number) =>
    2 ** (plan.model.inputScaleBits?.[plan.model.elements[i]?.name ?? ''] ?? plan.preset.scaleBits);
  const quantized =
    plan.layout === 'packed'
      ? [(vectors[0] ?? []).map((v, i) => round(v, inputScale(i)))]
      : vectors.map((vector, i) => vector.map((v) => round(v, inputScale(i))));
  const clear = clearArithmetic(plan, quantized);
  return {
    ...clear,
    linear: (terms, constant) =>
      clear.linear(
        terms.map((t) => ({ index: t.index, coeff: round(t.coeff, delta) })),
        round(constant, delta),
      ),
    // polyval encodes each coefficient at the result's scale or finer; that scale is at least
    // what q0 holds for the output range, so rounding at it is the coarsest case.
    poly: (arg, coefficients, bound, inputBound) => {
      const outputScale = 2 ** (q0Bits - Math.ceil(Math.log2(bound)) - 2);
      return clear.poly(
        arg,
        coefficients.map((c) => round(c, outputScale)),
        bound,
        inputBound,
      );
    },
    // Encrypted, the mean is Σ v·w with w = 1/n encoded at Δ: the weight's rounding included.
    windowMean: (i, mask) => {
      const values = clear.element(i);
      return [compensatedSum(mask.map((m, s) => round(m, delta) * (values[s] ?? 0)))];
    },
  };
}

/**
 * Z of a shared-Z plan: block k of the packed input times output k's weights, each block summed
 * into its first slot by rotate-and-add, output k's constant added at slot k·m. One ciphertext.
 */
export function evaluateShared(plan: Plan, evaluator: Evaluator, input: CipherVector): CipherVector {
  const block = nextPow2(plan.model.elements.length);
  const index = new Map(plan.model.elements.map((e, i) => [e.name, i]));
  const weights = new Array<number>(block * plan.model.outputs.length).fill(0);
  const constants = new Array<number>(block * (plan.model.outputs.length - 1) + 1).fill(0);
  plan.model.outputs.forEach((o, k) => {
    if (o.expr.op !== 'linear') throw new ProtocolError('BAD_TEMPLATE', `output ${o.name} is not linear`);
    for (const t of o.expr.terms) {
      const i = k * block + (index.get(t.element) as number);
      weights[i] = (weights[i] ?? 0) + t.coeff;
    }
    constants[k * block] = o.expr.constant;
  });
  using product = evaluator.multiply(input, weights);
  const summed = evaluator.sum(product, block);
  if (constants.every((c) => c === 0)) return summed;
  try {
    return evaluator.add(summed, constants);
  } finally {
    summed.dispose();
  }
}

/** Real CKKS: the contract's side. `inputs` are the loaded tuple ciphertexts (never released here). */
export function encryptedArithmetic(plan: Plan, evaluator: Evaluator, inputs: readonly CipherVector[]) {
  const packed = plan.layout === 'packed';
  const owned = new Set<CipherVector>();
  const own = (v: CipherVector) => {
    owned.add(v);
    return v;
  };
  const input = (i: number): CipherVector => {
    const v = inputs[packed ? 0 : i];
    if (!v) throw new ProtocolError('LAYOUT', `tuple ciphertext ${i} is missing`);
    return v;
  };
  const elementCount = plan.model.elements.length;
  const arithmetic: Arithmetic<CipherVector> = {
    element: (i) => (packed ? own(i === 0 ? input(0).copy() : evaluator.rotate(input(0), i)) : input(i)),
    linear: (terms, constant) => {
      let acc: CipherVector;
      if (packed) {
        const weights = new Array<number>(elementCount).fill(0);
        for (const t of terms) weights[t.index] = (weights[t.index] ?? 0) + t.coeff;
        using product = evaluator.multiply(input(0), weights);
        acc = evaluator.sum(product, nextPow2(elementCount));
      } else {
        const parts = terms.map((t) => evaluator.multiply(input(t.index), t.coeff));
        acc = parts[0] as CipherVector;
        for (const part of parts.slice(1)) {
          const next = evaluator.add(acc, part);
          acc.dispose();
          part.dispose();
          acc = next;
        }
      }
      if (constant !== 0) {
        const shifted = evaluator.add(acc, constant);
        acc.dispose();
        acc = shifted;
      }
      return own(acc);
    },
    mul: (a, b) => own(evaluator.multiply(a, b)),
    poly: (arg, coefficients, outputBound, inputBound) =>
      own(evaluator.polyval(arg, coefficients, { outputBound, inputBound })),
    windowMean: (i, mask) => {
      using masked = evaluator.multiply(input(i), mask);
      return own(evaluator.sum(masked, nextPow2(mask.length)));
    },
    release: (v) => {
      if (owned.delete(v)) v.dispose();
    },
  };
  return arithmetic;
}
