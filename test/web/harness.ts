/**
 * What the browser tests share: the app built as users get it, Chromium, the requests a context
 * makes and the problems a page reports, the vault a page stored, and the page's own helpers
 * (which control has no accessible name, which screen is showing).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page, Request } from 'playwright-core';
import { openVault, type VaultContents } from '../../src/client/vault.ts';
import { tempDir } from '../ledger/fixtures.ts';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const CHROMIUM = '/usr/bin/chromium';
export const SCREENS = join(root, 'test-results', 'screens');

/** Every request a context made: URL, headers and body. */
export interface Recorded {
  url: string;
  headers: string;
  body: Buffer;
}

/** The app as users get it: a production build in a temp folder, for the server to serve. */
export async function buildWebApp(name: string): Promise<string> {
  const outDir = await tempDir(name);
  const build = spawnSync(
    join(root, 'node_modules/.bin/node'),
    [
      join(root, 'node_modules/vite/bin/vite.js'),
      'build',
      '--config',
      'web/vite.config.ts',
      '--outDir',
      outDir,
      '--emptyOutDir',
    ],
    { cwd: root, encoding: 'utf8' },
  );
  assert.equal(build.status, 0, `vite build failed: ${build.stderr}${build.stdout}`);
  return outDir;
}

/** Records every request of `context` into `requests`. */
export function recordRequests(context: BrowserContext, requests: Recorded[]): void {
  context.on('request', (request: Request) => {
    requests.push({
      url: request.url(),
      headers: JSON.stringify(request.headers()),
      body: request.postDataBuffer() ?? Buffer.alloc(0),
    });
  });
}

/** Page errors and console errors of `page` into `problems`, each prefixed. */
export function watchProblems(page: Page, problems: string[], prefix = ''): void {
  page.on('pageerror', (error) => problems.push(`${prefix}page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`${prefix}console: ${message.text()}`);
  });
}

/** Visible inputs, selects and buttons without an accessible name (label, aria-label, text). */
export const unlabelled = (page: Page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('input, select, button, textarea')]
      .filter((e) => (e as HTMLElement).offsetParent !== null)
      .filter((e) => {
        const input = e as HTMLInputElement;
        const named =
          (input.labels?.length ?? 0) > 0 ||
          e.getAttribute('aria-label') ||
          e.getAttribute('aria-labelledby') ||
          (e.tagName === 'BUTTON' && e.textContent?.trim());
        return !named;
      })
      .map((e) => e.outerHTML.slice(0, 80)),
  );

/** Waits until the page shows screen `name` and is not busy. */
export const onScreen = (page: Page, name: string, timeout = 60_000) =>
  page.waitForFunction(
    (n) => document.body.dataset.screen === n && document.body.dataset.busy !== 'true',
    name,
    { timeout },
  );

/** The vault as a page stored it in IndexedDB, opened here with the passphrase the test typed. */
export async function storedVault(page: Page, passphrase: string): Promise<VaultContents> {
  const bytes = await page.evaluate(
    () =>
      new Promise<number[]>((resolve, reject) => {
        const open = indexedDB.open('pmhe-client');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const get = open.result.transaction('entries').objectStore('entries').get('vault.cbor');
          get.onsuccess = () => resolve(Array.from(get.result as Uint8Array));
          get.onerror = () => reject(get.error);
        };
      }),
  );
  return openVault(Uint8Array.from(bytes), passphrase);
}
