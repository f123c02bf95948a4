/**
 * A simulation thread: runs transactions of the contract module it was given, reading committed
 * state from the main thread (which owns the state database) by message.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ContractClass } from './simulator.ts';
import { Simulator } from './simulator.ts';
import type { KeyModification, SimulationReader, StubInput } from './stub.ts';
import type { VersionedValue } from './world-state.ts';

export interface WorkerInit {
  contractsModule: string;
  chaincode: string;
}
export type ReadOp = 'get' | 'range' | 'history';
export type ToMain =
  | { kind: 'read'; id: number; op: ReadOp; args: string[] }
  | { kind: 'done'; job: number; tx: Awaited<ReturnType<Simulator['simulate']>> }
  | { kind: 'failed'; job: number; message: string };
export type ToWorker =
  | { kind: 'simulate'; job: number; input: StubInput }
  | { kind: 'read'; id: number; value?: unknown; error?: string };

const port = parentPort;
if (port) {
  const init = workerData as WorkerInit;
  const module = (await import(init.contractsModule)) as { contracts: ContractClass[] };
  const simulator = new Simulator(module.contracts, init.chaincode);
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextRead = 0;
  const read = <T>(op: ReadOp, args: string[]) =>
    new Promise<T>((resolve, reject) => {
      const id = nextRead++;
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      port.postMessage({ kind: 'read', id, op, args } satisfies ToMain);
    });
  const reader: SimulationReader = {
    get: (key) => read<VersionedValue | undefined>('get', [key]),
    range: (start, end) => read<[string, VersionedValue][]>('range', [start, end]),
    history: (key) => read<KeyModification[]>('history', [key]),
  };
  port.on('message', (message: ToWorker) => {
    if (message.kind === 'read') {
      const w = waiting.get(message.id);
      waiting.delete(message.id);
      if (message.error !== undefined) w?.reject(new Error(message.error));
      else w?.resolve(message.value);
      return;
    }
    simulator.simulate(message.input, reader).then(
      (tx) => port.postMessage({ kind: 'done', job: message.job, tx } satisfies ToMain),
      (error: unknown) =>
        port.postMessage({ kind: 'failed', job: message.job, message: String(error) } satisfies ToMain),
    );
  });
  port.postMessage({ kind: 'ready' });
}
