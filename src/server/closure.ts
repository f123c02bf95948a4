/**
 * Closing an account, the server's part (docs/sharing.md): the person's signed close request goes
 * to the contract as many times as it takes (each transaction deletes a bounded batch of their
 * world-state entries; the last deletes the identity), then every row of theirs here goes in one
 * database transaction. After that the user's key authenticates nothing, and the id is never
 * registered again (the contract keeps `closed/<u>`).
 */
import type { Ledger } from '../ledger/ledger.ts';
import type { Closed, RequestBody } from '../protocol/api.ts';
import { ownRequest } from './auth.ts';
import type { Db } from './db/database.ts';
import type { User } from './db/schema.ts';
import { HttpError } from './errors.ts';
import { submitWithRetry } from './register.ts';

/** More close transactions than any account needs (400 keys each): a guard against a loop. */
const MAX_CLOSE_TRANSACTIONS = 10_000;

export async function closeAccount(
  ctx: { db: Db; ledger: Ledger },
  user: User,
  body: RequestBody,
): Promise<Closed> {
  await ownRequest(user, body.request, 'close');
  const proposal = { args: [Buffer.from(body.request).toString('base64')] };
  const txIds: string[] = [];
  let ledgerKeys = 0;
  for (;;) {
    const { txId, answer } = await submitWithRetry(ctx.ledger, 'close', proposal);
    txIds.push(txId);
    ledgerKeys += answer.deleted;
    if (answer.done) break;
    if (txIds.length >= MAX_CLOSE_TRANSACTIONS) {
      throw new HttpError(503, 'LEDGER_UNAVAILABLE', 'closing did not finish; send the close request again');
    }
  }
  const serverRows = await deleteRows(ctx.db, user.user_id);
  return { userId: user.user_id, txIds, ledgerKeys, serverRows };
}

const CLOSED = '(closed account)';

/**
 * Every row that names the user, in one transaction. The enrolment code they used stays used,
 * and their registrations stay counted against their address, both without the id.
 */
export async function deleteRows(db: Db, userId: string): Promise<number> {
  return db.transaction().execute(async (tx) => {
    let n = 0;
    const count = (r: { numDeletedRows: bigint }[]) => {
      n += r.reduce((sum, x) => sum + Number(x.numDeletedRows), 0);
    };
    count(
      await tx
        .deleteFrom('shares')
        .where((eb) => eb.or([eb('user_id', '=', userId), eb('clinician_id', '=', userId)]))
        .execute(),
    );
    count(
      await tx
        .deleteFrom('grants')
        .where((eb) => eb.or([eb('user_id', '=', userId), eb('clinician_id', '=', userId)]))
        .execute(),
    );
    count(await tx.deleteFrom('results').where('user_id', '=', userId).execute());
    count(await tx.deleteFrom('submissions').where('user_id', '=', userId).execute());
    count(await tx.deleteFrom('subscriptions').where('user_id', '=', userId).execute());
    count(await tx.deleteFrom('http_nonces').where('user_id', '=', userId).execute());
    // Registrations stay, without the id: an address's quota must not reset by closing accounts.
    await tx.updateTable('registrations').set({ user_id: CLOSED }).where('user_id', '=', userId).execute();
    await tx.updateTable('enrolments').set({ used_by: CLOSED }).where('used_by', '=', userId).execute();
    count(await tx.deleteFrom('users').where('user_id', '=', userId).execute());
    return n;
  });
}
