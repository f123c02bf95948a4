/**
 * Sharing with clinicians, the server's part (docs/sharing.md): it registers clinicians, relays
 * a person's signed grants, revocations and shares to the contract, keeps the sealed items it
 * cannot open, and gives each to its clinician only while the person's grant is in force.
 */
import type { Ledger } from '../ledger/ledger.ts';
import type {
  Clinician,
  ClinicianRegisterBody,
  Grant,
  GrantList,
  RequestBody,
  Share,
  ShareBody,
  SharedItem,
} from '../protocol/api.ts';
import { type Answer, type GrantRecord, readAnswer } from '../protocol/contract.ts';
import { type RequestOp, textParam } from '../protocol/request.ts';
import { fingerprint, itemHash, verifyItem } from '../protocol/shared-item.ts';
import { ownRequest } from './auth.ts';
import type { Db } from './db/database.ts';
import type { User } from './db/schema.ts';
import { HttpError } from './errors.ts';
import { admitRegistration, type RegistrationContext, submitWithRetry } from './register.ts';

export interface SharingContext {
  db: Db;
  ledger: Ledger;
}

/** A clinician's registration: their signed request goes to the contract, then their row here. */
export async function registerClinician(
  ctx: RegistrationContext,
  body: ClinicianRegisterBody,
): Promise<Clinician> {
  const { publicKey, enrolment } = await admitRegistration(ctx, body.request, 'clinician', 0, body.enrolment);
  const { txId, answer } = await submitWithRetry(ctx.ledger, 'clinician', {
    args: [Buffer.from(body.request).toString('base64')],
  }).catch(async (error: unknown) => {
    await enrolment.release();
    throw error;
  });
  const c = answer.clinician;
  const row = {
    public_key: publicKey,
    setup_tx: txId,
    role: 'clinician' as const,
    box_key: Buffer.from(c.boxKey ?? '', 'base64'),
    name: c.name ?? '',
  };
  await ctx.db
    .insertInto('users')
    .values({ user_id: c.userId, ...row })
    .onConflict((oc) => oc.column('user_id').doUpdateSet(row))
    .execute();
  await enrolment.record();
  return clinicianView({ user_id: c.userId, ...row });
}

/** A registered clinician, for a person about to grant (with the fingerprint to check with them). */
export async function clinicianById(db: Db, clinicianId: string): Promise<Clinician> {
  const row = await db
    .selectFrom('users')
    .selectAll()
    .where('user_id', '=', clinicianId)
    .where('role', '=', 'clinician')
    .executeTakeFirst();
  if (!row) throw new HttpError(404, 'NOT_FOUND', `no registered clinician "${clinicianId}"`);
  return clinicianView(row);
}

function clinicianView(
  row: Pick<User, 'user_id' | 'public_key' | 'box_key' | 'name' | 'setup_tx'>,
): Clinician {
  const boxKey = row.box_key ?? new Uint8Array(0);
  return {
    clinicianId: row.user_id,
    name: row.name ?? '',
    publicKey: Buffer.from(row.public_key).toString('base64'),
    boxKey: Buffer.from(boxKey).toString('base64'),
    fingerprint: fingerprint(boxKey),
    txId: row.setup_tx,
  };
}

/** A person's own signed request for `op`, checked before it goes to the ledger. */
async function personRequest(user: User, bytes: Uint8Array, op: RequestOp) {
  if (user.role !== 'person')
    throw new HttpError(403, 'FORBIDDEN', `${op}: clinicians do not ${op}; people do`);
  return ownRequest(user, bytes, op);
}

/** grant: the person's signed request to the contract, then the grant's row (replacing an older one). */
export async function grant(ctx: SharingContext, user: User, body: RequestBody): Promise<Grant> {
  await personRequest(user, body.request, 'grant');
  const { answer } = await submitWithRetry(ctx.ledger, 'grant', {
    args: [Buffer.from(body.request).toString('base64')],
  });
  await saveGrant(ctx.db, answer.grant);
  return (await grantsOf(ctx.db, user, answer.grant.clinicianId)).grants[0] as Grant;
}

