/**
 * Registration: the user's own signed setup request (it registers the key that signs it), passed
 * to the contract with the evaluation keys; the server keeps what it needs to check uploads.
 */

import { FheContractClient, type OrderedTransaction } from '../ledger/contract-client.ts';
import { isTransient, LedgerError } from '../ledger/errors.ts';
import { type Ledger, type Proposal, TX_VALID } from '../ledger/ledger.ts';
import type { Me, RegisterBody, RegisteredUser, UnsubscribeBody, Unsubscribed } from '../protocol/api.ts';
import { type Answer, CONTRACT_LIMITS, readAnswer } from '../protocol/contract.ts';
import { bytesParam, peekRequest, type Request, textParam, verifyRequest } from '../protocol/request.ts';
import type { Layout } from '../protocol/schema.ts';
import { ownRequest } from './auth.ts';
import { writeGate } from './backup.ts';
import type { Db } from './db/database.ts';
import type { User } from './db/schema.ts';
import { HttpError } from './errors.ts';
import {
  checkRegistrationQuota,
  claimEnrolment,
  type Quotas,
  type RegistrationMode,
  recordRegistration,
  releaseEnrolment,
} from './quotas.ts';

export interface RegistrationContext {
  db: Db;
  ledger: Ledger;
  mode: RegistrationMode;
  quotas: Quotas;
  /** The client's address, for open registration's per-address quota. */
  address: string;
}

/** A registration admitted: what its request claims, and its enrolment code's fate. */
export interface Admitted {
  claimed: Request;
  publicKey: Uint8Array;
  enrolment: {
    /** Gives the code back (the transaction failed). */
    release(): Promise<void>;
    /** Counts the registration against the quotas (the transaction committed). */
    record(): Promise<void>;
  };
}

/**
 * What every registration (a person's setup, a clinician's) checks before its transaction: the
 * request's own signature (it carries the key it registers); that the id is free, or this key's
 * and of this role; the quotas; and enrolment: on a server that enrols, a new user's code is
 * claimed now, given back if the transaction fails.
 */
export async function admitRegistration(
  ctx: RegistrationContext,
  bytes: Uint8Array,
  role: 'person' | 'clinician',
  keyBytes: number,
  code: string | undefined,
): Promise<Admitted> {
  const claimed = peekRequest(bytes);
  const publicKey = bytesParam(claimed, 'publicKey');
  await verifyRequest(bytes, { op: role === 'person' ? 'setup' : 'clinician', publicKey, now: Date.now() });
  const existing = await ctx.db
    .selectFrom('users')
    .selectAll()
    .where('user_id', '=', claimed.userId)
    .executeTakeFirst();
  if (existing && !Buffer.from(existing.public_key).equals(Buffer.from(publicKey))) {
    throw new HttpError(409, 'USER_EXISTS', `user "${claimed.userId}" is registered with another key`);
  }
  if (existing && existing.role !== role) {
    throw new HttpError(
      409,
      'USER_EXISTS',
      `"${claimed.userId}" is registered as a ${existing.role}, not a ${role}`,
    );
  }
  const who = { userId: claimed.userId, address: ctx.address, keyBytes };
  await checkRegistrationQuota(ctx.db, { ...who, mode: ctx.mode }, ctx.quotas);
  const enrolment = ctx.mode === 'enrolment' && !existing ? code : undefined;
  if (ctx.mode === 'enrolment' && !existing) {
    if (!enrolment) {
      throw new HttpError(
        403,
        'ENROLMENT_REQUIRED',
        'enrolment: this server registers new users only with an enrolment code from their care team',
      );
    }
    await claimEnrolment(ctx.db, enrolment, claimed.userId);
  }
  return {
    claimed,
    publicKey,
    enrolment: {
      release: async () => {
        if (enrolment) await releaseEnrolment(ctx.db, enrolment, claimed.userId);
      },
      record: () => recordRegistration(ctx.db, { ...who, nonce: claimed.nonce }),
    },
  };
}

/**
 * A person's setup: the evaluation keys' size (the contract's limit), the checks of
 * admitRegistration, then the contract's setup, and the rows that let this user upload.
 */
