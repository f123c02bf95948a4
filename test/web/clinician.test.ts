/**
 * Sharing with a clinician and closing an account in a real browser (Debian's Chromium, driven
 * by playwright-core) against the real server on loopback (issue 17): a clinician and a person,
 * each in their own browser context, make their keys in the page; the person looks the
 * clinician up and sees the fingerprint the clinician's page shows, grants, and their new
 * diagnoses reach the clinician's page with their ledger transactions; a FHIR Bundle is
 * exported; after a revocation later results stay the person's; both pages fit a 360 px phone;
 * no request carries a secret key; closing the account brings the person back to the first
 * screen with nothing left in the browser. Screenshots go to test-results/screens/.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import type { VaultContents } from '../../src/client/vault.ts';
import { boxKeyPair, hpke } from '../../src/protocol/shared-item.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { tempDir } from '../ledger/fixtures.ts';
import { encodings, keyNeedles } from '../secrecy-needles.ts';
import {
  buildWebApp,
  CHROMIUM,
  onScreen,
  type Recorded,
  recordRequests,
  SCREENS,
  storedVault as storedVaultOf,
  unlabelled,
  watchProblems,
} from './harness.ts';

const PASSPHRASE = 'a browser passphrase';
const CLINICIAN = { id: 'dr-web', name: 'Dr W. Web' };
const PERSON = 'pat-web';
const HEX64 = /^[0-9a-f]{64}$/;

/** The vault as a page stored it, opened with the passphrase the test typed. */
const storedVault = (p: Page): Promise<VaultContents> => storedVaultOf(p, PASSPHRASE);

/** The keys of everything the page's client keeps in IndexedDB. */
const storedKeys = (p: Page) =>
  p.evaluate(
    () =>
      new Promise<string[]>((resolve, reject) => {
        const open = indexedDB.open('pmhe-client');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const keys = open.result.transaction('entries').objectStore('entries').getAllKeys();
          keys.onsuccess = () => resolve(keys.result.map(String));
          keys.onerror = () => reject(keys.error);
        };
      }),
  );

