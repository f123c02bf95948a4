/**
 * Turning what the untrusted server hands back into a diagnosis the user can trust as far as
 * the client can check: the result must answer this user's own submission (by its id, the hash
 * of the envelope the client signed), on this user's model and preset; it must name its ledger
 * transaction; every ciphertext of Z must hash to the id the contract recorded; and every
 * decrypted value must lie in its output's range (an altered ciphertext decrypts to noise).
 * Then Z → Q (decryption) → the model's finishing step → its reference criteria.
 */

import { Value } from '@sinclair/typebox/value';
import type { Reading } from '../device/reading.ts';
import type { IssuedResult } from '../ledger/contract-client.ts';
import { type Diagnosis, LEVELS, severity } from '../models/diagnosis.ts';
import { errorBoundsFor } from '../models/error-bounds.ts';
import { finishedRows, type Outputs } from '../models/runtime.ts';
import { type ApiResult, ResultSchema } from '../protocol/api.ts';
import { fromBase64, sha256Hex } from '../protocol/bytes.ts';
import type { LocalUser } from './user.ts';

/** FOREIGN: not this user's; MISMATCH: not what was asked; TAMPERED: altered; NO_KEY: a model no longer followed. */
export type ResultProblem = 'FOREIGN' | 'MISMATCH' | 'TAMPERED' | 'NO_KEY';

export class ResultError extends Error {
  override readonly name = 'ResultError';
  readonly code: ResultProblem;
  constructor(code: ResultProblem, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

export interface Interpreted {
  q: Outputs;
  /** Finished values of the reading the diagnosis is about. */
  values: Record<string, number>;
  diagnosis: Diagnosis;
  /** For per-reading outputs over several readings: how many readings fell at each level. */
  levels?: Partial<Record<Diagnosis['level'], number>>;
}

const TX_ID = /^[0-9a-f]{16,128}$/;

/** The checks that need no secret key; returns the result in the shape decryption takes. */
export function checkResult(result: ApiResult, user: LocalUser, submissionId: string): IssuedResult {
  const { plan } = user;
  // The server is untrusted: its answer must have the contract's shape before anything is read.
  if (!Value.Check(ResultSchema, result)) {
    const first = Value.Errors(ResultSchema, result).First();
    throw new ResultError('TAMPERED', `the result${first?.path ?? ''}: ${first?.message ?? 'malformed'}`);
  }
  if (result.submissionId !== submissionId) {
    throw new ResultError(
      'FOREIGN',
      `result ${result.id} answers submission ${result.submissionId}, not ${submissionId}`,
    );
  }
  if (
    result.modelId !== plan.model.id ||
    result.presetId !== plan.preset.id ||
    result.layout !== plan.layout
  ) {
    throw new ResultError(
      'MISMATCH',
      `result ${result.id} is for ${result.modelId}/${result.layout} on ${result.presetId}; this user runs ${plan.model.id}/${plan.layout} on ${plan.preset.id}`,
    );
  }
  if (!TX_ID.test(result.txId) || !(result.blockNumber >= 0)) {
    throw new ResultError('TAMPERED', `result ${result.id} names no ledger transaction`);
  }
  const names = plan.outputs.map((o) => o.name);
  const got = result.outputs.filter((o) => o.submission === 0).map((o) => o.name);
  if (got.join() !== names.join()) {
    throw new ResultError('TAMPERED', `result ${result.id} has outputs [${got}], the model has [${names}]`);
  }
  for (const o of result.outputs) {
    const b64 = result.z[o.blob];
    let bytes: Uint8Array;
    try {
      bytes = fromBase64(b64 ?? '');
    } catch {
      throw new ResultError('TAMPERED', `output ${o.name}: its ciphertext is not base64`);
    }
    if (b64 === undefined || sha256Hex(bytes) !== o.blob) {
      throw new ResultError(
        'TAMPERED',
        `output ${o.name}: the ciphertext does not hash to ${o.blob}, the id the contract recorded`,
      );
    }
  }
  return { result, z: result.z };
}

/**
 * Decrypts Z, checks each value against its output's range, and diagnoses. Each row's diagnosis
 * also gets what the client knows in the clear (model.ts ClearInputs): the reading it is about
 * (with its observations) and `profile`, the values entered once; neither ever leaves the device.
 */
export function interpret(
  user: LocalUser,
  issued: IssuedResult,
  readings: readonly Reading[],
  profile?: Readonly<Record<string, number>>,
): Interpreted {
  const { plan } = user;
  const count = plan.layout === 'batch' ? readings.length : 1;
  let q: Outputs;
  try {
    q = user.decrypt(issued, 0, count);
  } catch (error) {
    throw new ResultError(
      'TAMPERED',
      `Z does not decrypt under this user's key: ${(error as Error).message}`,
    );
  }
  const bounds = errorBoundsFor(plan.model.id, plan.layout);
  for (const output of plan.model.outputs) {
    const [lo, hi] = output.range;
    // Outside the range by more than the rounding CKKS may add: not what the model computed.
    const slack = (hi - lo) * 0.01 + 4 * Math.max(...Object.values(bounds), 0.01);
    for (const v of q[output.name] ?? []) {
      if (!(v >= lo - slack && v <= hi + slack)) {
        throw new ResultError(
          'TAMPERED',
          `output ${output.name} decrypts to ${v}, outside its range [${lo}, ${hi}]: Z was altered`,
        );
      }
    }
  }
  const rows = finishedRows(plan, q, count);
  // Per-reading rows are the readings in order; a window row is about the upload (its last reading).
  const readingOf = (i: number) => (rows.length === readings.length ? readings[i] : readings.at(-1));
  const diagnoses = rows.map((row, i) =>
    plan.model.diagnose(row, bounds, { reading: readingOf(i), profile }),
  );
  const last = rows.length - 1;
  const interpreted: Interpreted = {
    q,
    values: rows[last] as Record<string, number>,
    diagnosis: diagnoses[last] as Diagnosis,
  };
  if (rows.length > 1) {
    const levels: Partial<Record<Diagnosis['level'], number>> = {};
    for (const d of diagnoses) levels[d.level] = (levels[d.level] ?? 0) + 1;
    interpreted.levels = levels;
    const worst = diagnoses.reduce((a, b) => (severity(b.level) > severity(a.level) ? b : a));
    const summary = LEVELS.filter((l) => levels[l]).map((l) => `${levels[l]} ${l}`);
    interpreted.diagnosis = {
      ...interpreted.diagnosis,
      findings: [
        ...interpreted.diagnosis.findings,
        `${rows.length} readings: ${summary.join(', ')}; the most severe was "${worst.label}"`,
      ],
    };
  }
  return interpreted;
}
