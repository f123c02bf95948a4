/**
 * Several server replicas on one database (issue 18): a submission's committer work is claimed
 * by one replica at a time (its id and a lease), taken with FOR UPDATE SKIP LOCKED, so two
 * replicas never send it together; a lease that lapses (its replica died) lets another take it.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('submissions').addColumn('claimed_by', 'text').execute();
  await db.schema.alterTable('submissions').addColumn('claimed_until', 'timestamptz').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const column of ['claimed_by', 'claimed_until']) {
    await db.schema.alterTable('submissions').dropColumn(column).execute();
  }
}
