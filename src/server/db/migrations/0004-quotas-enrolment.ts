/**
 * Quotas and enrolment: every registration (setup) with its evaluation-key bytes and the address
 * it came from, so per-user and per-address quotas can be counted over a sliding day; the
 * operator's single-use enrolment tokens (stored as SHA-256, never in the clear); and an index
 * for counting a user's recent submissions.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('registrations')
    .addColumn('seq', 'bigserial', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('key_bytes', 'bigint', (c) => c.notNull())
    // The setup request's nonce: in the user's one nonce space, with envelopes and issue requests.
    .addColumn('setup_nonce', 'bytea', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('registrations_user_time')
    .on('registrations')
    .columns(['user_id', 'created_at'])
    .execute();
  await db.schema
    .createIndex('registrations_address_time')
    .on('registrations')
    .columns(['address', 'created_at'])
    .execute();
  await db.schema
    .createTable('enrolments')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('note', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_by', 'text')
    .addColumn('used_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('submissions_user_accepted')
    .on('submissions')
    .columns(['user_id', 'accepted_at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('submissions_user_accepted').execute();
  await db.schema.dropTable('enrolments').execute();
  await db.schema.dropTable('registrations').execute();
}