export async function revoke(ctx: SharingContext, user: User, body: RequestBody): Promise<Grant> {
  const request = await personRequest(user, body.request, 'revoke');
  const clinicianId = textParam(request, 'clinicianId');
  const { answer } = await submitWithRetry(ctx.ledger, 'revoke', {
    args: [Buffer.from(body.request).toString('base64')],
  });
  await saveGrant(ctx.db, answer.grant);
  return (await grantsOf(ctx.db, user, clinicianId)).grants[0] as Grant;
}

async function saveGrant(db: Db, g: GrantRecord): Promise<void> {
  const row = {
    models: JSON.stringify(g.models),
    from_at: new Date(g.from),
    until_at: new Date(g.until),
    grant_tx: g.txId,
    revoked_at: g.revokedAt === null ? null : new Date(g.revokedAt),
    revoke_tx: g.revokeTx,
  };
  await db
    .insertInto('grants')
    .values({ user_id: g.userId, clinician_id: g.clinicianId, ...row })
    .onConflict((c) => c.columns(['user_id', 'clinician_id']).doUpdateSet(row))
    .execute();
}

const stateOf = (g: { revoked_at: Date | null; until_at: Date }, now = Date.now()): Grant['state'] =>
  g.revoked_at !== null ? 'revoked' : new Date(g.until_at).getTime() <= now ? 'expired' : 'active';

/** The grants a person gave (or a clinician received), each with the results shared under it. */
export async function grantsOf(db: Db, user: User, clinicianId?: string): Promise<GrantList> {
  const side = user.role === 'clinician' ? 'clinician_id' : 'user_id';
  let query = db
    .selectFrom('grants')
    .innerJoin('users as c', 'c.user_id', 'grants.clinician_id')
    .selectAll('grants')
    .select('c.name as clinician_name')
    .where(`grants.${side}`, '=', user.user_id)
    .orderBy('grants.user_id')
    .orderBy('grants.clinician_id');
  if (clinicianId !== undefined) query = query.where('grants.clinician_id', '=', clinicianId);
  const rows = await query.execute();
  const shares = await db
    .selectFrom('shares')
    .select(['user_id', 'clinician_id', 'result_id'])
    .where(side, '=', user.user_id)
    .orderBy('seq')
    .execute();
  return {
    role: user.role,
    grants: rows.map((g) => ({
      userId: g.user_id,
      clinicianId: g.clinician_id,
      clinicianName: g.clinician_name ?? '',
      models: JSON.parse(g.models) as string[],
      from: new Date(g.from_at).toISOString(),
      until: new Date(g.until_at).toISOString(),
      state: stateOf(g),
      txId: g.grant_tx,
      revokedAt: g.revoked_at === null ? null : new Date(g.revoked_at).toISOString(),
      revokeTx: g.revoke_tx,
      shared: shares
        .filter((s) => s.user_id === g.user_id && s.clinician_id === g.clinician_id)
        .map((s) => s.result_id),
    })),
  };
}

/**
 * share: the item must be the person's (signature), addressed as the request says, with the hash
 * the request signs, under a grant in force here; the contract checks the grant again, the model
 * and the result, and records the hash. The item is kept only once that committed.
 */
