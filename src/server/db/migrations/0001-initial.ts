/** Users, submissions (the outbox to the ledger), results, and request nonces. */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('public_key', 'bytea', (c) => c.notNull())
    .addColumn('model_id', 'text', (c) => c.notNull())
    .addColumn('layout', 'text', (c) => c.notNull())
    .addColumn('preset_id', 'text', (c) => c.notNull())
    .addColumn('template_id', 'text', (c) => c.notNull())
    .addColumn('template_version', 'integer', (c) => c.notNull())
    .addColumn('setup_tx', 'text', (c) => c.notNull())
    .addColumn('registered_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createTable('submissions')
    .addColumn('seq', 'bigserial', (c) => c.notNull().unique())
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.user_id'))
    .addColumn('nonce', 'bytea', (c) => c.notNull())
    .addColumn('envelope', 'bytea', (c) => c.notNull())
    .addColumn('issue_request', 'bytea')
    .addColumn('bytes', 'integer', (c) => c.notNull())
    .addColumn('readings', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) =>
      c.notNull().check(sql`state in ('accepted', 'received', 'issued', 'rejected')`),
    )
    .addColumn('receive_txs', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('receive_block', 'bigint')
    .addColumn('issue_txs', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('result_id', 'text')
    .addColumn('error', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('accepted_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('submissions_user_nonce', ['user_id', 'nonce'])
    .execute();
  await db.schema.createIndex('submissions_pending').on('submissions').columns(['state', 'seq']).execute();
  await db.schema
    .createTable('results')
    .addColumn('seq', 'bigserial', (c) => c.notNull().unique())
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.user_id'))
    .addColumn('submission_id', 'text', (c) => c.notNull().references('submissions.id'))
    .addColumn('tx_id', 'text', (c) => c.notNull())
    .addColumn('block_number', 'bigint', (c) => c.notNull())
    .addColumn('payload', 'bytea', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('results_user').on('results').columns(['user_id', 'seq']).execute();
  await db.schema
    .createTable('http_nonces')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('nonce', 'bytea', (c) => c.notNull())
    .addColumn('seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('http_nonces_pk', ['user_id', 'nonce'])
    .execute();
  await db.schema.createIndex('http_nonces_seen').on('http_nonces').column('seen_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['http_nonces', 'results', 'submissions', 'users'])
    await db.schema.dropTable(table).execute();
}
