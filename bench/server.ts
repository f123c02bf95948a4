/**
 * `npm run bench:server`: simulated clients over loopback HTTP against `pmhe server start` (a
 * child process: its memory is its own). Real-time phase: `--clients` users each upload one
 * packed reading (with its issue request) at random moments, `--rate` uploads per second in all,
 * for `--seconds`; latency is from the upload request to the result event (SSE). Batch phase:
 * users upload a day's readings in one batch. Every acknowledged upload must end in exactly one
 * result. Baseline in the same run: the same uploads through the embedded ledger in-process
 * (no HTTP, no database), to show what the server adds.
 */
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encode } from 'cborg';
import { LocalUser, type SubmitItem } from '../src/client/user.ts';
import { submissionId } from '../src/ledger/contract-client.ts';
import { EmbeddedLedger } from '../src/ledger/embedded.ts';
import { cohortUploads } from '../src/models/cohort.ts';
import { CBOR } from '../src/protocol/api.ts';
import { readAnswer } from '../src/protocol/contract.ts';
import { exited, freePort, scrapeMetrics, spawnServer } from '../src/server/spawn.ts';
import { fmt, header, table } from './report.ts';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '60' },
    rate: { type: 'string', default: '40' },
    'batch-clients': { type: 'string', default: '8' },
    out: { type: 'string' },
  },
});
const CLIENTS = Number(args.clients);
const SECONDS = Number(args.seconds);
const RATE = Number(args.rate);
const BATCH_CLIENTS = Number(args['batch-clients']);
const log = (s: string) => process.stderr.write(`${s}\n`);

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] as number);
};

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  }
  return total;
}

class Client {
  readonly user: LocalUser;
  readonly base: string;
  readonly waiting = new Map<string, (at: number) => void>();
  #events: AbortController | null = null;

  constructor(base: string, user: LocalUser) {
    this.base = base;
    this.user = user;
  }

  async register(): Promise<void> {
    const res = await fetch(`${this.base}/v1/users`, {
      method: 'POST',
      headers: { 'content-type': CBOR },
      body: (await this.user.registration()) as BodyInit,
    });
    if (res.status !== 201) throw new Error(`register: ${res.status} ${await res.text()}`);
  }

  /** Listens for result events; resolves the waiter of each submission. */
  async listen(): Promise<void> {
    this.#events = new AbortController();
    const res = await fetch(`${this.base}/v1/events`, {
      headers: { authorization: await this.user.authorization('GET', '/v1/events') },
      signal: this.#events.signal,
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    void (async () => {
      let buffer = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += new TextDecoder().decode(value);
          for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
            const event = buffer.slice(0, at);
            buffer = buffer.slice(at + 2);
            const data = /^data: (.*)$/m.exec(event)?.[1];
            if (data) {
              const { submissionId: id } = JSON.parse(data) as { submissionId: string };
              this.waiting.get(id)?.(performance.now());
              this.waiting.delete(id);
            }
          }
        }
      } catch {
        // aborted at the end
      }
    })();
  }

  stop(): void {
    this.#events?.abort();
  }

  /** Uploads one item; resolves with [acknowledged?, ms to acknowledgement, promise of ms to result]. */
  async upload(item: SubmitItem): Promise<{ ok: boolean; ackMs: number; result: Promise<number> }> {
    const body = encode([item]);
    const id = submissionId(item.envelope);
    const start = performance.now();
    const result = new Promise<number>((resolve) => this.waiting.set(id, (at) => resolve(at - start)));
    const res = await fetch(`${this.base}/v1/submissions`, {
      method: 'POST',
      headers: {
        'content-type': CBOR,
        authorization: await this.user.authorization('POST', '/v1/submissions', body),
      },
      body: body as BodyInit,
    });
    await res.arrayBuffer();
    return { ok: res.status === 202, ackMs: performance.now() - start, result };
  }
}

