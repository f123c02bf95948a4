/**
 * Registration: the user's own signed setup request (it registers the key that signs it), passed
 * to the contract with the evaluation keys; the server keeps what it needs to check uploads.
 */

import { FheContractClient } from '../ledger/contract-client.ts';
import { isTransient, LedgerError } from '../ledger/errors.ts';
import { type Ledger, type Proposal, TX_VALID } from '../ledger/ledger.ts';
import type { RegisterBody, RegisteredUser } from '../protocol/api.ts';
import { type Answer, readAnswer } from '../protocol/contract.ts';
import { bytesParam, peekRequest, verifyRequest } from '../protocol/request.ts';
import type { Db } from './db/database.ts';
import { HttpError } from './errors.ts';

export async function register(ctx: { db: Db; ledger: Ledger }, body: RegisterBody): Promise<RegisteredUser> {
  const claimed = peekRequest(body.setup);
  const publicKey = bytesParam(claimed, 'publicKey');
  await verifyRequest(body.setup, { op: 'setup', publicKey, now: Date.now() });
  const existing = await ctx.db
    .selectFrom('users')
    .selectAll()
    .where('user_id', '=', claimed.userId)
    .executeTakeFirst();
  if (existing && !Buffer.from(existing.public_key).equals(Buffer.from(publicKey))) {
    throw new HttpError(409, 'USER_EXISTS', `user "${claimed.userId}" is registered with another key`);
  }
  const transient: Record<string, Uint8Array> = {};
  if (body.relinKeys) transient.relinKeys = body.relinKeys;
  if (body.galoisKeys) transient.galoisKeys = body.galoisKeys;
  const committed = await submitSetup(ctx.ledger, {
    args: [Buffer.from(body.setup).toString('base64')],
    transient,
  }).catch((error: unknown) => {
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
  const row = {
    public_key: publicKey,
    model_id: user.modelId,
    layout: user.layout,
    preset_id: user.presetId,
    template_id: user.template.id,
    template_version: user.template.version,
    setup_tx: committed.txId,
  };
  await ctx.db
    .insertInto('users')
    .values({ user_id: user.userId, ...row })
    .onConflict((c) => c.column('user_id').doUpdateSet(row))
    .execute();
  return {
    userId: user.userId,
    modelId: user.modelId,
    layout: user.layout,
    presetId: user.presetId,
    template,
    txId: committed.txId,
  };
}

/** Tries over about 10 s: long enough for Fabric's discovery to settle, or a lagging peer to catch up. */
const SETUP_ATTEMPTS = 6;

/**
 * setup, retried while the failure is transient (the person is waiting for this answer). A retry
 * refused as a replay means an earlier attempt committed after all: its answer is used.
 */
async function submitSetup(
  ledger: Ledger,
  proposal: Proposal,
): Promise<{ txId: string; answer: Answer<'setup'> }> {
  const contract = new FheContractClient(ledger);
  const sent: string[] = [];
  for (let attempt = 1; ; attempt++) {
    const prepared = await contract.prepare('setup', proposal);
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
          if (info?.validationCode === TX_VALID) return { txId, answer: readAnswer('setup', info.payload) };
        }
      }
      if (!isTransient(error) || attempt === SETUP_ATTEMPTS) throw error;
      await new Promise((r) => setTimeout(r, 250 * 2 ** (attempt - 1)));
    }
  }
}
