/**
 * Measured error bounds: for each model, layout and finished value, the largest
 * |encrypted − float64| that `npm run models:report` saw on its cohort, times 8 (rotation noise
 * varies by an order of magnitude between key sets), rounded
 * up to one significant digit (`--write-bounds` rewrites error-bounds.json). Encrypted
 * diagnoses use them to say "borderline" rather than guess near a threshold; the report and the
 * tests fail if a run ever exceeds them.
 */
import bounds from './error-bounds.json' with { type: 'json' };

export const ERROR_BOUND_MARGIN = 8;

const table = bounds as Record<string, Record<string, number>>;

export function errorBoundsFor(model: string, layout: string): Record<string, number> {
  return { ...(table[`${model}/${layout}`] ?? {}) };
}

/** One significant digit, rounded up: 3.2e-4 → 4e-4. */
export function roundUpBound(value: number): number {
  if (!(value > 0)) return 1e-12;
  const exponent = Math.floor(Math.log10(value));
  const digit = Math.ceil(value / 10 ** exponent);
  return Number((digit * 10 ** exponent).toPrecision(1));
}
