/** Prometheus metrics at /metrics (prom-client): requests, uploads, results, backlog, ledger, workers. */
import { statfs } from 'node:fs/promises';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Ledger } from '../ledger/ledger.ts';
import type { Committer } from './committer.ts';

interface MetricSources {
  committer: Committer;
  ledger: Ledger;
  validator: { readonly restarts: number };
  /** The data folder, whose file system's free space is reported (the embedded ledger and PGlite grow there). */
  dataDir: string;
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Histogram({
    name: 'pmhe_http_request_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly accepted = new Counter({
    name: 'pmhe_submissions_accepted_total',
    help: 'Submissions accepted',
    registers: [this.registry],
  });
  readonly #backlog = new Gauge({
    name: 'pmhe_submissions_backlog',
    help: 'Submissions not yet final',
    registers: [this.registry],
  });
  readonly #committed = new Gauge({
    name: 'pmhe_committer_total',
    help: 'Submissions received, results issued, refusals and retries since start',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly #retries = new Gauge({
    name: 'pmhe_committer_retries',
    help: 'Transactions that failed transiently and were put back for retry since start, by LedgerError code (MISMATCH: endorsers disagreed or one lags; UNAVAILABLE: peer, chaincode or discovery; INVALID: MVCC)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly #height = new Gauge({
    name: 'pmhe_ledger_height',
    help: 'Ledger block height',
    registers: [this.registry],
  });
  readonly #ledgerUp = new Gauge({
    name: 'pmhe_ledger_up',
    help: '1 if the ledger answered the last scrape (its height), 0 if not',
    registers: [this.registry],
  });
  readonly #freeBytes = new Gauge({
    name: 'pmhe_data_dir_free_bytes',
    help: "Bytes free to the server on the data folder's file system",
    registers: [this.registry],
  });
  readonly #sizeBytes = new Gauge({
    name: 'pmhe_data_dir_size_bytes',
    help: "Size of the data folder's file system",
    registers: [this.registry],
  });
  readonly #restarts = new Gauge({
    name: 'pmhe_worker_restarts',
    help: 'Validation workers replaced after dying',
    registers: [this.registry],
  });
  readonly #sources: MetricSources;

  constructor(sources: MetricSources) {
    this.#sources = sources;
    collectDefaultMetrics({ register: this.registry });
  }

  /** The exposition text, with the gauges read now. */
  async scrape(): Promise<string> {
    await this.refresh();
    return this.registry.metrics();
  }

  /** Reads the gauges' sources (called on each scrape). */
  async refresh(): Promise<void> {
    const { committer, ledger, validator } = this.#sources;
    this.#backlog.set(await committer.backlog());
    for (const [kind, n] of Object.entries(committer.stats)) this.#committed.set({ kind }, n);
    for (const [reason, n] of committer.retriesByReason) this.#retries.set({ reason }, n);
    // A ledger that does not answer is a value to alert on, not a failed scrape.
    try {
      this.#height.set(await ledger.height());
      this.#ledgerUp.set(1);
    } catch {
      this.#ledgerUp.set(0);
    }
    this.#restarts.set(validator.restarts);
    const fs = await statfs(this.#sources.dataDir).catch(() => undefined);
    if (fs) {
      this.#freeBytes.set(fs.bavail * fs.bsize);
      this.#sizeBytes.set(fs.blocks * fs.bsize);
    }
  }
}
