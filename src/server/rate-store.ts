/**
 * @fastify/rate-limit's counters in PostgreSQL, for replicas sharing one database: one atomic
 * upsert per request counts it in a fixed window, so an address or a user has one allowance
 * across every replica. (PGlite is one process: its server keeps the counters in memory.)
 */
import type { FastifyRateLimitStore } from '@fastify/rate-limit';
import { sql } from 'kysely';
import type { Db } from './db/database.ts';

export function postgresRateStore(db: Db): new () => FastifyRateLimitStore {
  class PostgresRateStore implements FastifyRateLimitStore {
    incr(
      key: string,
      callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
      timeWindow: number,
    ): void {
      const expired = sql`rate_limits.window_start + ${timeWindow} * interval '1 millisecond' <= now()`;
      sql<{ count: number; ttl: number }>`
        insert into rate_limits as rate_limits (key, count, window_start) values (${key}, 1, now())
        on conflict (key) do update set
          count = case when ${expired} then 1 else rate_limits.count + 1 end,
          window_start = case when ${expired} then now() else rate_limits.window_start end
        returning count,
          extract(epoch from (window_start + ${timeWindow} * interval '1 millisecond' - now())) * 1000 as ttl`
        .execute(db)
        .then(({ rows: [row] }) =>
          callback(null, {
            current: Number(row?.count ?? 1),
            ttl: Math.max(0, Math.round(Number(row?.ttl ?? timeWindow))),
          }),
        )
        .catch((error: Error) => callback(error));
    }

    child(): FastifyRateLimitStore {
      return new PostgresRateStore();
    }
  }
  return PostgresRateStore;
}

/** Counters whose window ended long ago (an address that went away) are deleted. */
export async function pruneRateLimits(db: Db): Promise<void> {
  await db
    .deleteFrom('rate_limits')
    .where('window_start', '<', new Date(Date.now() - 3_600_000))
    .execute();
}
