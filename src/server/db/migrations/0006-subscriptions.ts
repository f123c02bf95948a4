/**
 * Several models per person (issue 16): a user is an identity (their Ed25519 key), and each
 * model they registered is a subscription with its own template and preset, as in the contract.
 * Each user's one model becomes their first subscription.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('subscriptions')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.user_id').onDelete('cascade'))
    .addColumn('model_id', 'text', (c) => c.notNull())
    .addColumn('layout', 'text', (c) => c.notNull())
    .addColumn('preset_id', 'text', (c) => c.notNull())
    .addColumn('template_id', 'text', (c) => c.notNull())
    .addColumn('template_version', 'integer', (c) => c.notNull())
    .addColumn('setup_tx', 'text', (c) => c.notNull())
    .addColumn('subscribed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('subscriptions_pk', ['user_id', 'model_id'])
    .execute();
  await sql`insert into subscriptions
      (user_id, model_id, layout, preset_id, template_id, template_version, setup_tx, subscribed_at)
    select user_id, model_id, layout, preset_id, template_id, template_version, setup_tx, registered_at
    from users`.execute(db);
  for (const column of ['model_id', 'layout', 'preset_id', 'template_id', 'template_version']) {
    await db.schema.alterTable('users').dropColumn(column).execute();
  }
}

export async function down(_db: Kysely<unknown>): Promise<void> {
  throw new Error('0006 cannot be undone: a user may now hold several models');
}
