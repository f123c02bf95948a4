/**
 * The ledger is the system of record (issue 15): an envelope is kept only until the ledger has
 * committed its receive, and results are read from the ledger (src/server/results.ts), so the
 * server's copy of Z goes. Envelopes and copies already committed are dropped here.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('submissions')
    .alterColumn('envelope', (c) => c.dropNotNull())
    .execute();
  await sql`update submissions set envelope = null where state in ('received', 'issued')`.execute(db);
  await db.schema.alterTable('results').dropColumn('payload').execute();
}

export async function down(_db: Kysely<unknown>): Promise<void> {
  // What was dropped is on the ledger; a downgraded server would need it back in these columns.
  throw new Error('0005 cannot be undone: envelopes and results now live on the ledger only');
}
