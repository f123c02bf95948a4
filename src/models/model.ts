/**
 * Models are data: the tuple elements they need (meta-functions of the vitals), a small
 * expression per output (the polynomial F of eq. 5–6, written over tuple elements), a
 * client-side finishing step applied after decryption, and reference criteria that turn Q into a
 * diagnosis.
 */
import type { PresetId } from '../ckks/presets.ts';
import type { Reading } from '../device/reading.ts';
import type { ElementSpec, ProfileField } from '../protocol/meta-functions.ts';
import type { Layout } from '../protocol/schema.ts';
import type { Vital } from '../protocol/vitals.ts';
import type { Diagnosis } from './diagnosis.ts';

/** An expression over tuple elements; each node's cost in levels is fixed (see compiler). */
export type Expr =
  /** A tuple element as encrypted. */
  | { op: 'element'; name: string }
  /** Σ coeff·element + constant: one plaintext multiplication level. */
  | { op: 'linear'; terms: readonly { element: string; coeff: number }[]; constant: number }
  /** Product of two expressions: one level. */
  | { op: 'mul'; a: Expr; b: Expr }
  /** A polynomial (ascending coefficients) of an expression whose value lies in `domain`. */
  | { op: 'poly'; arg: Expr; coefficients: readonly number[]; domain: readonly [number, number] }
  /** Batch layout: mean of an element over a window of slots (a plaintext mask, then a slot sum). */
  | { op: 'windowMean'; element: string; window: string };

export interface ModelOutput {
  name: string;
  unit: string;
  description: string;
  /** The reference criteria applied to it (named in the template's result schema). */
  criteria: string;
  expr: Expr;
  /** Bounds on the output's value, used to choose its scale and to check it fits. */
  range: readonly [number, number];
}

/**
 * What the client knows in the clear when it diagnoses a decrypted result: the reading the result
 * is about, with any observations measured or entered beside it (SpO2, temperature, oxygen,
 * consciousness), and the values entered once (the vault's profile, e.g. `spo2Scale`). Never
 * sent; criteria may combine it with the decrypted values (early-warning: the full NEWS2).
 */
export interface ClearInputs {
  reading?: Readonly<Reading> | undefined;
  profile?: Readonly<Record<string, number>> | undefined;
}

/** Which slots of a batch belong to a window (by the reading's index in the upload). */
export type WindowMask = (index: number, batch: { readings: number; intervalMinutes: number }) => boolean;

export interface Model {
  id: string;
  version: number;
  name: string;
  description: string;
  /** Layouts this model can be evaluated in, and the preset each uses by default. */
  layouts: Partial<Record<Layout, PresetId>>;
  vitals: Vital[];
  profile: ProfileField[];
  elements: ElementSpec[];
  outputs: ModelOutput[];
  /** Batch layout: readings per upload and spacing, and the windows `windowMean` may name. */
  batch?: { readings: number; intervalMinutes: number };
  windows?: Record<string, WindowMask>;
  /** Scale each input is encrypted at (log2), when its magnitude calls for another than Δ. */
  inputScaleBits?: Partial<Record<string, number>>;
  /**
   * Client-side check of one reading's tuple values before encryption (element name → value):
   * returns why the values are outside what the model was validated on, or undefined. The
   * contract cannot check a range it cannot see, so the client must.
   */
  checkDomain?(values: Readonly<Record<string, number>>): string | undefined;
  /** Client-side step after decryption: Q (outputs by name) → the values criteria read. */
  finish(q: Readonly<Record<string, number>>): Record<string, number>;
  /** Unit and meaning of the values `finish` adds beyond the outputs (for display and export). */
  finishedValues?: Readonly<Record<string, { unit: string; description: string }>>;
  /**
   * Reference criteria: finished values and their error bounds → a diagnosis. `clear`, when the
   * client has it, is what it knows beside them (a model may ignore it; without it the diagnosis
   * reads the decrypted values alone).
   */
  diagnose(
    values: Readonly<Record<string, number>>,
    errorBounds: Readonly<Record<string, number>>,
    clear?: ClearInputs,
  ): Diagnosis;
}
