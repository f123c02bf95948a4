/**
 * Training data comes from Debian packages, fetched when needed and never committed: a .deb is a
 * signed, versioned, mirrored archive, so "this file from that package version" is a provenance
 * anyone can re-check. We download with `apt-get download` (no installation, no root needed when
 * the package lists exist) and unpack with `dpkg-deb -x` into a cache that later runs reuse.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository's git-ignored data cache, independent of the working directory. */
export const DEFAULT_CACHE_DIR = fileURLToPath(new URL('../../../.data/', import.meta.url));

export interface FetchDebianOptions {
  /** Binary package name, e.g. `r-cran-epitools`. */
  pkg: string;
  /** Path of the wanted file inside the package, e.g. `usr/lib/R/site-library/epitools/data/wcgs.rda`. */
  path: string;
  /** Where .deb files and their extracted trees are kept (default `<repo>/.data/`). */
  cacheDir?: string;
}

export interface DebianFile {
  /** Absolute path of the extracted file. */
  file: string;
  pkg: string;
  /** The package's Debian version (with epoch), read from the .deb itself. */
  version: string;
  /** Absolute path of the cached .deb. */
  deb: string;
}

export class FetchDebianError extends Error {
  override name = 'FetchDebianError';
}

/** Downloads `pkg` once into the cache, extracts it once, and returns where `path` lies in it. */
export async function fetchDebianFile(options: FetchDebianOptions): Promise<DebianFile> {
  const { pkg } = options;
  if (!/^[a-z0-9][a-z0-9+.-]+$/.test(pkg)) throw new FetchDebianError(`not a Debian package name: "${pkg}"`);
  const inner = normalize(options.path).replace(/^\/+/, '');
  if (inner === '' || inner.startsWith('..') || isAbsolute(inner)) {
    throw new FetchDebianError(`path must lie inside the package: "${options.path}"`);
  }
  const pkgDir = join(options.cacheDir ?? DEFAULT_CACHE_DIR, 'debian', pkg);
  await mkdir(pkgDir, { recursive: true });

  const deb = (await cachedDeb(pkgDir, pkg)) ?? (await download(pkgDir, pkg));
  const version = await debField(deb, 'Version');
  // One extracted tree per version (':' of an epoch is legal in file names on Linux).
  const root = join(pkgDir, `root-${version}`);
  if (!existsSync(root)) await extract(deb, root);

  const file = join(root, inner);
  if (!file.startsWith(root + sep) || !existsSync(file)) {
    throw new FetchDebianError(`${pkg} ${version} has no file ${inner} (looked in ${root})`);
  }
  return { file, pkg, version, deb };
}

async function cachedDeb(pkgDir: string, pkg: string): Promise<string | undefined> {
  // Newest name last in sort order is not the newest version, so refuse to guess between several.
  const debs = (await readdir(pkgDir)).filter((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (debs.length > 1) {
    throw new FetchDebianError(`several cached .deb files for ${pkg} in ${pkgDir}: remove all but one`);
  }
  return debs[0] === undefined ? undefined : join(pkgDir, debs[0]);
}

async function download(pkgDir: string, pkg: string): Promise<string> {
  // Into a private directory, then renamed: a concurrent run never sees a half-written .deb.
  const tmp = await mkdtemp(join(pkgDir, '.download-'));
  try {
    await tool('apt-get', ['download', '-q', pkg], tmp, 'to download Debian packages');
    const [name, ...more] = (await readdir(tmp)).filter((f) => f.endsWith('.deb'));
    if (name === undefined || more.length > 0) {
      throw new FetchDebianError(`apt-get download ${pkg} left ${more.length + (name ? 1 : 0)} .deb files`);
    }
    const deb = join(pkgDir, name);
    await rename(join(tmp, name), deb);
    return deb;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function extract(deb: string, root: string): Promise<void> {
  const tmp = await mkdtemp(`${root}.tmp-`);
  try {
    await tool('dpkg-deb', ['-x', deb, tmp], undefined, 'to unpack .deb files');
    await rename(tmp, root).catch((e: unknown) => {
      // Another process extracted the same version first: theirs is as good as ours.
      if (!existsSync(root)) throw e;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function debField(deb: string, field: string): Promise<string> {
  const out = (await tool('dpkg-deb', ['-f', deb, field], undefined, 'to read .deb metadata')).trim();
  if (out === '') throw new FetchDebianError(`${deb} has no ${field} field`);
  return out;
}

async function tool(cmd: string, args: string[], cwd: string | undefined, why: string): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, maxBuffer: 16 << 20, encoding: 'utf8' });
    return stdout;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') {
      throw new FetchDebianError(`${cmd} not found: a Debian-based system with ${cmd} is needed ${why}`);
    }
    const stderr = (err.stderr ?? '').trim();
    const hint = /Unable to locate package|has no installation candidate/.test(stderr)
      ? ' (unknown to apt: if the package lists are empty, run `apt-get update` as root)'
      : '';
    throw new FetchDebianError(`${cmd} ${args.join(' ')} failed${hint}: ${stderr || err.message}`);
  }
}
