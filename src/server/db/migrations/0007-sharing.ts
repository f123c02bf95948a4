/**
 * Sharing with clinicians (issue 17, docs/sharing.md): a user is a person or a clinician (whose
 * X25519 key people seal results to); a person's grants as the ledger recorded them; and the
 * sealed items shared under them, which the server keeps and cannot open.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('role', 'text', (c) => c.notNull().defaultTo('person'))
    .execute();
  await db.schema.alterTable('users').addColumn('box_key', 'bytea').execute();
  await db.schema.alterTable('users').addColumn('name', 'text').execute();
  await db.schema
    .createTable('grants')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.user_id').onDelete('cascade'))
    .addColumn('clinician_id', 'text', (c) => c.notNull().references('users.user_id').onDelete('cascade'))
    .addColumn('models', 'text', (c) => c.notNull()) // JSON array of model ids
    .addColumn('from_at', 'timestamptz', (c) => c.notNull())
    .addColumn('until_at', 'timestamptz', (c) => c.notNull())
    .addColumn('grant_tx', 'text', (c) => c.notNull())
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('revoke_tx', 'text')
    .addPrimaryKeyConstraint('grants_pk', ['user_id', 'clinician_id'])
    .execute();
  await db.schema.createIndex('grants_clinician').on('grants').column('clinician_id').execute();
  await db.schema
    .createTable('shares')
    .addColumn('seq', 'bigserial', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('clinician_id', 'text', (c) => c.notNull())
    .addColumn('result_id', 'text', (c) => c.notNull())
    .addColumn('model_id', 'text', (c) => c.notNull())
    .addColumn('item', 'bytea', (c) => c.notNull())
    .addColumn('item_hash', 'text', (c) => c.notNull())
    .addColumn('share_tx', 'text', (c) => c.notNull())
    .addColumn('shared_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('shares_pk', ['user_id', 'clinician_id', 'result_id'])
    .addForeignKeyConstraint(
      'shares_grant',
      ['user_id', 'clinician_id'],
      'grants',
      ['user_id', 'clinician_id'],
      (c) => c.onDelete('cascade'),
    )
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('shares').execute();
  await db.schema.dropTable('grants').execute();
  for (const column of ['role', 'box_key', 'name'])
    await db.schema.alterTable('users').dropColumn(column).execute();
}
