/** The page's side of ./messages.ts: typed calls to the worker, each answered by its id. */
import type { Event, FromWorker, Op, Ops, WorkerError } from './messages.ts';

export class WorkerCallError extends Error {
  readonly code: string;
  constructor(error: WorkerError) {
    super(error.message);
    this.code = error.code;
  }
}

export class WorkerClient {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #next = 1;
  /** Set once the worker failed to load or crashed: every call then fails at once. */
  #dead: WorkerCallError | undefined;
  onEvent: (event: Event) => void = () => {};

  constructor() {
    this.#worker = new Worker(new URL('./worker.ts', import.meta.url), {
      type: 'module',
      name: 'pmhe-client',
    });
    this.#worker.addEventListener('message', (e: MessageEvent<FromWorker>) => {
      const m = e.data;
      if (m.kind === 'event') {
        this.onEvent(m);
        return;
      }
      const waiting = this.#pending.get(m.id);
      if (!waiting) return;
      this.#pending.delete(m.id);
      if (m.ok) waiting.resolve(m.result);
      else waiting.reject(new WorkerCallError(m.error));
    });
    this.#worker.addEventListener('error', (e) => {
      this.#dead = new WorkerCallError({
        code: 'WORKER',
        message: `the client worker failed: ${e.message || 'it could not be loaded'}`,
      });
      for (const waiting of this.#pending.values()) waiting.reject(this.#dead);
      this.#pending.clear();
    });
  }

  call<K extends Op>(
    op: K,
    payload: Ops[K]['payload'],
    transfer: Transferable[] = [],
  ): Promise<Ops[K]['result']> {
    const id = this.#next++;
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#worker.postMessage({ id, op, payload }, transfer);
    });
  }
}
