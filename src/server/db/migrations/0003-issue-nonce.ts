/**
 * The nonce of each stored issue request: the contract keeps one nonce space per user (envelopes
 * and requests alike), so intake must refuse an envelope reusing a request's nonce, and the other
 * way round, instead of acknowledging what the contract will refuse.
 */
import { type Kysely, sql } from 'kysely';
import { peekRequest } from '../../../protocol/request.ts';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('submissions').addColumn('issue_nonce', 'bytea').execute();
  const rows = await sql<{ id: string; issue_request: Uint8Array }>`
    select id, issue_request from submissions where issue_request is not null`.execute(db);
  for (const row of rows.rows) {
    const nonce = peekRequest(new Uint8Array(row.issue_request)).nonce;
    await sql`update submissions set issue_nonce = ${nonce} where id = ${row.id}`.execute(db);
  }
  await db.schema
    .createIndex('submissions_user_issue_nonce')
    .on('submissions')
    .columns(['user_id', 'issue_nonce'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('submissions_user_issue_nonce').execute();
  await db.schema.alterTable('submissions').dropColumn('issue_nonce').execute();
}
