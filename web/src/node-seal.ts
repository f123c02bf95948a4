/**
 * node-seal for the browser build (vite.config.ts aliases `node-seal` here). node-seal's own
 * entry finds its WebAssembly with `new URL(path, import.meta.url)` for a path only known at run
 * time, which a bundler cannot follow: the wasm would be looked for next to the worker's chunk
 * under its unhashed name. Here the file is imported as an asset (hashed, cacheable for good)
 * and handed to the loader.
 */
import type { MainModule } from '../../node_modules/node-seal/dist/seal_throws.js';
import MainModuleFactory from '../../node_modules/node-seal/dist/seal_throws.js';
import wasmUrl from '../../node_modules/node-seal/dist/seal_throws.wasm?url';

export type * from '../../node_modules/node-seal/dist/seal_throws.js';

export function initialize(options: Record<string, unknown> = {}): Promise<MainModule> {
  return MainModuleFactory({ locateFile: () => wasmUrl, ...options });
}

export default initialize;
