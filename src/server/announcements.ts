/**
 * Results announced between replicas (issue 18): each replica's committer NOTIFYs on
 * `pmhe_results` when it stores a result, and every replica LISTENs, so a client's event stream
 * on any replica hears of a result another replica's committer made. Best effort by design:
 * clients also poll (`GET /v1/results?after=`), so a notification lost while a connection is
 * re-made costs latency, never a result.
 */
import pg from 'pg';
import { type Committer, RESULTS_CHANNEL } from './committer.ts';

export interface Listening {
  close(): Promise<void>;
}

export async function listenForResults(
  url: string,
  committer: Committer,
  log: (message: string, fields?: Record<string, unknown>) => void,
): Promise<Listening> {
  let client: pg.Client | undefined;
  let closed = false;
  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    c.on('notification', (n) => {
      if (n.channel !== RESULTS_CHANNEL || !n.payload) return;
      try {
        const { replica, userId, resultId, submissionId } = JSON.parse(n.payload) as Record<string, string>;
        if (replica === committer.replica || !userId || !resultId || !submissionId) return;
        committer.events.emit('result', { userId, resultId, submissionId });
      } catch {
        // Not ours: ignored.
      }
    });
    c.on('error', (error) => {
      log('result announcements: the connection failed; reconnecting', { error: error.message });
      void c.end().catch(() => undefined);
      if (!closed) setTimeout(() => void connect().catch(() => undefined), 1000).unref();
    });
    await c.connect();
    await c.query(`LISTEN ${RESULTS_CHANNEL}`);
    client = c;
  };
  await connect();
  return {
    close: async () => {
      closed = true;
      await client?.end().catch(() => undefined);
    },
  };
}
