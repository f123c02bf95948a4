/**
 * Registration: the user's own signed setup request (it registers the key that signs it), passed
 * to the contract with the evaluation keys; the server keeps what it needs to check uploads.
 */
import type { UserRecord } from '../contract/state.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { RegisterBody, RegisteredUser } from '../protocol/api.ts';
import { bytesParam, peekRequest, verifyRequest } from '../protocol/request.ts';
import type { Template } from '../protocol/schema.ts';
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
  const committed = await ctx.ledger.submit('setup', {
    args: [Buffer.from(body.setup).toString('base64')],
    transient,
  });
  const { user, template } = JSON.parse(Buffer.from(committed.payload).toString('utf8')) as {
    user: UserRecord;
    template: Template;
  };
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