async function serverRss(base: string): Promise<number> {
  const text = await scrapeMetrics(base, dataDir);
  return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

interface PhaseResult {
  name: string;
  sent: number;
  acknowledged: number;
  results: number;
  readings: number;
  seconds: number;
  ack: number[];
  latency: number[];
  rss: number;
}

async function phase(
  name: string,
  base: string,
  clients: Client[],
  items: Map<Client, SubmitItem[]>,
  ratePerSecond: number,
  seconds: number,
  readingsPerUpload: number,
): Promise<PhaseResult> {
  log(`${name}: ${clients.length} clients, ${ratePerSecond} uploads/s for ${seconds} s`);
  const ack: number[] = [];
  const latency: number[] = [];
  let outstanding = 0;
  let sent = 0;
  let rss = 0;
  const start = performance.now();
  const sampler = setInterval(() => void serverRss(base).then((r) => (rss = Math.max(rss, r))), 2000);
  const period = (clients.length / ratePerSecond) * 1000;
  await Promise.all(
    clients.map(async (client) => {
      const queue = items.get(client) ?? [];
      // A random phase, then one upload per period: the clients' uploads are spread in time.
      let next = start + Math.random() * period;
      while (queue.length > 0) {
        const wait = next - performance.now();
        if (next - start > seconds * 1000) break;
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const item = queue.shift() as SubmitItem;
        sent++;
        const r = await client.upload(item);
        if (r.ok) {
          ack.push(r.ackMs);
          outstanding++;
          void r.result.then((ms) => {
            latency.push(ms);
            outstanding--;
          });
        }
        next += period;
      }
    }),
  );
  // Drain: wait for the outstanding results (at most a minute), then count what arrived.
  const sendEnd = performance.now();
  while (outstanding > 0 && performance.now() - sendEnd < 60_000) await new Promise((r) => setTimeout(r, 50));
  clearInterval(sampler);
  rss = Math.max(rss, await serverRss(base));
  const elapsed = (performance.now() - start) / 1000;
  return {
    name,
    sent,
    acknowledged: ack.length,
    results: latency.length,
    readings: latency.length * readingsPerUpload,
    seconds: elapsed,
    ack,
    latency,
    rss,
  };
}

/** Baseline: the same kind of uploads straight into an in-process embedded ledger. */
async function baseline(
  users: LocalUser[],
  uploadsPer: number,
): Promise<{ perSecond: number; p50: number; p99: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'pmhe-bench-base-'));
  const ledger = await EmbeddedLedger.open(dir, { workers: 1 });
  for (const u of users) await ledger.submit('setup', await u.setup());
  const work: { user: LocalUser; envelope: Uint8Array; issue: string }[] = [];
  for (const user of users) {
    for (const upload of cohortUploads(user.plan, { readings: uploadsPer, seed: 99 })) {
      const envelope = await user.envelope(upload.readings, upload.profile);
      const { args = [] } = await user.request('issue', { submissions: [submissionId(envelope)] });
      work.push({ user, envelope, issue: args[0] as string });
    }
  }
  const latencies: number[] = [];
  const start = performance.now();
  await Promise.all(
    work.map(async (w) => {
      const t = performance.now();
      await ledger.submit('receive', w.user.receive([w.envelope]));
      readAnswer('issue', (await ledger.submit('issue', { args: [w.issue] })).payload);
      latencies.push(performance.now() - t);
    }),
  );
  const perSecond = work.length / ((performance.now() - start) / 1000);
  await ledger.close();
  await rm(dir, { recursive: true, force: true });
  return { perSecond, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

const command = `npm run bench:server -- --clients ${CLIENTS} --seconds ${SECONDS} --rate ${RATE} --batch-clients ${BATCH_CLIENTS}`;
const dataDir = await mkdtemp(join(tmpdir(), 'pmhe-bench-server-'));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const child = await spawnServer(dataDir, port, [
  '--rate-limit',
  '1000000',
  '--registrations-per-address',
  '1000000',
]);
try {
  log(`creating and registering ${CLIENTS} packed users…`);
  const realtime: Client[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const client = new Client(
      base,
      await LocalUser.create({ userId: `rt-${i}`, modelId: 'early-warning', layout: 'packed' }),
    );
    await client.register();
    realtime.push(client);
  }
  const perClient = Math.ceil((SECONDS * RATE) / CLIENTS) + 1;
  log(`encrypting ${perClient * CLIENTS} real-time uploads…`);
  const rtItems = new Map<Client, SubmitItem[]>();
  for (const client of realtime) {
    const ups = cohortUploads(client.user.plan, { readings: perClient, seed: 7 });
    rtItems.set(client, await Promise.all(ups.map((u) => client.user.upload(u.readings, u.profile))));
  }
  await Promise.all(realtime.map((c) => c.listen()));
  const rt = await phase('packed, real-time', base, realtime, rtItems, RATE, SECONDS, 1);

  log(`batch: ${BATCH_CLIENTS} users with a day of readings each…`);
  const batch: Client[] = [];
  for (let i = 0; i < BATCH_CLIENTS; i++) {
    const client = new Client(
      base,
      await LocalUser.create({ userId: `batch-${i}`, modelId: 'early-warning', layout: 'batch' }),
    );
    await client.register();
    batch.push(client);
  }
  const batchItems = new Map<Client, SubmitItem[]>();
  for (const client of batch) {
    const ups = cohortUploads(client.user.plan, {
      readings: client.user.plan.readingsPerUpload * 2,
      seed: 3,
    });
    batchItems.set(client, await Promise.all(ups.map((u) => client.user.upload(u.readings, u.profile))));
  }
  await Promise.all(batch.map((c) => c.listen()));
  const readingsPerBatch = batch[0]?.user.plan.readingsPerUpload ?? 0;
  const bt = await phase('batch', base, batch, batchItems, BATCH_CLIENTS, 10, readingsPerBatch);
  for (const c of [...realtime, ...batch]) c.stop();

  const ledgerBytes = await dirBytes(join(dataDir, 'ledger'));
  const dbBytes = await dirBytes(join(dataDir, 'db'));
  log('baseline: the same uploads into an in-process embedded ledger…');
  const base0 = await baseline(
    realtime.slice(0, 16).map((c) => c.user),
    8,
  );

  const rows = [rt, bt].map((p) => [
    p.name,
    p.sent,
    p.acknowledged,
    p.results,
    p.acknowledged - p.results,
    (p.results / p.seconds).toFixed(1),
    Math.round(p.readings / p.seconds).toLocaleString('en-US'),
    quantile(p.ack, 0.5).toFixed(0),
    quantile(p.latency, 0.5).toFixed(0),
    quantile(p.latency, 0.99).toFixed(0),
    (p.rss / 2 ** 20).toFixed(0),
  ]);
  const target =
    rt.results / rt.seconds >= 40 && quantile(rt.latency, 0.99) < 1000 && rt.acknowledged === rt.results;
  const report = [
    '## Server (`npm run bench:server`)',
    '',
    header(command),
    '',
    table(
      [
        'phase',
        'sent',
        'acknowledged',
        'results',
        'not delivered in 60 s',
        'uploads/s',
        'readings/s',
        'ack p50 ms',
        'result p50 ms',
        'result p99 ms',
        'server RSS MiB',
      ],
      rows,
    ),
    '',
    table(
      [
        'baseline: embedded ledger in-process, receive+issue',
        'uploads/s',
        'p50 ms',
        'p99 ms',
        'server / baseline uploads/s',
      ],
      [
        [
          '16 users × 8 packed uploads, all at once',
          base0.perSecond.toFixed(1),
          base0.p50.toFixed(0),
          base0.p99.toFixed(0),
          fmt.ratio(rt.results / rt.seconds / base0.perSecond),
        ],
      ],
    ),
    '',
    `On disk after the run: ledger ${(ledgerBytes / 2 ** 20).toFixed(1)} MiB, database ${(dbBytes / 2 ** 20).toFixed(1)} MiB.`,
    `Target (${CLIENTS} clients, ≥ 40 real-time uploads/s, p99 < 1 s, nothing lost): ${target ? 'met' : 'NOT met'}.`,
  ].join('\n');
  process.stdout.write(`${report}\n`);
  if (args.out) await writeFile(args.out, `${report}\n`);
} finally {
  child.kill('SIGTERM');
  await exited(child);
  await rm(dataDir, { recursive: true, force: true });
}
process.exit(0);
