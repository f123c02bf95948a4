/**
 * `npm run chaincode:build`: bundles the contract (src/contract/index.ts, which exports
 * `contracts`) into one CommonJS file, chaincode/dist/index.cjs, for `fabric-chaincode-node
 * server` to require. Options: `--entry FILE` (another module exporting `contracts`),
 * `--out DIR` (a chaincode folder elsewhere: chaincode/package.json is copied there).
 *
 * fabric-contract-api and fabric-shim stay external: the server's own copy must be the one the
 * contract's decorators register with. node-seal's WebAssembly is a separate file that its
 * loader finds next to `import.meta.url`, so the .wasm is copied beside the bundle and
 * `import.meta.url` is defined as the bundle's own URL.
 */
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build, type Metafile } from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CHAINCODE_DIR = join(ROOT, 'chaincode');
export const DEFAULT_ENTRY = join(ROOT, 'src', 'contract', 'index.ts');

/**
 * Left to npm in the chaincode image: the contract API (one instance shared with the shim) and
 * native modules, which cannot be bundled. Each must be a dependency in chaincode/package.json.
 */
export const EXTERNALS: readonly string[] = ['fabric-contract-api', 'fabric-shim', 'classic-level'];

const META_URL = '__pmhe_import_meta_url';

export interface BuildOptions {
  /** Module exporting `contracts`; src/contract/index.ts by default. */
  entry?: string;
  /** Chaincode folder to write dist/ into; chaincode/ by default. */
  outDir?: string;
}

export interface BuildResult {
  bundle: string;
  bytes: number;
  /** WebAssembly files copied beside the bundle. */
  wasm: string[];
  /** Externals the bundle requires at run time. */
  externals: string[];
}

interface PackageJson {
  dependencies?: Record<string, string>;
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** The image installs externals from chaincode/package.json: their versions must be the root's. */
async function checkDependencies(used: readonly string[]): Promise<void> {
  const root = await readJson<PackageJson>(join(ROOT, 'package.json'));
  const chaincode = await readJson<PackageJson>(join(CHAINCODE_DIR, 'package.json'));
  for (const name of used) {
    const want = root.dependencies?.[name];
    const have = chaincode.dependencies?.[name];
    if (want === undefined || have !== want) {
      throw new Error(
        `chaincode/package.json must list ${name}@${want ?? '(as in package.json)'} in dependencies ` +
          `(the bundle requires it at run time), found ${have ?? 'nothing'}`,
      );
    }
  }
}

/**
 * `import.meta.url` now means the bundle's URL: right for node-seal's loader, wrong for any
 * other module that reads files beside itself, so those are refused rather than broken.
 */
async function checkImportMeta(metafile: Metafile): Promise<void> {
  const offenders: string[] = [];
  for (const input of Object.keys(metafile.inputs)) {
    if (input.includes('node_modules/node-seal/')) continue;
    const source = await readFile(resolve(ROOT, input), 'utf8').catch(() => '');
    if (source.includes('import.meta')) offenders.push(input);
  }
  if (offenders.length > 0) {
    throw new Error(
      `the contract bundle may not use import.meta (it would point at the bundle): ${offenders.join(', ')}`,
    );
  }
}

export async function buildChaincode(options: BuildOptions = {}): Promise<BuildResult> {
  const entry = resolve(options.entry ?? DEFAULT_ENTRY);
  const outDir = resolve(options.outDir ?? CHAINCODE_DIR);
  const distDir = join(outDir, 'dist');
  const bundle = join(distDir, 'index.cjs');
  await stat(entry).catch(() => {
    throw new Error(`no contract module at ${entry}`);
  });
  await mkdir(distDir, { recursive: true });
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: ROOT,
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    // fabric-contract-api reads parameter names from function source and names contracts after
    // their class: nothing may be renamed or minified.
    keepNames: true,
    minify: false,
    sourcemap: 'linked',
    tsconfig: join(ROOT, 'tsconfig.json'),
    external: [...EXTERNALS],
    define: { 'import.meta.url': META_URL },
    banner: { js: `'use strict';\nconst ${META_URL} = require('node:url').pathToFileURL(__filename).href;` },
    metafile: true,
    logLevel: 'warning',
  });
  await checkImportMeta(result.metafile);
  const output = result.metafile.outputs[relative(ROOT, bundle)] ?? Object.values(result.metafile.outputs)[0];
  const externals = EXTERNALS.filter((name) =>
    output?.imports.some((i) => i.external && (i.path === name || i.path.startsWith(`${name}/`))),
  );
  await checkDependencies(externals);

  const wasm: string[] = [];
  for (const input of Object.keys(result.metafile.inputs)) {
    const match = /node_modules\/node-seal\/dist\/(seal_\w+)\.js$/.exec(input);
    if (!match) continue;
    const target = join(distDir, `${match[1]}.wasm`);
    await copyFile(resolve(ROOT, input.replace(/\.js$/, '.wasm')), target);
    wasm.push(target);
  }
  if (outDir !== CHAINCODE_DIR)
    await copyFile(join(CHAINCODE_DIR, 'package.json'), join(outDir, 'package.json'));
  return { bundle, bytes: (await stat(bundle)).size, wasm, externals };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values } = parseArgs({ options: { entry: { type: 'string' }, out: { type: 'string' } } });
  const options: BuildOptions = {};
  if (values.entry !== undefined) options.entry = values.entry;
  if (values.out !== undefined) options.outDir = values.out;
  try {
    const built = await buildChaincode(options);
    const size = (built.bytes / 1024 / 1024).toFixed(2);
    console.log(`${relative(process.cwd(), built.bundle)}: ${size} MiB`);
    for (const file of built.wasm)
      console.log(`${relative(process.cwd(), file)} (WebAssembly, beside the bundle)`);
    console.log(`requires at run time: ${built.externals.join(', ') || 'nothing'} (chaincode/package.json)`);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}
