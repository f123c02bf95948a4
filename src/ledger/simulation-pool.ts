/**
 * Simulation in worker threads: CKKS evaluation is the cost of a transaction, and independent
 * transactions can be endorsed side by side (this machine has two cores). Each worker holds its
 * own SEAL module and caches; state reads come back to the main thread, which owns the state
 * database. A worker that dies fails only the transactions it held and is replaced.
 */
import { Worker } from 'node:worker_threads';
import { LedgerError } from './errors.ts';
import type { ToMain, ToWorker, WorkerInit } from './simulation-worker.ts';
import type { SimulationReader, StubInput } from './stub.ts';
import type { TxRecord } from './transaction.ts';

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  jobs: Map<number, { resolve: (tx: TxRecord) => void; reject: (e: unknown) => void }>;
}

export class SimulationPool {
  readonly #init: WorkerInit;
  readonly #reader: SimulationReader;
  readonly #slots: Slot[] = [];
  #nextJob = 0;
  #closed = false;

  constructor(size: number, init: WorkerInit, reader: SimulationReader) {
    this.#init = init;
    this.#reader = reader;
    for (let i = 0; i < size; i++) this.#slots.push(this.#start());
  }

  get size(): number {
    return this.#slots.length;
  }

  /** Runs on the worker with the fewest transactions in hand. */
  async simulate(input: StubInput): Promise<TxRecord> {
    if (this.#closed) throw new LedgerError('UNAVAILABLE', 'the simulation pool is closed');
    const slot = this.#slots.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
    await slot.ready;
    const job = this.#nextJob++;
    return new Promise<TxRecord>((resolve, reject) => {
      slot.jobs.set(job, { resolve, reject });
      slot.worker.postMessage({ kind: 'simulate', job, input } satisfies ToWorker);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }

  #start(): Slot {
    // Run from source, the worker needs tsx to read TypeScript.
    const worker = new Worker(new URL('./simulation-worker.ts', import.meta.url), {
      workerData: this.#init,
      execArgv: import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : [],
    });
    const jobs: Slot['jobs'] = new Map();
    let markReady: () => void = () => undefined;
    const slot: Slot = { worker, jobs, ready: new Promise<void>((r) => (markReady = r)) };
    worker.on('message', (message: ToMain | { kind: 'ready' }) => {
      if (message.kind === 'ready') markReady();
      else if (message.kind === 'read') void this.#answer(worker, message);
      else {
        const job = jobs.get(message.job);
        jobs.delete(message.job);
        if (message.kind === 'done') job?.resolve(message.tx);
        else job?.reject(new LedgerError('ENDORSEMENT', `simulation failed: ${message.message}`));
      }
    });
    worker.on('error', (error) => this.#replace(slot, error));
    worker.on('exit', (code) => this.#replace(slot, new Error(`simulation worker exited with code ${code}`)));
    return slot;
  }

  async #answer(worker: Worker, message: Extract<ToMain, { kind: 'read' }>): Promise<void> {
    try {
      const [a = '', b = ''] = message.args;
      const value =
        message.op === 'get'
          ? await this.#reader.get(a)
          : message.op === 'range'
            ? await this.#reader.range(a, b)
            : await this.#reader.history(a);
      worker.postMessage({ kind: 'read', id: message.id, value } satisfies ToWorker);
    } catch (error) {
      worker.postMessage({ kind: 'read', id: message.id, error: String(error) } satisfies ToWorker);
    }
  }

  #replace(slot: Slot, error: Error): void {
    const i = this.#slots.indexOf(slot);
    if (i < 0) return;
    for (const job of slot.jobs.values()) {
      job.reject(
        new LedgerError('ENDORSEMENT', `simulation worker died: ${error.message}`, { cause: error }),
      );
    }
    slot.jobs.clear();
    if (this.#closed) return;
    void slot.worker.terminate();
    this.#slots[i] = this.#start();
  }
}
