/**
 * Loads node-seal's WebAssembly module once per process (or once again after an abort) and
 * keeps a handle on its linear memory, so the heap can be watched: the WebAssembly heap never
 * shrinks, and a leak shows up here first.
 */
import initialize, { type MainModule } from 'node-seal';
import { setAbortHandler } from './errors.ts';

export type Seal = MainModule;

interface Loaded {
  seal: Seal;
  memory: WebAssembly.Memory | undefined;
  generation: number;
}

let current: Promise<Loaded> | undefined;
let generation = 0;
/** Generation of the module in use; 0 once an abort has poisoned it. */
let live = 0;

function findMemory(instance: WebAssembly.Instance): WebAssembly.Memory | undefined {
  return Object.values(instance.exports).find((value) => value instanceof WebAssembly.Memory);
}

/**
 * node-seal does not export its memory; we see the instance by wrapping WebAssembly.instantiate
 * for the duration of the load (Node uses instantiate, browsers instantiateStreaming).
 */
async function load(): Promise<Loaded> {
  let memory: WebAssembly.Memory | undefined;
  const wasm = WebAssembly as unknown as Record<string, unknown>;
  const originals = {
    instantiate: WebAssembly.instantiate,
    instantiateStreaming: WebAssembly.instantiateStreaming,
  };
  const observe = (result: unknown): void => {
    const instance = (result as { instance?: WebAssembly.Instance }).instance ?? result;
    if (instance instanceof WebAssembly.Instance) memory ??= findMemory(instance);
  };
  wasm.instantiate = async (...args: unknown[]) => {
    const result = await (originals.instantiate as (...a: unknown[]) => Promise<unknown>)(...args);
    observe(result);
    return result;
  };
  if (originals.instantiateStreaming) {
    wasm.instantiateStreaming = async (...args: unknown[]) => {
      const result = await (originals.instantiateStreaming as (...a: unknown[]) => Promise<unknown>)(...args);
      observe(result);
      return result;
    };
  }
  try {
    const seal = await initialize();
    generation += 1;
    live = generation;
    return { seal, memory, generation };
  } finally {
    wasm.instantiate = originals.instantiate;
    wasm.instantiateStreaming = originals.instantiateStreaming;
  }
}

setAbortHandler(() => {
  current = undefined;
  live = 0;
});

/** Whether objects made by module `g` are still usable. */
export function isLive(g: number): boolean {
  return g === live;
}

/** The shared SEAL module; a fresh one after an abort poisoned the last. */
export async function loadSeal(): Promise<{ seal: Seal; generation: number }> {
  current ??= load();
  try {
    return await current;
  } catch (error) {
    current = undefined;
    throw error;
  }
}

/** Bytes of WebAssembly linear memory in use by SEAL (it grows, never shrinks). */
export async function wasmHeapBytes(): Promise<number> {
  const loaded = await (current ?? load());
  return loaded.memory?.buffer.byteLength ?? Number.NaN;
}
