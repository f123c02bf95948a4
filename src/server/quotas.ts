/**
 * Quotas and enrolment: how much one user (or, for open registration, one address) may put on
 * the append-only ledger in a sliding day, and the operator's single-use enrolment tokens.
 * Counted in the database inside the transaction that stores (the user's row locked), so two
 * concurrent requests cannot both slip under a limit.
 */
import { createHash, randomBytes } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import type { Db } from './db/database.ts';
import type { Database } from './db/schema.ts';
import { HttpError } from './errors.ts';

export type RegistrationMode = 'open' | 'enrolment';

export interface Quotas {
  /** Submissions per user in any 24 hours. */
  submissionsPerDay: number;
  /** Envelope bytes per user in any 24 hours. */
  bytesPerDay: number;
  /** Evaluation-key bytes per user in any 24 hours, every registration counted (re-registering too). */
  keyBytesPerDay: number;
  /** Registrations from one client address in any 24 hours (open registration only). */
  registrationsPerAddressPerDay: number;
}

/**
 * Room for a device sending a reading every minute all day (1,440) several times over, and for
 * re-registering a few times with the largest keys a setup may carry (9.5 MiB).
 */
export const DEFAULT_QUOTAS: Readonly<Quotas> = Object.freeze({
  submissionsPerDay: 5_000,
  bytesPerDay: 2 * 1024 ** 3,
  keyBytesPerDay: 48 * 1024 ** 2,
  registrationsPerAddressPerDay: 100,
});

const DAY_MS = 24 * 3600 * 1000;
type Tx = Transaction<Database>;

/** `oldest`: the earliest counted item's time, as the database returns it (none: now). */
const quotaError = (what: string, used: number, adding: number, limit: number, oldest: unknown) =>
  new HttpError(
    429,
    'QUOTA_EXCEEDED',
    `${what}: ${used} in the last 24 hours plus ${adding} would pass the quota of ${limit}; the oldest counted leaves the window at ${new Date((oldest ? new Date(oldest as Date) : new Date()).getTime() + DAY_MS).toISOString()}`,
  );

/** Refuses (429 QUOTA_EXCEEDED) when storing `count` more submissions of `bytes` would pass a quota. */
export async function checkSubmissionQuota(
  tx: Tx,
  userId: string,
  adding: { count: number; bytes: number },
  quotas: Quotas,
): Promise<void> {
  // Serializes one user's stores: the count below cannot change until this transaction ends.
  await tx.selectFrom('users').select('user_id').where('user_id', '=', userId).forUpdate().execute();
  const since = new Date(Date.now() - DAY_MS);
  const row = await tx
    .selectFrom('submissions')
    .select((eb) => [
      eb.fn.countAll<string>().as('n'),
      eb.fn.coalesce(eb.fn.sum<string>('bytes'), sql<string>`0`).as('bytes'),
      eb.fn.min('accepted_at').as('oldest'),
    ])
    .where('user_id', '=', userId)
    .where('accepted_at', '>', since)
    .executeTakeFirstOrThrow();
  if (Number(row.n) + adding.count > quotas.submissionsPerDay) {
    throw quotaError(
      `user "${userId}", submissions`,
      Number(row.n),
      adding.count,
      quotas.submissionsPerDay,
      row.oldest,
    );
  }
  if (Number(row.bytes) + adding.bytes > quotas.bytesPerDay) {
    throw quotaError(
      `user "${userId}", bytes`,
      Number(row.bytes),
      adding.bytes,
      quotas.bytesPerDay,
      row.oldest,
    );
  }
}

/** Refuses a registration past the user's key-byte quota or (open registration) the address's. */
export async function checkRegistrationQuota(
  db: Db,
  who: { userId: string; address: string; keyBytes: number; mode: RegistrationMode },
  quotas: Quotas,
): Promise<void> {
  const since = new Date(Date.now() - DAY_MS);
  const mine = await db
    .selectFrom('registrations')
    .select((eb) => [
      eb.fn.coalesce(eb.fn.sum<string>('key_bytes'), sql<string>`0`).as('bytes'),
      eb.fn.min('created_at').as('oldest'),
    ])
    .where('user_id', '=', who.userId)
    .where('created_at', '>', since)
    .executeTakeFirstOrThrow();
  if (Number(mine.bytes) + who.keyBytes > quotas.keyBytesPerDay) {
    throw quotaError(
      `user "${who.userId}", evaluation-key bytes`,
      Number(mine.bytes),
      who.keyBytes,
      quotas.keyBytesPerDay,
      mine.oldest,
    );
  }
  if (who.mode !== 'open') return;
  const fromAddress = await db
    .selectFrom('registrations')
    .select((eb) => [eb.fn.countAll<string>().as('n'), eb.fn.min('created_at').as('oldest')])
    .where('address', '=', who.address)
    .where('created_at', '>', since)
    .executeTakeFirstOrThrow();
  if (Number(fromAddress.n) + 1 > quotas.registrationsPerAddressPerDay) {
    throw quotaError(
      `address ${who.address}, registrations`,
      Number(fromAddress.n),
      1,
      quotas.registrationsPerAddressPerDay,
      fromAddress.oldest,
    );
  }
}

export async function recordRegistration(
  db: Db,
  who: { userId: string; address: string; keyBytes: number; nonce: Uint8Array },
): Promise<void> {
  await db
    .insertInto('registrations')
    .values({ user_id: who.userId, address: who.address, key_bytes: who.keyBytes, setup_nonce: who.nonce })
    .execute();
}

const tokenHash = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

/** A new single-use enrolment token, valid for `hours`; only its hash is stored. */
export async function issueEnrolment(
  db: Db,
  options: { hours: number; note?: string },
): Promise<{ token: string; expiresAt: string }> {
  if (!(Number.isFinite(options.hours) && options.hours > 0 && options.hours <= 24 * 366)) {
    throw new HttpError(400, 'BAD_FIELD', `hours: ${options.hours} is not in (0, 8784]`);
  }
  const token = `pmhe-enrol-${randomBytes(24).toString('base64url')}`;
  const expiresAt = new Date(Date.now() + options.hours * 3600 * 1000);
  await db
    .insertInto('enrolments')
    .values({ token_hash: tokenHash(token), note: options.note ?? '', expires_at: expiresAt })
    .execute();
  return { token, expiresAt: expiresAt.toISOString() };
}

/**
 * Claims a token for `userId` (single use): 403 ENROLMENT_INVALID when unknown, used by someone
 * else, or expired. Claiming again for the same user succeeds (a retried registration).
 */
export async function claimEnrolment(db: Db, token: string, userId: string): Promise<void> {
  const hash = tokenHash(token);
  const claimed = await db
    .updateTable('enrolments')
    .set({ used_by: userId, used_at: new Date() })
    .where('token_hash', '=', hash)
    .where('expires_at', '>', new Date())
    .where((eb) => eb.or([eb('used_by', 'is', null), eb('used_by', '=', userId)]))
    .returning('token_hash')
    .executeTakeFirst();
  if (!claimed) {
    throw new HttpError(
      403,
      'ENROLMENT_INVALID',
      'enrolment: this code is unknown, expired or already used; ask your care team for a new one',
    );
  }
}

/** Gives a claimed token back (the registration it was claimed for did not happen). */
export async function releaseEnrolment(db: Db, token: string, userId: string): Promise<void> {
  await db
    .updateTable('enrolments')
    .set({ used_by: null, used_at: null })
    .where('token_hash', '=', tokenHash(token))
    .where('used_by', '=', userId)
    .execute();
}