export async function share(ctx: SharingContext, user: User, body: ShareBody): Promise<Share> {
  const request = await personRequest(user, body.request, 'share');
  const header = await verifyItem(body.item, user.public_key);
  const clinicianId = textParam(request, 'clinicianId');
  const resultId = textParam(request, 'resultId');
  const expected = { userId: user.user_id, clinicianId, resultId };
  for (const [k, v] of Object.entries(expected) as [keyof typeof expected, string][]) {
    if (header[k] !== v) {
      throw new HttpError(400, 'BAD_FIELD', `item.${k}: "${header[k]}", but the share request names "${v}"`);
    }
  }
  if (itemHash(body.item) !== textParam(request, 'item')) {
    throw new HttpError(400, 'BAD_FIELD', 'params.item: not the SHA-256 of this item');
  }
  await grantInForce(ctx.db, user.user_id, clinicianId);
  const { answer } = await submitWithRetry(ctx.ledger, 'share', {
    args: [Buffer.from(body.request).toString('base64')],
  });
  const s = answer.share;
  await ctx.db
    .insertInto('shares')
    .values({
      user_id: s.userId,
      clinician_id: s.clinicianId,
      result_id: s.resultId,
      model_id: s.modelId,
      item: body.item,
      item_hash: s.item,
      share_tx: s.txId,
      shared_at: new Date(s.timestamp),
    })
    .onConflict((c) => c.columns(['user_id', 'clinician_id', 'result_id']).doNothing())
    .execute();
  return shareView(s.userId, s.clinicianId, s.resultId, s.modelId, s.item, s.txId, s.timestamp);
}

function shareView(
  userId: string,
  clinicianId: string,
  resultId: string,
  modelId: string,
  itemHash: string,
  txId: string,
  at: Date | string | number,
): Share {
  return { userId, clinicianId, resultId, modelId, itemHash, txId, sharedAt: new Date(at).toISOString() };
}

/** The grant from u to c if it is in force now; NO_GRANT (403) saying why not. */
async function grantInForce(db: Db, userId: string, clinicianId: string) {
  const g = await db
    .selectFrom('grants')
    .selectAll()
    .where('user_id', '=', userId)
    .where('clinician_id', '=', clinicianId)
    .executeTakeFirst();
  const state = g ? stateOf(g) : 'none';
  if (state !== 'active') {
    const why = state === 'none' ? 'there is no grant' : `the grant was ${state}`;
    throw new HttpError(403, 'NO_GRANT', `${why} from "${userId}" to "${clinicianId}"`);
  }
}

/** The items shared with this clinician under grants in force now (none of revoked or expired ones). */
export async function itemsFor(db: Db, clinician: User, userId?: string): Promise<SharedItem[]> {
  if (clinician.role !== 'clinician')
    throw new HttpError(403, 'FORBIDDEN', 'shared items are for clinicians');
  let query = db
    .selectFrom('shares')
    .innerJoin('grants', (j) =>
      j
        .onRef('grants.user_id', '=', 'shares.user_id')
        .onRef('grants.clinician_id', '=', 'shares.clinician_id'),
    )
    .selectAll('shares')
    .where('shares.clinician_id', '=', clinician.user_id)
    .where('grants.revoked_at', 'is', null)
    .where('grants.until_at', '>', new Date())
    .orderBy('shares.seq');
  if (userId !== undefined) query = query.where('shares.user_id', '=', userId);
  const rows = await query.execute();
  return rows.map((r) => ({
    ...shareView(r.user_id, r.clinician_id, r.result_id, r.model_id, r.item_hash, r.share_tx, r.shared_at),
    item: Buffer.from(r.item).toString('base64'),
  }));
}

/** One item, to its clinician, while the grant is in force (NO_GRANT once revoked or expired). */
export async function itemFor(
  db: Db,
  clinician: User,
  userId: string,
  resultId: string,
): Promise<SharedItem> {
  if (clinician.role !== 'clinician')
    throw new HttpError(403, 'FORBIDDEN', 'shared items are for clinicians');
  await grantInForce(db, userId, clinician.user_id);
  const [item] = (await itemsFor(db, clinician, userId)).filter((i) => i.resultId === resultId);
  if (!item) throw new HttpError(404, 'NOT_FOUND', `"${userId}" has not shared result ${resultId} with you`);
  return item;
}

/** The contract's consent records of the signer, read from the ledger (the record, not this server). */
export async function consentOf(
  ctx: SharingContext,
  user: User,
  body: RequestBody,
): Promise<Answer<'consent'>> {
  await ownRequest(user, body.request, 'consent');
  return readAnswer(
    'consent',
    await ctx.ledger.evaluate('consent', { args: [Buffer.from(body.request).toString('base64')] }),
  );
}
