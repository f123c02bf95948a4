/**
 * Accepting uploads: every check the contract will make, made first, so that what the server
 * acknowledges the contract will take (signature, nonce, timestamp window, sizes, preset and
 * template version, ciphertexts that load), then one database transaction that stores them all
 * and is the acknowledgement. A request is accepted whole or refused whole, naming the item.
 */
import { HEADER_BYTES, maxPayloadBytes } from '../ckks/format.ts';
import { getPreset, type PresetId } from '../ckks/presets.ts';
import { submissionId } from '../ledger/contract-client.ts';
import { cachedPlan as planFor } from '../models/plans.ts';
import type { SubmitBody } from '../protocol/api.ts';
import { DEFAULT_LIMITS, verifySubmission } from '../protocol/envelope.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { listParam, verifyRequest } from '../protocol/request.ts';
import type { Layout } from '../protocol/schema.ts';
import { WorkerJobError, type WorkerPool } from '../workers/pool.ts';
import type { Db } from './db/database.ts';
import type { NewSubmission, Submission, User } from './db/schema.ts';
import { HttpError } from './errors.ts';
import type { CiphertextCheck } from './validation-worker.ts';

export interface IntakeContext {
  db: Db;
  validator: WorkerPool<CiphertextCheck, true>;
  now?: () => number;
}

/** Postgres' unique_violation. */
const UNIQUE_VIOLATION = '23505';

export async function acceptSubmissions(
  ctx: IntakeContext,
  user: User,
  body: SubmitBody,
): Promise<Submission[]> {
  const now = ctx.now?.() ?? Date.now();
  const preset = getPreset(user.preset_id as PresetId);
  const maxCiphertextBytes = maxPayloadBytes('ciphertext', preset) + HEADER_BYTES;
  const seen = new Set<string>();
  const rows: NewSubmission[] = [];
  for (const [i, item] of body.entries()) {
    const where = `submissions[${i}]`;
    const submission = await verifySubmission(item.envelope, {
      publicKey: async (userId) => {
        if (userId !== user.user_id) {
          throw new HttpError(
            403,
            'FORBIDDEN',
            `${where}: signed by "${userId}", not by you ("${user.user_id}")`,
          );
        }
        return user.public_key;
      },
      template: { id: user.template_id, version: user.template_version },
      now,
      limits: { ...DEFAULT_LIMITS, maxCiphertextBytes },
      nonceSeen: async (userId, nonce) => {
        const hex = Buffer.from(nonce).toString('hex');
        if (seen.has(hex)) return true;
        seen.add(hex);
        const row = await ctx.db
          .selectFrom('submissions')
          .select('id')
          .where('user_id', '=', userId)
          .where('nonce', '=', nonce)
          .executeTakeFirst();
        return row !== undefined;
      },
    }).catch((error: unknown) => {
      if (error instanceof ProtocolError) throw new ProtocolError(error.code, `${where}: ${error.message}`);
      throw error;
    });
    if (submission.modelId !== user.model_id || submission.presetId !== user.preset_id) {
      throw new HttpError(
        409,
        'WRONG_TEMPLATE',
        `${where}: made for ${submission.modelId} on ${submission.presetId}; you registered ${user.model_id} on ${user.preset_id}`,
      );
    }
    const id = submissionId(item.envelope);
    if (item.issue) {
      const issue = await verifyRequest(item.issue, { op: 'issue', publicKey: user.public_key, now });
      const ids = listParam(issue, 'submissions');
      if (issue.userId !== user.user_id || ids.length !== 1 || ids[0] !== id) {
        throw new HttpError(
          400,
          'BAD_FIELD',
          `${where}.issue: must be your request to issue exactly [${id}]`,
        );
      }
    }
    try {
      await ctx.validator.run({
        modelId: user.model_id,
        layout: user.layout as Layout,
        presetId: user.preset_id,
        ciphertexts: submission.ciphertexts,
      });
    } catch (error) {
      const code = error instanceof WorkerJobError ? (error.code ?? 'BAD_CIPHERTEXT') : 'BAD_CIPHERTEXT';
      throw new HttpError(422, code, `${where}: ${(error as Error).message}`);
    }
    rows.push({
      id,
      user_id: user.user_id,
      nonce: submission.nonce,
      envelope: item.envelope,
      issue_request: item.issue ?? null,
      bytes: item.envelope.length,
      readings: planFor(user.model_id, user.layout as Layout, user.preset_id).readingsPerUpload,
      state: 'accepted',
      receive_block: null,
      result_id: null,
      error: null,
    });
  }
  try {
    return await ctx.db
      .transaction()
      .execute((tx) => tx.insertInto('submissions').values(rows).returningAll().execute());
  } catch (error) {
    if ((error as { code?: string }).code === UNIQUE_VIOLATION) {
      throw new ProtocolError('REPLAY', 'nonce: a submission with this nonce was accepted meanwhile');
    }
    throw error;
  }
}
