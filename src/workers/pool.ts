/**
 * Worker threads that do one kind of job, restarted when they die: CKKS work (a WebAssembly abort,
 * a pathological input) must never take the process down. A job on a dead worker fails alone;
 * the next job gets a fresh worker. Workers may call back into the main thread (`serveCalls`),
 * e.g. to read state the main thread owns.
 */
import { parentPort, Worker, workerData } from 'node:worker_threads';

type Message =
  | { kind: 'ready' }
  | { kind: 'done'; job: number; value: unknown }
  | { kind: 'failed'; job: number; message: string; code?: string }
  | { kind: 'call'; id: number; args: unknown }
  | { kind: 'job'; job: number; input: unknown }
  | { kind: 'answer'; id: number; value?: unknown; error?: string };

/** A job's failure inside a worker, with the code of the original error when it had one. */
export class WorkerJobError extends Error {
  override readonly name = 'WorkerJobError';
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
  }
}

export class WorkerDiedError extends Error {
  override readonly name = 'WorkerDiedError';
}

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  jobs: Map<number, { resolve: (value: unknown) => void; reject: (e: unknown) => void }>;
}

export interface PoolOptions {
  size: number;
  workerData?: unknown;
  /** Answers the workers' calls (see `callMain`). */
  onCall?: (args: unknown) => Promise<unknown>;
}

export class WorkerPool<In, Out> {
  readonly #url: URL;
  readonly #options: PoolOptions;
  readonly #slots: Slot[] = [];
  #nextJob = 0;
  #turn = 0;
  #closed = false;
  /** Workers that died and were replaced, for metrics. */
  restarts = 0;

  constructor(url: URL, options: PoolOptions) {
    this.#url = url;
    this.#options = options;
    for (let i = 0; i < Math.max(1, options.size); i++) this.#slots.push(this.#start());
  }

  get size(): number {
    return this.#slots.length;
  }

  /** Runs on the worker with the fewest jobs in hand (ties taken in turn, so all get warm). */
  async run(input: In): Promise<Out> {
    if (this.#closed) throw new WorkerDiedError('the worker pool is closed');
    const fewest = Math.min(...this.#slots.map((s) => s.jobs.size));
    const idle = this.#slots.filter((s) => s.jobs.size === fewest);
    const slot = idle[this.#turn++ % idle.length] as Slot;
    await slot.ready;
    const job = this.#nextJob++;
    return new Promise<Out>((resolve, reject) => {
      slot.jobs.set(job, { resolve: resolve as (v: unknown) => void, reject });
      slot.worker.postMessage({ kind: 'job', job, input } satisfies Message);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }

  #start(): Slot {
    // Run from source, a worker needs tsx to read TypeScript. Profiling flags carry over (a worker
    // refuses V8 flags such as --max-semi-space-size).
    const profiling = process.execArgv.filter((f) => /^--(cpu|heap)-prof/.test(f));
    const worker = new Worker(this.#url, {
      workerData: this.#options.workerData,
      execArgv: [...(this.#url.pathname.endsWith('.ts') ? ['--import', 'tsx'] : []), ...profiling],
    });
    let markReady: () => void = () => undefined;
    const slot: Slot = { worker, jobs: new Map(), ready: new Promise<void>((r) => (markReady = r)) };
    worker.on('message', (message: Message) => {
      if (message.kind === 'ready') markReady();
      else if (message.kind === 'call') void this.#answer(worker, message);
      else if (message.kind === 'done' || message.kind === 'failed') {
        const job = slot.jobs.get(message.job);
        slot.jobs.delete(message.job);
        if (message.kind === 'done') job?.resolve(message.value);
        else job?.reject(new WorkerJobError(message.message, message.code));
      }
    });
    worker.on('error', (error) => this.#replace(slot, error));
    worker.on('exit', (code) => this.#replace(slot, new Error(`exited with code ${code}`)));
    return slot;
  }

  async #answer(worker: Worker, message: Extract<Message, { kind: 'call' }>): Promise<void> {
    try {
      const value = await this.#options.onCall?.(message.args);
      worker.postMessage({ kind: 'answer', id: message.id, value } satisfies Message);
    } catch (error) {
      worker.postMessage({ kind: 'answer', id: message.id, error: String(error) } satisfies Message);
    }
  }

  #replace(slot: Slot, error: Error): void {
    const i = this.#slots.indexOf(slot);
    if (i < 0) return;
    for (const job of slot.jobs.values())
      job.reject(new WorkerDiedError(`worker died: ${error.message}`, { cause: error }));
    slot.jobs.clear();
    if (this.#closed) return;
    this.restarts++;
    void slot.worker.terminate();
    this.#slots[i] = this.#start();
  }
}

const pendingCalls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
let nextCall = 0;

/** Inside a worker: asks the main thread's `onCall` and waits for its answer. */
export function callMain<T>(args: unknown): Promise<T> {
  const port = parentPort;
  if (!port) throw new Error('callMain is for worker threads');
  return new Promise<T>((resolve, reject) => {
    const id = nextCall++;
    pendingCalls.set(id, { resolve: resolve as (v: unknown) => void, reject });
    port.postMessage({ kind: 'call', id, args } satisfies Message);
  });
}

/** Inside a worker: serves jobs with `handler` (after `init`, given the pool's workerData). */
export async function serveJobs<In, Out>(
  init: (data: unknown) => Promise<(input: In) => Promise<Out>>,
): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('serveJobs is for worker threads');
  const handler = await init(workerData);
  port.on('message', (message: Message) => {
    if (message.kind === 'answer') {
      const call = pendingCalls.get(message.id);
      pendingCalls.delete(message.id);
      if (message.error !== undefined) call?.reject(new Error(message.error));
      else call?.resolve(message.value);
    } else if (message.kind === 'job') {
      handler(message.input as In).then(
        (value) => port.postMessage({ kind: 'done', job: message.job, value } satisfies Message),
        (error: unknown) =>
          port.postMessage({
            kind: 'failed',
            job: message.job,
            message: error instanceof Error ? error.message : String(error),
            ...(typeof (error as { code?: unknown })?.code === 'string'
              ? { code: (error as { code: string }).code }
              : {}),
          } satisfies Message),
      );
    }
  });
  port.postMessage({ kind: 'ready' } satisfies Message);
}
