/**
 * The browser client's build (`npm run web:build` → web/dist, served by `pmhe server start` at /)
 * and dev server (`npm run web:dev`, proxying the API to PMHE_SERVER, default
 * http://127.0.0.1:8080). The page and its worker import the project's own modules from ../src.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const api = process.env.PMHE_SERVER ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root: here('.'),
  base: '/',
  // No public folder: everything the page needs is imported.
  publicDir: false,
  resolve: {
    alias: [
      // csv-parse's ESM entry reads Node's Buffer at load; its browser build carries a polyfill.
      { find: /^csv-parse\/sync$/, replacement: here('../node_modules/csv-parse/dist/esm/sync.js') },
      // node-seal with its wasm file as a hashed asset (see src/node-seal.ts).
      { find: /^node-seal$/, replacement: here('src/node-seal.ts') },
    ],
  },
  build: {
    outDir: here('dist'),
    emptyOutDir: true,
    // Top-level await (node-seal's loader) and the WebCrypto Ed25519 the client signs with.
    target: 'es2023',
    // node-seal's seal_throws.wasm stays a file of its own (streamed, compiled while it downloads).
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 4096,
    sourcemap: true,
  },
  worker: { format: 'es' },
  // Pre-bundling would move node-seal away from its wasm file.
  optimizeDeps: { exclude: ['node-seal'] },
  server: {
    fs: { allow: [here('..')] },
    proxy: Object.fromEntries(['/v1', '/health', '/docs'].map((path) => [path, { target: api }])),
  },
});
