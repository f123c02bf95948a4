/**
 * A simulation thread: runs transactions of the contract module it was given, reading committed
 * state from the main thread (which owns the state database).
 */
import { callMain, serveJobs } from '../workers/pool.ts';
import type { ContractClass } from './simulator.ts';
import { Simulator } from './simulator.ts';
import type { KeyModification, SimulationReader, StubInput } from './stub.ts';
import type { TxRecord } from './transaction.ts';
import type { Version, VersionedValue } from './world-state.ts';

export interface SimulationWorkerData {
  contractsModule: string;
  chaincode: string;
}

/** A state read the worker asks the main thread for. */
export type ReadCall =
  | { op: 'get'; key: string }
  | { op: 'version'; key: string }
  | { op: 'range'; start: string; end: string }
  | { op: 'history'; key: string };

await serveJobs<StubInput, TxRecord>(async (data) => {
  const init = data as SimulationWorkerData;
  const module = (await import(init.contractsModule)) as { contracts: ContractClass[] };
  const simulator = new Simulator(module.contracts, init.chaincode);
  const reader: SimulationReader = {
    get: (key) => callMain<VersionedValue | undefined>({ op: 'get', key } satisfies ReadCall),
    version: (key) => callMain<Version | undefined>({ op: 'version', key } satisfies ReadCall),
    range: (start, end) =>
      callMain<[string, VersionedValue][]>({ op: 'range', start, end } satisfies ReadCall),
    history: (key) => callMain<KeyModification[]>({ op: 'history', key } satisfies ReadCall),
  };
  return (input) => simulator.simulate(input, reader);
});