describe('sharing with a clinician, and closing an account, in the browser', {
  skip: !process.env.CI && !existsSync(CHROMIUM) && 'no /usr/bin/chromium',
}, () => {
  let server: RunningServer;
  let outDir = '';
  let browser: Browser;
  let doctor: Page;
  let person: Page;
  const requests: Recorded[] = [];
  const problems: string[] = [];
  /** The fingerprint the clinician's page shows (what they read out). */
  let fingerprint = '';
  /** The person's results shared while the grant was in force, by ledger transaction. */
  let sharedTxs: string[] = [];
  /** The labels of the diagnoses shared: never in plaintext in a request. */
  const labels = new Set<string>();

  const open = async (context: BrowserContext, name: string): Promise<Page> => {
    recordRequests(context, requests);
    const page = await context.newPage();
    watchProblems(page, problems, `${name}: `);
    return page;
  };

  before(async () => {
    outDir = await buildWebApp('web-dist-sharing');
    server = await startServer({
      dataDir: await tempDir('web-sharing'),
      port: 0,
      log: false,
      webDir: outDir,
    });
    await mkdir(SCREENS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    // Two people, two browsers: nothing of one's storage is the other's.
    const viewport = { width: 1280, height: 900 };
    doctor = await open(await browser.newContext({ acceptDownloads: true, viewport }), 'clinician');
    person = await open(await browser.newContext({ viewport }), 'person');
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(SCREENS, `${name}.png`), fullPage: true });
  /** Clicks Refresh on the clinician's page and waits until the inbox was drawn again. */
  const refresh = async () => {
    const before = Number((await doctor.getAttribute('#people', 'data-refreshes')) ?? 0);
    await doctor.click('#inbox-refresh');
    await doctor.waitForFunction(
      (n) =>
        Number(document.getElementById('people')?.dataset.refreshes ?? 0) > n &&
        document.body.dataset.busy !== 'true',
      before,
      { timeout: 60_000 },
    );
  };
  /** The person's results table: newest first. */
  const personRows = () =>
    person.$$eval('#results tbody tr', (trs) =>
      trs.map((tr) => ({
        tx: (tr as HTMLElement).dataset.tx ?? '',
        label: tr.children[1]?.textContent ?? '',
      })),
    );
  /** Simulated readings until the stream ends (every result in, or timed out). */
  const stream = async (count: number) => {
    await person.selectOption('#persona', 'sepsis');
    await person.fill('#count', String(count));
    await person.selectOption('#pace', '20');
    await person.click('#start');
    await person.waitForFunction(
      () => !document.querySelector<HTMLButtonElement>('#start')?.disabled,
      undefined,
      { timeout: 180_000 },
    );
  };
  /** No horizontal scrolling on a 360 px phone; a full-page screenshot there. */
  const fitsPhone = async (page: Page, name: string) => {
    const viewport = page.viewportSize();
    await page.setViewportSize({ width: 360, height: 780 });
    // Everything folded away opened, so that its contents are measured too.
    await page.evaluate(() => {
      for (const d of document.querySelectorAll('details')) d.open = true;
    });
    // Chart.js fits its canvases to the new width a frame or two later: the page once settled counts.
    await page
      .waitForFunction(() => document.documentElement.scrollWidth <= 360, undefined, { timeout: 3000 })
      .catch(() => undefined);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    // What sticks out, named, should it fail.
    const out = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('body *')]
        .filter((e) => e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().right > 360)
        .slice(0, 5)
        .map(
          (e) =>
            `${e.tagName.toLowerCase()}#${e.id}.${e.className} (${Math.round(e.getBoundingClientRect().right)} px)`,
        ),
    );
    await shot(page, name);
    await page.evaluate(() => {
      for (const d of document.querySelectorAll('details')) d.open = false;
    });
    if (viewport) await page.setViewportSize(viewport);
    assert.ok(wide <= 360, `the page is ${wide} px wide on a 360 px screen: ${out.join(', ')}`);
  };

  test('a clinician makes their keys in the page and registers; the fingerprint to read out is shown', async () => {
    await doctor.goto(server.url);
    await onScreen(doctor, 'onboarding');
    assert.equal(await doctor.isVisible('#clinician-form'), false, 'the person’s form comes first');
    await doctor.check('#role-clinician');
    assert.equal(await doctor.isVisible('#clinician-form'), true);
    assert.equal(await doctor.isVisible('#create-form'), false);
    assert.deepEqual(await unlabelled(doctor), []);
    // The keyboard reaches the clinician's form.
    const reached = new Set<string>();
    await doctor.focus('#role-clinician');
    for (let i = 0; i < 12; i++) {
      await doctor.keyboard.press('Tab');
      reached.add(await doctor.evaluate(() => document.activeElement?.id ?? ''));
    }
    for (const id of ['clinician-id', 'clinician-name', 'clinician-passphrase', 'create-clinician'])
      assert.ok(reached.has(id), `Tab never reaches #${id}`);
    await shot(doctor, 'clinician-1-onboarding');

    await doctor.fill('#clinician-id', CLINICIAN.id);
    await doctor.fill('#clinician-name', CLINICIAN.name);
    await doctor.fill('#clinician-passphrase', PASSPHRASE);
    await doctor.fill('#clinician-passphrase-confirm', PASSPHRASE);
    await doctor.click('#create-clinician');
    await doctor.waitForFunction(
      () =>
        document.body.dataset.screen === 'clinician' &&
        document.getElementById('people')?.dataset.refreshes !== undefined &&
        document.body.dataset.busy !== 'true',
      undefined,
      { timeout: 120_000 },
    );
    assert.match((await doctor.textContent('#status')) ?? '', /registered with the server/);
    fingerprint = ((await doctor.textContent('#clinician-fingerprint')) ?? '').trim();
    assert.match(fingerprint, /^[0-9a-f]{4}( [0-9a-f]{4}){4}$/);
    assert.match((await doctor.textContent('#clinician-account')) ?? '', /Dr W\. Web · clinician id dr-web/);
    assert.match((await doctor.textContent('#inbox-note')) ?? '', /^0 results from 0 people/);
    assert.deepEqual(await unlabelled(doctor), []);
    await shot(doctor, 'clinician-2-registered');

    // A reload asks the passphrase, and the clinician's vault opens the clinician's screen again.
    await doctor.reload();
    await onScreen(doctor, 'unlock');
    assert.match((await doctor.textContent('#unlock-info')) ?? '', /clinician keys/);
    await doctor.fill('#unlock-passphrase', PASSPHRASE);
    await doctor.click('#unlock');
    await doctor.waitForFunction(
      () =>
        document.body.dataset.screen === 'clinician' &&
        document.getElementById('people')?.dataset.refreshes !== undefined &&
        document.body.dataset.busy !== 'true',
      undefined,
      { timeout: 60_000 },
    );
    assert.equal(((await doctor.textContent('#clinician-fingerprint')) ?? '').trim(), fingerprint);
  });

  test('a person looks the clinician up, sees the same fingerprint, and grants', async () => {
    await person.goto(server.url);
    await onScreen(person, 'onboarding');
    assert.equal(await person.isChecked('#role-person'), true);
    await person.fill('#user-id', PERSON);
    await person.check('#model-early-warning');
    await person.fill('#passphrase', PASSPHRASE);
    await person.fill('#passphrase-confirm', PASSPHRASE);
    await person.click('#create');
    await person.waitForFunction(
      () =>
        document.body.dataset.screen === 'app' &&
        document.body.dataset.busy !== 'true' &&
        /registered with the server/.test(document.getElementById('status')?.textContent ?? ''),
      undefined,
      { timeout: 120_000 },
    );
    assert.equal(await person.isVisible('#grants-none'), true);

    // An id nobody registered as a clinician is named as not found.
    await person.fill('#share-clinician-id', 'dr-nobody');
    await person.click('#share-lookup');
    await person.waitForSelector('#error:not([hidden])', { timeout: 30_000 });
    assert.match((await person.textContent('#error')) ?? '', /not found.*dr-nobody/);
    assert.equal(await person.isVisible('#share-grant-form'), false);

    await person.fill('#share-clinician-id', CLINICIAN.id);
    await person.click('#share-lookup');
    await person.waitForSelector('#share-grant-form:not([hidden])', { timeout: 30_000 });
    assert.equal(await person.textContent('#share-name'), CLINICIAN.name);
    // What the person compares with what the clinician reads out: the very same characters.
    assert.equal(((await person.textContent('#share-fingerprint')) ?? '').trim(), fingerprint);
    assert.match((await person.textContent('#share-check')) ?? '', /read out the fingerprint/);
    assert.equal(await person.isChecked('#share-model-early-warning'), true);
    assert.equal(await person.inputValue('#share-days'), '30');
    assert.match((await person.textContent('#share-until')) ?? '', /^Access ends /);
    assert.deepEqual(await unlabelled(person), []);
    await fitsPhone(person, 'share-1-lookup-360');

    await person.click('#share-grant');
    await person.waitForSelector(`#grant-list li[data-clinician="${CLINICIAN.id}"][data-state="active"]`, {
      timeout: 60_000,
    });
    const grant = person.locator(`#grant-list li[data-clinician="${CLINICIAN.id}"]`);
    assert.match((await grant.getAttribute('data-tx')) ?? '', HEX64);
    assert.match(
      (await grant.textContent()) ?? '',
      /Dr W\. Web \(dr-web\).*Early warning.*0 results shared/s,
    );
    assert.match((await person.textContent('#share-note')) ?? '', /Dr W\. Web receives your results until/);
    assert.equal(await person.isVisible('#grants-none'), false);
    assert.equal(await person.isVisible('#share-grant-form'), false);
  });

  test('new diagnoses are shared by themselves; the clinician’s Refresh shows the latest with its ledger transactions; FHIR export', async () => {
    await stream(4);
    const rows = await personRows();
    assert.ok(rows.length >= 4, `results: ${rows.length}`);
    await person
      .waitForSelector(`#grant-list li[data-clinician="${CLINICIAN.id}"][data-shared="${rows.length}"]`, {
        timeout: 60_000,
      })
      .catch(async (error) => {
        const state = await person.evaluate(() => ({
          note: document.getElementById('share-note')?.textContent,
          error: document.getElementById('error')?.textContent,
          status: document.getElementById('status')?.textContent,
          grants: document.getElementById('grant-list')?.outerHTML,
        }));
        throw new Error(`${(error as Error).message}\n${JSON.stringify(state, null, 1)}`);
      });
    assert.match(
      (await person.textContent('#share-note')) ?? '',
      /new results? shared with Dr W\. Web \(dr-web\)/,
    );
    sharedTxs = rows.map((r) => r.tx);

    await refresh();
    const shown = await doctor.$$eval(
      `#people article.person[data-user="${PERSON}"] table.items tbody tr`,
      (trs) =>
        trs.map((tr) => ({
          tx: (tr as HTMLElement).dataset.tx ?? '',
          shareTx: (tr as HTMLElement).dataset.shareTx ?? '',
        })),
    );
    assert.deepEqual(shown.map((r) => r.tx).sort(), [...sharedTxs].sort(), 'every shared result, once');
    for (const r of shown) {
      assert.match(r.shareTx, HEX64);
      assert.notEqual(r.shareTx, r.tx);
    }
    const cards = await doctor.$$eval(`#people article.person[data-user="${PERSON}"] .diagnosis`, (cs) =>
      cs.map((c) => ({
        model: (c as HTMLElement).dataset.model,
        level: (c as HTMLElement).dataset.level,
        tx: (c as HTMLElement).dataset.tx ?? '',
        shareTx: (c as HTMLElement).dataset.shareTx ?? '',
        label: c.querySelector('h4')?.textContent ?? '',
        guidance: c.querySelector('[data-testid=guidance]')?.textContent ?? '',
        evalTx: c.querySelector('[data-testid=eval-tx]')?.textContent ?? '',
        text: c.textContent ?? '',
      })),
    );
    assert.equal(cards.length, 1);
    const card = cards[0] as NonNullable<(typeof cards)[number]>;
    assert.equal(card.model, 'early-warning');
    // The latest (by reading time) is the table's first row, and the person's own result of that transaction.
    assert.equal(card.tx, shown[0]?.tx);
    assert.equal(card.evalTx, card.tx, 'the evaluation’s transaction is shown');
    const own = rows.find((r) => r.tx === card.tx);
    assert.ok(own, 'the clinician’s latest is one of the person’s results');
    assert.ok(card.label.startsWith(own.label), `"${card.label}" is not "${own.label}"`);
    assert.match(card.level ?? '', /^(normal|low|low-medium|medium|high|critical)$/);
    assert.match(card.guidance, /\(Royal College of Physicians, National Early Warning Score 2/);
    assert.ok(card.text.includes(card.shareTx), 'the share transaction is shown');
    for (const r of rows) labels.add(r.label);
    assert.equal(
      await doctor.getAttribute(`article.person[data-user="${PERSON}"] .grant-line`, 'data-state'),
      'active',
    );
    assert.equal(await doctor.isVisible('#inbox-warnings'), false, 'an item failed its checks');
    assert.equal(await doctor.locator(`article.person[data-user="${PERSON}"] canvas`).count(), 1, 'no trend');
    assert.match((await doctor.textContent('#inbox-note')) ?? '', /^4 results from 1 person/);
    assert.deepEqual(await unlabelled(doctor), []);
    await shot(doctor, 'clinician-3-inbox');

    const [download] = await Promise.all([
      doctor.waitForEvent('download'),
      doctor.click(`.export-fhir[data-user="${PERSON}"]`),
    ]);
    assert.match(download.suggestedFilename(), /\.json$/);
    const bundle = JSON.parse(await readFile((await download.path()) as string, 'utf8')) as {
      resourceType: string;
      entry: { resource: { resourceType: string } }[];
    };
    assert.equal(bundle.resourceType, 'Bundle');
    const kinds = bundle.entry.map((e) => e.resource.resourceType);
    assert.equal(kinds[0], 'Patient');
    assert.equal(kinds.filter((k) => k === 'Observation').length, 4, 'one Observation per shared diagnosis');
    await fitsPhone(doctor, 'clinician-4-inbox-360');
  });

  test('after a revocation (confirmed), later results are not shared and the clinician does not see them', async () => {
    await person.click(`#grant-list .revoke-grant[data-clinician="${CLINICIAN.id}"]`);
    await person.waitForSelector('#confirm-dialog[open]');
    assert.match(
      (await person.textContent('#confirm-title')) ?? '',
      /Revoke the access of Dr W\. Web \(dr-web\)\?/,
    );
    await person.screenshot({ path: join(SCREENS, 'share-2-revoke-confirm.png') });
    // Cancel first: nothing happens.
    await person.click('#confirm-cancel');
    assert.equal(
      await person.getAttribute(`#grant-list li[data-clinician="${CLINICIAN.id}"]`, 'data-state'),
      'active',
    );
    await person.click(`#grant-list .revoke-grant[data-clinician="${CLINICIAN.id}"]`);
    await person.click('#confirm-ok');
    await person.waitForSelector(`#grant-list li[data-clinician="${CLINICIAN.id}"][data-state="revoked"]`, {
      timeout: 60_000,
    });
    assert.equal(await person.locator('.revoke-grant').count(), 0, 'a revoked grant can be revoked');
    assert.match(
      (await person.textContent(`#grant-list li[data-clinician="${CLINICIAN.id}"]`)) ?? '',
      /Revoked .* in transaction [0-9a-f]{64}/,
    );

    const before = (await personRows()).length;
    await stream(2);
    const later = (await personRows()).map((r) => r.tx).filter((tx) => !sharedTxs.includes(tx));
    assert.ok(later.length >= 1, 'no later result');
    assert.equal((await personRows()).length, before + later.length);
    assert.equal(
      await person.getAttribute(`#grant-list li[data-clinician="${CLINICIAN.id}"]`, 'data-shared'),
      String(sharedTxs.length),
      'shared after the revocation',
    );

    await refresh();
    for (const tx of later)
      assert.equal(await doctor.locator(`[data-tx="${tx}"]`).count(), 0, `the clinician sees ${tx}`);
    assert.equal(
      await doctor.getAttribute(`article.person[data-user="${PERSON}"] .grant-line`, 'data-state'),
      'revoked',
    );
    assert.match(
      (await doctor.textContent(`article.person[data-user="${PERSON}"]`)) ?? '',
      /Nothing is shown: the grant has ended/,
    );
    await shot(doctor, 'clinician-5-revoked');
    await fitsPhone(person, 'share-3-revoked-360');
    await fitsPhone(doctor, 'clinician-6-revoked-360');
  });

  test('SECRECY: no request carries the clinician’s or the person’s secret keys, or a shared diagnosis', async () => {
    const clinicianVault = await storedVault(doctor);
    const boxSeed = clinicianVault.clinician?.boxSeed;
    assert.ok(boxSeed, 'the clinician’s vault holds their X25519 seed');
    const boxPrivate = new Uint8Array(
      await hpke.kem.serializePrivateKey((await boxKeyPair(boxSeed)).privateKey),
    );
    const personVault = await storedVault(person);
    const needles = [
      ...encodings(boxSeed),
      ...encodings(boxPrivate),
      ...encodings(clinicianVault.identitySeed),
      ...encodings(personVault.identitySeed),
      ...personVault.subscriptions.flatMap((x) => keyNeedles(x.ckksSecretKey)),
      ...[...labels].map((l) => Buffer.from(l)),
    ];
    assert.ok(labels.size > 0);
    assert.ok(
      requests.some((r) => r.url.endsWith('/v1/shares') && r.body.length > 0),
      'shares were recorded',
    );
    for (const r of requests) {
      const haystack = Buffer.concat([Buffer.from(r.url), Buffer.from(r.headers), r.body]);
      for (const needle of needles) {
        assert.equal(
          haystack.indexOf(needle),
          -1,
          `${r.url} carries a secret (${needle.toString('hex').slice(0, 16)}…)`,
        );
      }
    }
  });

  test('closing the account: explained, the passphrase asked (a wrong one deletes nothing), then back at the first screen', async () => {
    await person.click('#close-panel summary');
    assert.match(
      (await person.textContent('#close-panel')) ?? '',
      /blocks.*unreadable without the keys destroyed here/s,
    );
    await person.fill('#close-passphrase', 'not the passphrase');
    await person.click('#close-account');
    await person.waitForSelector('#error:not([hidden])', { timeout: 60_000 });
    assert.match((await person.textContent('#error')) ?? '', /not closed: Wrong passphrase/);
    await onScreen(person, 'app');
    assert.ok((await storedKeys(person)).includes('vault.cbor'), 'a wrong passphrase deleted the vault');
    await person.locator('#close-panel').screenshot({ path: join(SCREENS, 'close-1-wrong-passphrase.png') });

    await person.fill('#close-passphrase', PASSPHRASE);
    await person.click('#close-account');
    await onScreen(person, 'onboarding');
    assert.match((await person.textContent('#status')) ?? '', new RegExp(`Account "${PERSON}" closed`));
    assert.deepEqual(await storedKeys(person), [], 'the browser keeps something of the account');
    assert.deepEqual(await unlabelled(person), []);
    await shot(person, 'close-2-first-screen');
    // A reload finds no keys: the first screen again.
    await person.reload();
    await onScreen(person, 'onboarding');

    // The grant ended with the account: nothing of the person is left to the clinician.
    await refresh();
    assert.equal(await doctor.locator(`article.person[data-user="${PERSON}"]`).count(), 0);
    assert.deepEqual(problems, []);
  });

  test('a server that enrols: a clinician without a code is told to enter one (the unused keys go); with it they register', async (t) => {
    const enrolling = await startServer({
      dataDir: await tempDir('web-sharing-enrol'),
      port: 0,
      log: false,
      webDir: outDir,
      registration: 'enrolment',
      adminToken: 'operator',
    });
    t.after(() => enrolling.close());
    const context = await browser.newContext({ viewport: { width: 360, height: 780 }, isMobile: true });
    t.after(() => context.close());
    const phone = await context.newPage();
    const create = async (code: string) => {
      await phone.check('#role-clinician');
      await phone.fill('#clinician-id', 'dr-enrolled');
      await phone.fill('#clinician-name', 'Dr E. Rolled');
      await phone.fill('#clinician-enrolment', code);
      await phone.fill('#clinician-passphrase', PASSPHRASE);
      await phone.fill('#clinician-passphrase-confirm', PASSPHRASE);
      await phone.click('#create-clinician');
    };
    await phone.goto(enrolling.url);
    await onScreen(phone, 'onboarding');
    await create('');
    await phone.waitForFunction(
      () => document.body.dataset.screen === 'onboarding' && !document.getElementById('error')?.hidden,
      undefined,
      { timeout: 60_000 },
    );
    assert.match(
      (await phone.textContent('#error')) ?? '',
      /only enrolled clinicians: enter the enrolment code/,
    );
    assert.equal(await phone.isVisible('#clinician-form'), true, 'the clinician’s form is shown again');
    assert.deepEqual(await storedKeys(phone), [], 'the unused keys stayed');
    const issued = await fetch(`${enrolling.url}/v1/enrolments`, {
      method: 'POST',
      headers: { authorization: 'Bearer operator', 'content-type': 'application/json' },
      body: '{}',
    });
    const { token } = (await issued.json()) as { token: string };
    await create(token);
    await phone.waitForFunction(
      () =>
        document.body.dataset.screen === 'clinician' &&
        /registered with the server/.test(document.getElementById('status')?.textContent ?? ''),
      undefined,
      { timeout: 60_000 },
    );
    await fitsPhone(phone, 'clinician-7-enrolled-360');
  });
});
