/**
 * Measuring a compiled model on a cohort: every upload is evaluated clear, simulated and
 * encrypted; the finished values are compared and the diagnoses too. A reading whose encrypted
 * diagnosis differs from the clear one must have been flagged borderline (its value within the
 * error bound of a threshold); anything else is a mismatch.
 */
import {
  CkksContext,
  Decryptor,
  Encryptor,
  Evaluator,
  type GaloisKeys,
  type RelinKeys,
  SecretKey,
} from '../ckks/index.ts';
import type { Profile } from '../protocol/meta-functions.ts';
import type { VitalReading } from '../protocol/vitals.ts';
import type { Plan } from './compiler.ts';
import type { Diagnosis } from './diagnosis.ts';
import { errorBoundsFor } from './error-bounds.ts';
import {
  decryptOutputs,
  encryptTuple,
  evaluate,
  finishedRows,
  loadTuple,
  runClear,
  runSimulated,
  tupleVectors,
} from './runtime.ts';

export interface Upload {
  readings: VitalReading[];
  profile: Profile;
}

export interface ValidationReport {
  uploads: number;
  readings: number;
  /** Largest |encrypted − clear| and |simulated − clear| per finished value. */
  maxAbsError: Record<string, number>;
  maxAbsErrorSimulated: Record<string, number>;
  maxRelError: number;
  /** The error bounds the encrypted diagnoses were made with, and the values that exceeded theirs. */
  errorBounds: Record<string, number>;
  exceeded: string[];
  /** Readings whose encrypted diagnosis is borderline, and those that differ without being so. */
  borderline: number;
  mismatches: { upload: number; reading: number; clear: string; encrypted: string }[];
  bytesPerUpload: number;
  resultBytes: number;
  msPerEvaluation: number;
}

export interface ValidateOptions {
  /** Error bounds per finished value for the encrypted diagnosis (default: the committed, measured ones). */
  errorBounds?: Record<string, number>;
  /** Called after each upload with the count done (for progress bars). */
  progress?: (done: number, total: number) => void;
}

/** Combines reports of disjoint parts of one cohort (e.g. from worker threads). */
export function mergeReports(parts: readonly ValidationReport[]): ValidationReport {
  const first = parts[0];
  if (!first) throw new RangeError('no reports to merge');
  const max = (pick: (r: ValidationReport) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const r of parts) for (const [k, v] of Object.entries(pick(r))) out[k] = Math.max(out[k] ?? 0, v);
    return out;
  };
  const maxAbsError = max((r) => r.maxAbsError);
  const uploads = parts.reduce((s, r) => s + r.uploads, 0);
  return {
    uploads,
    readings: parts.reduce((s, r) => s + r.readings, 0),
    maxAbsError,
    maxAbsErrorSimulated: max((r) => r.maxAbsErrorSimulated),
    maxRelError: Math.max(...parts.map((r) => r.maxRelError)),
    errorBounds: first.errorBounds,
    exceeded: Object.keys(maxAbsError).filter(
      (k) => (maxAbsError[k] ?? 0) > (first.errorBounds[k] ?? Number.POSITIVE_INFINITY),
    ),
    borderline: parts.reduce((s, r) => s + r.borderline, 0),
    mismatches: parts.flatMap((r) => r.mismatches),
    bytesPerUpload: Math.max(...parts.map((r) => r.bytesPerUpload)),
    resultBytes: first.resultBytes,
    msPerEvaluation: parts.reduce((s, r) => s + r.msPerEvaluation * r.uploads, 0) / Math.max(1, uploads),
  };
}

/** One user's keys and tools; the noise of key switching depends on the keys drawn. */
function keyring(context: CkksContext, plan: Plan) {
  const secret = SecretKey.generate(context);
  const relinKeys: RelinKeys = secret.relinKeys();
  const galoisKeys: GaloisKeys | undefined = plan.galoisSteps.length
    ? secret.galoisKeys(plan.galoisSteps)
    : undefined;
  const encryptor = Encryptor.withSecretKey(secret);
  const decryptor = new Decryptor(secret);
  const evaluator = new Evaluator(context, galoisKeys ? { relinKeys, galoisKeys } : { relinKeys });
  return {
    encryptor,
    decryptor,
    evaluator,
    [Symbol.dispose]: () => {
      for (const o of [evaluator, decryptor, encryptor, galoisKeys, relinKeys, secret]) o?.dispose();
    },
  };
}