export async function register(ctx: RegistrationContext, body: RegisterBody): Promise<RegisteredUser> {
  const keyBytes = (body.relinKeys?.length ?? 0) + (body.galoisKeys?.length ?? 0);
  if (keyBytes > CONTRACT_LIMITS.setupBytes) {
    throw new HttpError(
      413,
      'OVERSIZED',
      `evaluation keys: ${keyBytes} bytes, more than the ${CONTRACT_LIMITS.setupBytes} a setup may carry; register fewer Galois steps`,
    );
  }
  const { claimed, publicKey, enrolment } = await admitRegistration(
    ctx,
    body.setup,
    'person',
    keyBytes,
    body.enrolment,
  );
  const transient: Record<string, Uint8Array> = {};
  if (body.relinKeys) transient.relinKeys = body.relinKeys;
  if (body.galoisKeys) transient.galoisKeys = body.galoisKeys;
  const committed = await submitWithRetry(ctx.ledger, 'setup', {
    args: [Buffer.from(body.setup).toString('base64')],
    transient,
  }).catch(async (error: unknown) => {
    await enrolment.release();
    // Another registration of this id, with another key, committed first (a race the check above
    // could not see): the same answer as when it had been seen.
    if (
      error instanceof LedgerError &&
      error.code === 'ENDORSEMENT' &&
      error.message.startsWith('FORBIDDEN:')
    ) {
      throw new HttpError(409, 'USER_EXISTS', `user "${claimed.userId}" is registered with another key`);
    }
    throw error;
  });
  const { user, template } = committed.answer;
  const subscription = {
    layout: user.layout,
    preset_id: user.presetId,
    template_id: user.template.id,
    template_version: user.template.version,
    setup_tx: committed.txId,
  };
  await ctx.db.transaction().execute(async (tx) => {
    await tx
      .insertInto('users')
      .values({ user_id: user.userId, public_key: publicKey, setup_tx: committed.txId })
      .onConflict((c) => c.column('user_id').doNothing())
      .execute();
    // Another model is another subscription; the same model again replaces its keys.
    await tx
      .insertInto('subscriptions')
      .values({ user_id: user.userId, model_id: user.modelId, ...subscription })
      .onConflict((c) => c.columns(['user_id', 'model_id']).doUpdateSet(subscription))
      .execute();
  });
  await enrolment.record();
  return {
    userId: user.userId,
    modelId: user.modelId,
    layout: user.layout,
    presetId: user.presetId,
    template,
    txId: committed.txId,
  };
}

/** The user's subscriptions, oldest first. */
export async function subscriptionsOf(db: Db, user: User): Promise<Me> {
  const rows = await db
    .selectFrom('subscriptions')
    .selectAll()
    .where('user_id', '=', user.user_id)
    .orderBy('subscribed_at')
    .orderBy('model_id')
    .execute();
  return {
    userId: user.user_id,
    subscriptions: rows.map((r) => ({
      modelId: r.model_id,
      layout: r.layout as Layout,
      presetId: r.preset_id,
      template: { id: r.template_id, version: r.template_version },
      txId: r.setup_tx,
      subscribedAt: new Date(r.subscribed_at).toISOString(),
    })),
  };
}

/**
 * Ends one subscription: the user's signed unsubscribe request goes to the contract (which
 * deletes its record), then its row goes. Uploads for the model that the ledger has not taken yet
 * are refused there (NOT_SUBSCRIBED) and show as rejected; results already made stay.
 */
export async function unsubscribe(
  ctx: { db: Db; ledger: Ledger },
  user: User,
  body: UnsubscribeBody,
): Promise<Unsubscribed> {
  const request = await ownRequest(user, body.request, 'unsubscribe');
  const modelId = textParam(request, 'modelId');
  const row = await ctx.db
    .selectFrom('subscriptions')
    .select('model_id')
    .where('user_id', '=', user.user_id)
    .where('model_id', '=', modelId)
    .executeTakeFirst();
  if (!row) throw new HttpError(409, 'NOT_SUBSCRIBED', `you have not registered model "${modelId}"`);
  const committed = await submitWithRetry(ctx.ledger, 'unsubscribe', {
    args: [Buffer.from(body.request).toString('base64')],
  });
  await ctx.db
    .deleteFrom('subscriptions')
    .where('user_id', '=', user.user_id)
    .where('model_id', '=', modelId)
    .execute();
  return { userId: user.user_id, modelId, txId: committed.txId };
}

/** Tries over about 10 s: long enough for Fabric's discovery to settle, or a lagging peer to catch up. */
const SETUP_ATTEMPTS = 6;

/**
 * A transaction a person is waiting for (setup, unsubscribe, a grant, a share, closing), retried while the failure is transient (the person is waiting for this
 * answer). A retry refused as a replay means an earlier attempt committed after all: its answer
 * is used.
 */
export async function submitWithRetry<T extends Exclude<OrderedTransaction, 'receive' | 'issue'>>(
  ledger: Ledger,
  tx: T,
  proposal: Proposal,
): Promise<{ txId: string; answer: Answer<T> }> {
  // A backup's snapshot waits for these writes to end, and they for it.
  return writeGate(ledger).write(() => submitPatiently(ledger, tx, proposal));
}

async function submitPatiently<T extends Exclude<OrderedTransaction, 'receive' | 'issue'>>(
  ledger: Ledger,
  tx: T,
  proposal: Proposal,
): Promise<{ txId: string; answer: Answer<T> }> {
  const contract = new FheContractClient(ledger);
  const sent: string[] = [];
  for (let attempt = 1; ; attempt++) {
    const prepared = await contract.prepare(tx, proposal);
    sent.push(prepared.txId);
    try {
      const { committed, answer } = await prepared.submit();
      return { txId: committed.txId, answer };
    } catch (error) {
      if (
        error instanceof LedgerError &&
        error.code === 'ENDORSEMENT' &&
        error.message.startsWith('REPLAY:')
      ) {
        for (const txId of sent.slice(0, -1)) {
          const info = await ledger.getTransaction(txId).catch(() => undefined);
          if (info?.validationCode === TX_VALID) return { txId, answer: readAnswer(tx, info.payload) };
        }
      }
      if (!isTransient(error) || attempt === SETUP_ATTEMPTS) throw error;
      await new Promise((r) => setTimeout(r, 250 * 2 ** (attempt - 1)));
    }
  }
}
