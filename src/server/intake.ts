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

/**
 * A signed request to issue Z for exactly this submission, by its owner, in the timestamp window,
 * with a nonce of its own (the contract keeps one nonce space per user: a request reusing its
 * envelope's nonce would be refused there).
 */
async function checkIssueRequest(
  user: User,
  id: string,
  bytes: Uint8Array,
  envelopeNonce: Uint8Array,
  now: number,
  where: string,
  nonceSeen: (nonce: Uint8Array) => Promise<boolean>,
): Promise<Uint8Array> {
  const issue = await verifyRequest(bytes, { op: 'issue', publicKey: user.public_key, now });
  const ids = listParam(issue, 'submissions');
  if (issue.userId !== user.user_id || ids.length !== 1 || ids[0] !== id) {
    throw new HttpError(400, 'BAD_FIELD', `${where}: must be your request to issue exactly [${id}]`);
  }
  if (Buffer.from(issue.nonce).equals(Buffer.from(envelopeNonce))) {
    throw new ProtocolError(
      'REPLAY',
      `${where}: its nonce is the envelope's; each signed item needs its own`,
    );
  }
  if (await nonceSeen(issue.nonce)) {
    throw new ProtocolError('REPLAY', `${where}: nonce already used by user "${user.user_id}"`);
  }
  return issue.nonce;
}

/** Whether this user has used the nonce, in an envelope or in an issue request. */
async function usedNonce(ctx: IntakeContext, userId: string, nonce: Uint8Array): Promise<boolean> {
  const row = await ctx.db
    .selectFrom('submissions')
    .select('id')
    .where('user_id', '=', userId)
    .where((eb) => eb.or([eb('nonce', '=', nonce), eb('issue_nonce', '=', nonce)]))
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * The request to issue Z for a submission stored without one (uploaded earlier, issued later).
 * Refused when the submission is not the user's, already has one, or was refused.
 */
export async function acceptLateIssue(
  ctx: IntakeContext,
  user: User,
  id: string,
  issue: Uint8Array,
): Promise<Submission> {
  const now = ctx.now?.() ?? Date.now();
  if (!/^[0-9a-f]{64}$/.test(id))
    throw new HttpError(400, 'BAD_FIELD', `params.id: "${id}" is not a submission id`);
  const row = await ctx.db
    .selectFrom('submissions')
    .selectAll()
    .where('id', '=', id)
    .where('user_id', '=', user.user_id)
    .executeTakeFirst();
  if (!row) throw new HttpError(404, 'NOT_FOUND', `no submission ${id} of yours`);
  if (row.state === 'rejected') {
    throw new HttpError(409, 'REJECTED', `submission ${id} was refused by the contract: ${row.error}`);
  }
  if (row.issue_request !== null) {
    throw new HttpError(409, 'ALREADY_REQUESTED', `submission ${id} already has its request to issue`);
  }
  const issueNonce = await checkIssueRequest(user, id, issue, row.nonce, now, 'issue', (n) =>
    usedNonce(ctx, user.user_id, n),
  );
  const updated = await ctx.db
    .updateTable('submissions')
    .set({ issue_request: issue, issue_nonce: issueNonce, updated_at: new Date() })
    .where('id', '=', id)
    .where('issue_request', 'is', null)
    .returningAll()
    .executeTakeFirst();
  if (!updated) {
    throw new HttpError(409, 'ALREADY_REQUESTED', `submission ${id} already has its request to issue`);
  }
  return updated;
}

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
        return usedNonce(ctx, userId, nonce);
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
    const issueNonce = item.issue
      ? await checkIssueRequest(user, id, item.issue, submission.nonce, now, `${where}.issue`, async (n) => {
          const hex = Buffer.from(n).toString('hex');
          if (seen.has(hex)) return true;
          seen.add(hex);
          return usedNonce(ctx, user.user_id, n);
        })
      : null;
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
      issue_nonce: issueNonce,
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
