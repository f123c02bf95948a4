/**
 * Simulation in worker threads: CKKS evaluation is the cost of a transaction, and independent
 * transactions can be endorsed side by side (this machine has two cores). Each worker holds its
 * own SEAL module and caches; state reads come back to the main thread, which owns the state
 * database. A worker that dies fails only the transactions it held and is replaced.
 */
import { WorkerPool } from '../workers/pool.ts';
import { LedgerError } from './errors.ts';
import type { ReadCall, SimulationWorkerData } from './simulation-worker.ts';
import type { SimulationReader, StubInput } from './stub.ts';
import type { TxRecord } from './transaction.ts';

export class SimulationPool {
  readonly #pool: WorkerPool<StubInput, TxRecord>;

  constructor(size: number, data: SimulationWorkerData, reader: SimulationReader) {
    this.#pool = new WorkerPool(new URL('./simulation-worker.ts', import.meta.url), {
      size,
      workerData: data,
      onCall: async (args) => {
        const call = args as ReadCall;
        if (call.op === 'get') return reader.get(call.key);
        if (call.op === 'version') return reader.version(call.key);
        if (call.op === 'range') return reader.range(call.start, call.end);
        return reader.history(call.key);
      },
    });
  }

  async simulate(input: StubInput): Promise<TxRecord> {
    try {
      return await this.#pool.run(input);
    } catch (error) {
      throw new LedgerError('ENDORSEMENT', `simulation failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
