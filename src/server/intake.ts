/**
 * Accepting uploads: the contract's own admission check (models/admission.ts), made first, so
 * that what the server acknowledges the contract will take, then one database transaction that
 * stores them all and is the acknowledgement. A request is accepted whole or refused whole, naming the item.
 */
import { sql } from 'kysely';
import { submissionId } from '../ledger/contract-client.ts';
import { admitSubmission, type Registrant } from '../models/admission.ts';
import type { SubmitBody } from '../protocol/api.ts';
import { isProtocolErrorCode, ProtocolError } from '../protocol/errors.ts';
import { listParam, verifyRequest } from '../protocol/request.ts';
import type { Layout } from '../protocol/schema.ts';
import { WorkerJobError, type WorkerPool } from '../workers/pool.ts';
import type { Db } from './db/database.ts';
import type { NewSubmission, Submission, User } from './db/schema.ts';
import { HttpError } from './errors.ts';
import { checkSubmissionQuota, type Quotas } from './quotas.ts';
import type { CiphertextCheck } from './validation-worker.ts';

export interface IntakeContext {
  db: Db;
  validator: WorkerPool<CiphertextCheck, true>;
  quotas: Quotas;
  now?: () => number;
}

/** The admission check's view of a user's subscription to one model, or 409 NOT_SUBSCRIBED. */
export async function registrantOf(db: Db, user: User, modelId: string): Promise<Registrant> {
  const subscription = await db
    .selectFrom('subscriptions')
    .selectAll()
    .where('user_id', '=', user.user_id)
    .where('model_id', '=', modelId)
    .executeTakeFirst();
  if (!subscription) {
    throw new HttpError(
      409,
      'NOT_SUBSCRIBED',
      `you have not registered model "${modelId}": register it (POST /v1/users with its setup), then send again`,
    );
  }
  return {
    userId: user.user_id,
    publicKey: user.public_key,
    modelId: subscription.model_id,
    layout: subscription.layout as Layout,
    presetId: subscription.preset_id,
    template: { id: subscription.template_id, version: subscription.template_version },
  };
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

/** Whether this user has used the nonce: in an envelope, an issue request or a setup. */
async function usedNonce(ctx: IntakeContext, userId: string, nonce: Uint8Array): Promise<boolean> {
  const row = await ctx.db
    .selectFrom('submissions')
    .select('id')
    .where('user_id', '=', userId)
    .where((eb) => eb.or([eb('nonce', '=', nonce), eb('issue_nonce', '=', nonce)]))
    .unionAll(
      ctx.db
        .selectFrom('registrations')
        .select(sql<string>`'setup'`.as('id'))
        .where('user_id', '=', userId)
        .where('setup_nonce', '=', nonce),
    )
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
  // A stored submission whose request to issue the contract refused (row.error) may be asked again.
  const refusedIssue =
    row.issue_request !== null && row.state === 'received' && row.result_id === null && row.error !== null;
  if (row.issue_request !== null && !refusedIssue) {
    throw new HttpError(409, 'ALREADY_REQUESTED', `submission ${id} already has its request to issue`);
  }
  const issueNonce = await checkIssueRequest(user, id, issue, row.nonce, now, 'issue', (n) =>
    usedNonce(ctx, user.user_id, n),
  );
  const updated = await ctx.db
    .updateTable('submissions')
    .set({ issue_request: issue, issue_nonce: issueNonce, error: null, updated_at: new Date() })
    .where('id', '=', id)
    .where((eb) =>
      refusedIssue
        ? eb.and([eb('issue_nonce', '=', row.issue_nonce as Uint8Array), eb('error', 'is not', null)])
        : eb('issue_request', 'is', null),
    )
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
  const seen = new Set<string>();
  const nonceSeen = async (userId: string, nonce: Uint8Array) => {
    const hex = Buffer.from(nonce).toString('hex');
    if (seen.has(hex)) return true;
    seen.add(hex);
    return usedNonce(ctx, userId, nonce);
  };
  const rows: NewSubmission[] = [];
  for (const [i, item] of body.entries()) {
    const where = `submissions[${i}]`;
    const { submission, plan } = await admitSubmission(item.envelope, {
      registrant: async (userId, modelId) => {
        if (userId !== user.user_id) {
          throw new HttpError(403, 'FORBIDDEN', `signed by "${userId}", not by you ("${user.user_id}")`);
        }
        return registrantOf(ctx.db, user, modelId);
      },
      now,
      nonceSeen,
      checkCiphertexts: async (p, ciphertexts) => {
        await ctx.validator
          .run({ modelId: p.model.id, layout: p.layout, presetId: p.preset.id, ciphertexts })
          .catch((error: unknown) => {
            const code = error instanceof WorkerJobError ? error.code : undefined;
            if (code && isProtocolErrorCode(code)) throw new ProtocolError(code, (error as Error).message);
            throw new HttpError(
              422,
              code?.startsWith('CKKS_') ? code : 'BAD_CIPHERTEXT',
              (error as Error).message,
            );
          });
      },
    }).catch((error: unknown) => {
      if (error instanceof ProtocolError) throw new ProtocolError(error.code, `${where}: ${error.message}`);
      if (error instanceof HttpError)
        throw new HttpError(error.statusCode, error.code, `${where}: ${error.message}`);
      throw error;
    });
    const id = submissionId(item.envelope);
    const issueNonce = item.issue
      ? await checkIssueRequest(user, id, item.issue, submission.nonce, now, `${where}.issue`, (n) =>
          nonceSeen(user.user_id, n),
        )
      : null;
    rows.push({
      id,
      user_id: user.user_id,
      nonce: submission.nonce,
      envelope: item.envelope,
      issue_request: item.issue ?? null,
      issue_nonce: issueNonce,
      bytes: item.envelope.length,
      readings: plan.readingsPerUpload,
      state: 'accepted',
      receive_block: null,
      result_id: null,
      error: null,
    });
  }
  try {
    return await ctx.db.transaction().execute(async (tx) => {
      const bytes = rows.reduce((sum, r) => sum + r.bytes, 0);
      await checkSubmissionQuota(tx, user.user_id, { count: rows.length, bytes }, ctx.quotas);
      return tx.insertInto('submissions').values(rows).returningAll().execute();
    });
  } catch (error) {
    if ((error as { code?: string }).code === UNIQUE_VIOLATION) {
      throw new ProtocolError('REPLAY', 'nonce: a submission with this nonce was accepted meanwhile');
    }
    throw error;
  }
}