/**
 * Fresh keys every few uploads (every upload in a batch layout), as many users would have: the
 * noise of rotations varies by an order of magnitude between key sets, and the error bounds must
 * hold for all of them.
 */
const UPLOADS_PER_KEYRING = { paper: 16, packed: 16, batch: 1 } as const;

export async function validate(plan: Plan, uploads: readonly Upload[], options: ValidateOptions = {}) {
  const context = await CkksContext.create(plan.preset.id);
  let keys = keyring(context, plan);
  const bounds = options.errorBounds ?? errorBoundsFor(plan.model.id, plan.layout);

  const report: ValidationReport = {
    uploads: uploads.length,
    readings: 0,
    maxAbsError: {},
    maxAbsErrorSimulated: {},
    maxRelError: 0,
    errorBounds: bounds,
    exceeded: [],
    borderline: 0,
    mismatches: [],
    bytesPerUpload: 0,
    resultBytes: 0,
    msPerEvaluation: 0,
  };
  let evaluationMs = 0;
  try {
    uploads.forEach((upload, u) => {
      if (u > 0 && u % UPLOADS_PER_KEYRING[plan.layout] === 0) {
        keys[Symbol.dispose]();
        keys = keyring(context, plan);
      }
      const { encryptor, decryptor, evaluator } = keys;
      const vectors = tupleVectors(plan, upload.readings, upload.profile);
      const clear = finishedRows(plan, runClear(plan, vectors), upload.readings.length);
      const simulated = finishedRows(plan, runSimulated(plan, vectors), upload.readings.length);
      const bytes = encryptTuple(plan, encryptor, vectors);
      report.bytesPerUpload = Math.max(
        report.bytesPerUpload,
        bytes.reduce((s, b) => s + b.length, 0),
      );
      const start = performance.now();
      const inputs = loadTuple(plan, context, bytes);
      let z: ReturnType<typeof evaluate> = [];
      try {
        z = evaluate(plan, evaluator, inputs);
        evaluationMs += performance.now() - start;
        if (u === 0) report.resultBytes = z.reduce((s, c) => s + c.save().length, 0);
        const encrypted = finishedRows(
          plan,
          decryptOutputs(plan, decryptor, z, upload.readings.length),
          upload.readings.length,
        );
        report.readings += upload.readings.length;
        clear.forEach((want, r) => {
          const got = encrypted[r] as Record<string, number>;
          const sim = simulated[r] as Record<string, number>;
          for (const [name, value] of Object.entries(want)) {
            const err = Math.abs((got[name] as number) - value);
            report.maxAbsError[name] = Math.max(report.maxAbsError[name] ?? 0, err);
            report.maxAbsErrorSimulated[name] = Math.max(
              report.maxAbsErrorSimulated[name] ?? 0,
              Math.abs((sim[name] as number) - value),
            );
            if (Math.abs(value) > 1e-6)
              report.maxRelError = Math.max(report.maxRelError, err / Math.abs(value));
          }
          const exact: Diagnosis = plan.model.diagnose(want, {});
          const approximate: Diagnosis = plan.model.diagnose(got, bounds);
          if (approximate.borderline) report.borderline += 1;
          else if (approximate.label !== exact.label) {
            report.mismatches.push({
              upload: u,
              reading: r,
              clear: exact.label,
              encrypted: approximate.label,
            });
          }
        });
      } finally {
        for (const c of [...inputs, ...z]) c.dispose();
      }
      options.progress?.(u + 1, uploads.length);
    });
  } finally {
    keys[Symbol.dispose]();
  }
  report.msPerEvaluation = evaluationMs / Math.max(1, uploads.length);
  report.exceeded = Object.entries(report.maxAbsError)
    .filter(([name, err]) => err > (bounds[name] ?? Number.POSITIVE_INFINITY))
    .map(([name]) => name);
  return report;
}
