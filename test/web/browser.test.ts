/**
 * The browser client in a real browser (Debian's Chromium, driven by playwright-core) against
 * the real server on loopback: onboarding to a diagnosis, reload and unlock, a wrong passphrase,
 * exports; every request the page makes is recorded and searched for the secret key and the
 * plaintext readings; every control has a label and the keyboard reaches it. Screenshots of each
 * screen go to test-results/screens/ (CI artifacts).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decode } from 'cborg';
import { type Browser, chromium, type Page, type Request } from 'playwright-core';
import type { HistoryEntry } from '../../src/client/history.ts';
import { SealedStore } from '../../src/client/sealed-store.ts';
import { MemoryStore } from '../../src/client/store.ts';
import { openVault, type VaultContents } from '../../src/client/vault.ts';
import type { Reading } from '../../src/device/reading.ts';
import weights from '../../src/models/chd-risk/weights.json' with { type: 'json' };
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { tempDir } from '../ledger/fixtures.ts';
import { keyNeedles, readingNeedles } from '../secrecy-needles.ts';
import {
  buildWebApp,
  CHROMIUM,
  onScreen as onScreenOf,
  type Recorded,
  recordRequests,
  SCREENS,
  storedVault as storedVaultOf,
  unlabelled as unlabelledOn,
  watchProblems,
} from './harness.ts';

const PASSPHRASE = 'a browser passphrase';

/** Fills the onboarding form for early-warning and creates the keys; `also` fills anything else. */
async function createKeys(page: Page, userId: string, also?: () => Promise<void>): Promise<void> {
  await page.fill('#user-id', userId);
  await page.check('#model-early-warning');
  await also?.();
  await page.fill('#passphrase', PASSPHRASE);
  await page.fill('#passphrase-confirm', PASSPHRASE);
  await page.click('#create');
}

/** The vault as a page stored it, opened with the passphrase the test typed. */
const storedVault = (p: Page): Promise<VaultContents> => storedVaultOf(p, PASSPHRASE);

/** A page's history: CBOR HistoryEntry values, sealed at rest under the vault's key, opened here. */
async function storedHistory(p: Page, vault: VaultContents): Promise<HistoryEntry[]> {
  const history = await p.evaluate(
    () =>
      new Promise<[string, number[]][]>((resolve, reject) => {
        const open = indexedDB.open('pmhe-client');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const store = open.result.transaction('entries').objectStore('entries');
          const range = IDBKeyRange.bound('history/', 'history/\uffff');
          const keys = store.getAllKeys(range);
          const all = store.getAll(range);
          all.onsuccess = () =>
            resolve(
              (all.result as Uint8Array[]).map(
                (b, i) => [String(keys.result[i]), Array.from(b)] as [string, number[]],
              ),
            );
          all.onerror = () => reject(all.error);
        };
      }),
  );
  const atRest = new MemoryStore();
  for (const [key, bytes] of history) {
    assert.equal(Buffer.from(bytes.slice(0, 4)).toString(), 'PMHS', `${key} is not sealed in IndexedDB`);
    await atRest.put(key, Uint8Array.from(bytes));
  }
  const opened = await SealedStore.over(atRest, vault.identitySeed);
  const entries: HistoryEntry[] = [];
  for (const [key] of history) entries.push(decode((await opened.get(key)) as Uint8Array) as HistoryEntry);
  return entries;
}

/**
 * The age a chd-risk result was computed with: its decrypted score is the WCGS linear score
 * (intercept + Σ coefficient·feature), so the score less every other term, over age's coefficient.
 */
function ageBehind(entry: HistoryEntry, profile: Readonly<Record<string, number>>): number {
  const reading = entry.readings.at(-1) as Reading;
  let rest = weights.intercept;
  let perYear = 0;
  weights.features.forEach((f, i) => {
    const c = weights.coefficients[i] as number;
    if ('vital' in f.source) rest += c * reading[f.source.vital as 'y' | 'z'];
    else if (f.source.profile === 'age') perYear = c;
    else rest += c * (profile[f.source.profile] as number);
  });
  return ((entry.q.score?.at(-1) ?? Number.NaN) - rest) / perYear;
}

describe('browser client', {
  skip: !process.env.CI && !existsSync(CHROMIUM) && 'no /usr/bin/chromium',
}, () => {
  let server: RunningServer;
  let browser: Browser;
  let outDir = '';
  let page: Page;
  const requests: Recorded[] = [];
  const problems: string[] = [];

  before(async () => {
    outDir = await buildWebApp('web-dist');
    server = await startServer({ dataDir: await tempDir('web-server'), port: 0, log: false, webDir: outDir });
    await mkdir(SCREENS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    const context = await browser.newContext({
      acceptDownloads: true,
      viewport: { width: 1280, height: 900 },
    });
    recordRequests(context, requests);
    page = await context.newPage();
    watchProblems(page, problems);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const unlabelled = () => unlabelledOn(page);
  const screen = (name: string) => page.screenshot({ path: join(SCREENS, `${name}.png`), fullPage: true });
  const onScreen = (name: string) => onScreenOf(page, name);

  test('onboarding: keys made in the page, labelled controls, the keyboard reaches every one', async () => {
    await page.goto(server.url);
    await onScreen('onboarding');
    await screen('1-onboarding');
    // Every visible control has an accessible name.
    assert.deepEqual(await unlabelled(), []);
    // Tab from the top reaches the user id, the passphrase fields and the create button.
    const reached = new Set<string>();
    await page.locator('body').focus();
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press('Tab');
      reached.add(await page.evaluate(() => document.activeElement?.id ?? ''));
    }
    for (const id of ['user-id', 'passphrase', 'passphrase-confirm', 'create'])
      assert.ok(reached.has(id), `Tab never reaches #${id}`);

    // Registration held at the server's door: no reading source may start meanwhile (readings
    // taken then were refused as from an unknown user, and lost).
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let registering = false;
    await page.route('**/v1/users', async (route) => {
      registering = true;
      await held;
      await route.continue();
    });
    await createKeys(page, 'browser-user');
    for (let i = 0; i < 600 && !registering; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(registering, 'the page never registered');
    assert.equal(await page.isDisabled('#start'), true, 'Start is enabled while registering');
    assert.equal(await page.isDisabled('#csv-file'), true, 'the CSV input is enabled while registering');
    release();
    await page.waitForFunction(
      () => /registered with the server/.test(document.body.textContent ?? ''),
      undefined,
      {
        timeout: 60_000,
      },
    );
    await page.unroute('**/v1/users');
    await onScreen('app');
    assert.equal(await page.isDisabled('#start'), false, 'Start stays disabled after registering');
    await screen('2-app');
  });

  test('a simulated stream to encrypted diagnoses, with the ledger transaction of each', async () => {
    await page.selectOption('#persona', 'sepsis');
    await page.fill('#count', '4');
    await page.click('#start');
    await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length >= 4, undefined, {
      timeout: 120_000,
    });
    const rows = await page.$$eval('#results tbody tr', (trs) =>
      trs.map((tr) => ({
        tx: (tr as HTMLElement).dataset.tx ?? '',
        block: (tr as HTMLElement).dataset.block ?? '',
      })),
    );
    for (const row of rows) {
      assert.match(row.tx, /^[0-9a-f]{64}$/);
      assert.match(row.block, /^\d+$/);
    }
    const diagnosis = await page.textContent('#diagnosis');
    assert.match(diagnosis ?? '', /risk/i);
    assert.match((await page.textContent('#stat-count')) ?? '', /4/);
    assert.deepEqual(await unlabelled(), []);
    await screen('3-diagnosis');
  });

  test('exports: a FHIR Bundle and CSV of the user’s own history', async () => {
    const [fhir] = await Promise.all([page.waitForEvent('download'), page.click('#export-fhir')]);
    const bundle = JSON.parse(await readFile((await fhir.path()) as string, 'utf8')) as {
      resourceType: string;
      entry: { resource: { resourceType: string; code?: { coding?: { code: string }[] } } }[];
    };
    assert.equal(bundle.resourceType, 'Bundle');
    const codes = bundle.entry.flatMap((e) => e.resource.code?.coding?.map((c) => c.code) ?? []);
    for (const loinc of ['8867-4', '9279-1', '85354-9']) assert.ok(codes.includes(loinc), loinc);
    const [csv] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
    assert.match(
      await readFile((await csv.path()) as string, 'utf8'),
      /^time,heart_rate,diastolic,systolic,respiratory_rate/,
    );
  });

  test('an encrypted key backup under another passphrase, and readings from a CSV file', async () => {
    await page.click('#export-backup');
    await page.fill('#backup-passphrase', PASSPHRASE);
    await page.fill('#backup-new-passphrase', 'the backup passphrase');
    await screen('6-backup');
    const [backup] = await Promise.all([page.waitForEvent('download'), page.click('#backup-confirm')]);
    const backupFile = (await backup.path()) as string;
    const restored = await openVault(new Uint8Array(await readFile(backupFile)), 'the backup passphrase');
    assert.equal(restored.userId, 'browser-user');

    // The history follows the keys: another browser (fresh storage) restores the backup and gets
    // the earlier results back from the server, checked and decrypted there.
    const shown = await page.$$eval('#results tbody tr', (trs) =>
      trs.map((tr) => (tr as HTMLElement).dataset.tx),
    );
    const other = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const fresh = await other.newPage();
      await fresh.goto(server.url);
      await fresh.waitForFunction(() => document.body.dataset.screen === 'onboarding', undefined, {
        timeout: 60_000,
      });
      await fresh.click('#restore summary');
      await fresh.setInputFiles('#import-file', backupFile);
      await fresh.fill('#import-passphrase', 'the backup passphrase');
      await fresh.click('#import');
      await fresh.waitForFunction(
        (n) => document.querySelectorAll('#results tbody tr').length >= n,
        shown.length,
        { timeout: 120_000 },
      );
      const rebuilt = await fresh.$$eval('#results tbody tr', (trs) =>
        trs.map((tr) => (tr as HTMLElement).dataset.tx),
      );
      assert.deepEqual([...rebuilt].sort(), [...shown].sort());
      assert.match((await fresh.textContent('[data-testid=measured]')) ?? '', /rebuilt from the server/);
    } finally {
      await other.close();
    }

    const before = await page.$$eval('#results tbody tr', (trs) => trs.length);
    const csv = [
      'time,heart_rate,diastolic,systolic,respiratory_rate',
      '2030-01-01T08:00:00Z,72,78,121,15',
      '2030-01-01T08:15:00Z,75,79,122,16',
      '2030-01-01T08:30:00Z,74,80,123,15',
    ].join('\n');
    await page.setInputFiles('#csv-file', {
      name: 'readings.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(csv),
    });
    await page.waitForFunction(
      (n) => document.querySelectorAll('#results tbody tr').length >= n + 2,
      before,
      {
        timeout: 60_000,
      },
    );
    await onScreen('app');
  });

  test('reload: a wrong passphrase is refused clearly; the right one unlocks the same history', async () => {
    await page.reload();
    await onScreen('unlock');
    await page.fill('#unlock-passphrase', 'not the passphrase');
    await page.click('#unlock');
    await page.waitForSelector('#error:not([hidden])', { timeout: 30_000 });
    assert.match((await page.textContent('#error')) ?? '', /passphrase/i);
    await screen('4-wrong-passphrase');
    await page.fill('#unlock-passphrase', PASSPHRASE);
    await page.click('#unlock');
    await onScreen('app');
    await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length >= 4, undefined, {
      timeout: 30_000,
    });
    await screen('5-unlocked');
  });

  test('Web Bluetooth: standard heart-rate and blood-pressure monitors (simulated GATT notifications) reach a diagnosis', async () => {
    const context = await browser.newContext();
    // A stand-in for navigator.bluetooth whose devices notify Heart Rate Measurement (0x2A37:
    // flags 0, 72 bpm) and Blood Pressure Measurement (0x2A35: mmHg, SFLOAT 121/78, MAP 92).
    // (A string, not a function: tsx would wrap the function's inner names in a helper the page lacks.)
    await context.addInitScript({
      content: `
        const device = (hr) => {
          const characteristic = Object.assign(new EventTarget(), {
            value: undefined,
            async startNotifications() {
              const bytes = hr ? [0x00, 72] : [0x00, 0x79, 0x00, 0x4e, 0x00, 0x5c, 0x00];
              setInterval(() => {
                characteristic.value = new DataView(Uint8Array.from(bytes).buffer);
                characteristic.dispatchEvent(new Event('characteristicvaluechanged'));
              }, 250);
              return characteristic;
            },
          });
          return Object.assign(new EventTarget(), {
            name: hr ? 'test strap' : 'test cuff',
            gatt: {
              connect: async () => ({
                getPrimaryService: async () => ({ getCharacteristic: async () => characteristic }),
              }),
              disconnect() {},
            },
          });
        };
        Object.defineProperty(navigator, 'bluetooth', {
          value: { requestDevice: async (o) => device(o.filters[0].services[0] === 0x180d) },
        });`,
    });
    const bt = await context.newPage();
    try {
      await bt.goto(server.url);
      await bt.waitForFunction(() => document.body.dataset.screen === 'onboarding', undefined, {
        timeout: 30_000,
      });
      await createKeys(bt, 'bluetooth-user');
      await bt.waitForFunction(
        () => document.body.dataset.screen === 'app' && document.body.dataset.busy !== 'true',
        undefined,
        {
          timeout: 60_000,
        },
      );
      await bt.fill('#resp-rate', '15');
      await bt.click('#connect-hr');
      await bt.click('#connect-bp');
      await bt.waitForFunction(() => document.querySelectorAll('#results tbody tr').length >= 1, undefined, {
        timeout: 60_000,
      });
      assert.match((await bt.textContent('#diagnosis')) ?? '', /risk/i);
    } finally {
      await context.close();
    }
  });

  test('Web Bluetooth: a pulse oximeter and a thermometer complete NEWS2 on the page; a breathing rate of 0 raises the alert', async () => {
    const context = await browser.newContext();
    // Devices by service: Heart Rate (72 bpm), Blood Pressure (121/78), Pulse Oximeter (PLX
    // Continuous Measurement 0x2A5F: flags 0, SpO2 SFLOAT 93 %, pulse rate 75) and Health
    // Thermometer (Temperature Measurement 0x2A1C: flags 1 = °F, FLOAT 0xFF0003DA = 98.6 °F).
    await context.addInitScript({
      content: `
        const BYTES = {
          0x180d: [0x00, 72],
          0x1810: [0x00, 0x79, 0x00, 0x4e, 0x00, 0x5c, 0x00],
          0x1822: [0x00, 0x5d, 0x00, 0x4b, 0x00],
          0x1809: [0x01, 0xda, 0x03, 0x00, 0xff],
        };
        const device = (service) => {
          const characteristic = Object.assign(new EventTarget(), {
            value: undefined,
            async startNotifications() {
              setInterval(() => {
                characteristic.value = new DataView(Uint8Array.from(BYTES[service]).buffer);
                characteristic.dispatchEvent(new Event('characteristicvaluechanged'));
              }, 250);
              return characteristic;
            },
          });
          return Object.assign(new EventTarget(), {
            name: 'test device ' + service.toString(16),
            gatt: {
              connect: async () => ({
                getPrimaryService: async () => ({ getCharacteristic: async () => characteristic }),
              }),
              disconnect() {},
            },
          });
        };
        Object.defineProperty(navigator, 'bluetooth', {
          value: { requestDevice: async (o) => device(o.filters[0].services[0]) },
        });`,
    });
    const bodies: Buffer[] = [];
    context.on('request', (request: Request) => bodies.push(request.postDataBuffer() ?? Buffer.alloc(0)));
    const bt = await context.newPage();
    try {
      await bt.goto(server.url);
      await bt.waitForFunction(() => document.body.dataset.screen === 'onboarding', undefined, {
        timeout: 30_000,
      });
      await createKeys(bt, 'oximeter-user', async () =>
        assert.equal(await bt.isVisible('#spo2-scale-2'), true),
      );
      await bt.waitForFunction(
        () => document.body.dataset.screen === 'app' && document.body.dataset.busy !== 'true',
        undefined,
        { timeout: 60_000 },
      );
      await bt.fill('#resp-rate', '15');
      await bt.selectOption('#oxygen', 'air');
      await bt.selectOption('#consciousness', 'alert');
      await bt.click('#connect-spo2');
      await bt.click('#connect-temp');
      await bt.waitForFunction(
        () =>
          (document.querySelector<HTMLInputElement>('#spo2')?.value ?? '') !== '' &&
          (document.querySelector<HTMLInputElement>('#temperature')?.value ?? '') !== '',
        undefined,
        { timeout: 30_000 },
      );
      assert.equal(await bt.inputValue('#spo2'), '93');
      assert.equal(await bt.inputValue('#temperature'), '37'); // 98.6 °F
      await bt.click('#connect-bp'); // heart rate from the oximeter's pulse rate
      // RR 15, SBP 121, pulse 75 (0 + 0 + 0, encrypted); SpO2 93 on scale 1 (2), air, alert, 37 °C.
      await bt.waitForFunction(
        () => document.querySelector('#diagnosis h3')?.textContent?.startsWith('NEWS2: low clinical risk'),
        undefined,
        { timeout: 60_000 },
      );
      assert.match((await bt.textContent('#diagnosis')) ?? '', /total 2 \(decrypted 0 \+ 2\)/);
      // No breathing: the reading is not sent and the alert box says why.
      assert.equal(await bt.isVisible('#alert'), false);
      await bt.fill('#resp-rate', '0');
      await bt.waitForFunction(() => !document.querySelector('#alert')?.hasAttribute('hidden'), undefined, {
        timeout: 30_000,
      });
      assert.match(
        (await bt.textContent('#alert')) ?? '',
        /no breathing detected: check the sensor \(respiratory rate 0 breaths\/min\)/,
      );
      for (const needle of ['spo2', 'temperature', 'consciousness', 'alert', 'oxygen'])
        assert.ok(!bodies.some((b) => b.includes(needle)), `a request carries "${needle}"`);
      assert.ok(
        bodies.some((b) => b.length > 10_000),
        'encrypted uploads were seen',
      );
    } finally {
      await context.close();
    }
  });

  test('SECRECY: no request carries the secret key or a plaintext reading', async () => {
    const vault = await storedVault(page);
    const readings = (await storedHistory(page, vault)).flatMap((e) => e.readings);
    assert.ok(readings.length >= 4, `readings in the history: ${readings.length}`);
    assert.ok(
      requests.some((r) => r.url.endsWith('/v1/submissions') && r.body.length > 10_000),
      'uploads were recorded',
    );

    const needles = [
      ...vault.subscriptions.flatMap((x) => keyNeedles(x.ckksSecretKey)),
      ...keyNeedles(vault.identitySeed).slice(0, 5),
    ];
    for (const r of readings) {
      for (const value of [r.x, r.y, r.z, r.w]) {
        // Decimal text only when it is long enough not to turn up by chance in binary bodies.
        const needles_ = readingNeedles(value);
        needles.push(...(String(value).length >= 4 ? needles_ : needles_.slice(1)));
      }
      needles.push(Buffer.from(`${r.x},${r.y},${r.z},${r.w}`), Buffer.from(`"x":${r.x},"y":${r.y}`));
    }
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
    assert.deepEqual(problems, []);
  });

  test('enrolment, on a phone: without a code the person is told to enter the one from their care team; with it they register; a second model is added and removed in the page', async (t) => {
    const enrolling = await startServer({
      dataDir: await tempDir('web-enrol'),
      port: 0,
      log: false,
      webDir: outDir,
      registration: 'enrolment',
      adminToken: 'operator',
    });
    t.after(() => enrolling.close());
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    t.after(() => context.close());
    const phone = await context.newPage();
    const onboard = (code: string) =>
      createKeys(phone, 'enrolled-user', () => phone.fill('#enrolment', code));
    await phone.goto(enrolling.url);
    await phone.waitForFunction(() => document.body.dataset.screen === 'onboarding');
    await onboard('');
    await phone.waitForFunction(
      () => document.body.dataset.screen === 'onboarding' && !document.getElementById('error')?.hidden,
      undefined,
      { timeout: 60_000 },
    );
    assert.match(
      (await phone.textContent('#error')) ?? '',
      /enrolled by their care team: enter the enrolment code/,
    );
    await phone.screenshot({ path: join(SCREENS, 'enrolment-required-390.png'), fullPage: true });
    const issued = await fetch(`${enrolling.url}/v1/enrolments`, {
      method: 'POST',
      headers: { authorization: 'Bearer operator', 'content-type': 'application/json' },
      body: '{}',
    });
    const { token } = (await issued.json()) as { token: string };
    await onboard(token);
    await phone.waitForFunction(
      () =>
        document.body.dataset.screen === 'app' &&
        /registered with the server/.test(document.body.textContent ?? ''),
      undefined,
      { timeout: 60_000 },
    );

    // Phone-first: results on the phone, the latest diagnosis first, nothing wider than the screen.
    await phone.selectOption('#persona', 'sepsis');
    await phone.fill('#count', '3');
    await phone.click('#start');
    await phone.waitForFunction(() => document.querySelectorAll('#results tbody tr').length >= 3, undefined, {
      timeout: 120_000,
    });
    await phone.evaluate(() => window.scrollTo(0, 0));
    const layout = await phone.evaluate(() => ({
      diagnosis: document.getElementById('diagnosis-title')?.getBoundingClientRect().top ?? Number.NaN,
      source: document.getElementById('source-title')?.getBoundingClientRect().top ?? Number.NaN,
      guidance: document.querySelector('[data-testid=guidance]')?.textContent ?? '',
      measured: document.querySelector('[data-testid=measured]')?.textContent ?? '',
      notice: document.getElementById('notice')?.textContent ?? '',
      utc: /UTC/.test(document.getElementById('app')?.textContent ?? ''),
    }));
    assert.ok(layout.diagnosis < layout.source, 'the latest diagnosis comes after the reading controls');
    assert.ok(layout.diagnosis < 844, 'the latest diagnosis is not on the first screen');
    assert.match(layout.guidance, /\(Royal College of Physicians, National Early Warning Score 2 \(2017\)/);
    assert.match(
      layout.measured,
      /^Measured: heart rate \d+\/min, blood pressure \d+\/\d+ mmHg, breathing \d+\/min$/,
    );
    assert.match(layout.notice, /not a medical device/);
    assert.equal(layout.utc, false, 'times in UTC beside local times');
    // Jargon one click away: no preset or layout in the line people read.
    assert.doesNotMatch((await phone.textContent('#account')) ?? '', /secure-\d+|packed|batch/);
    const fits = async () => {
      for (const width of [360, 390, 414]) {
        await phone.setViewportSize({ width, height: 844 });
        const wide = await phone.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(wide <= width, `the page is ${wide} px wide on a ${width} px screen`);
      }
      await phone.setViewportSize({ width: 390, height: 844 });
      await phone.evaluate(() => window.scrollTo(0, 0));
    };
    await fits();
    await phone.screenshot({ path: join(SCREENS, 'phone-diagnosis-390.png') });

    // A second model, added in the page (its profile asked there, the passphrase to seal its key).
    const rows = (model: string) =>
      phone.$$eval(`#results tbody tr[data-model="${model}"]`, (trs) => trs.length);
    const cards = () =>
      phone.$$eval('#diagnosis .diagnosis', (cs) =>
        cs.map((c) => [(c as HTMLElement).dataset.model, c.querySelector('h3')?.textContent ?? '']),
      );
    /** Simulated readings until the stream ends (every result in, or timed out). */
    const streamed = async (count: number) => {
      await phone.fill('#count', String(count));
      await phone.click('#start');
      await phone.waitForFunction(
        () => !document.querySelector<HTMLButtonElement>('#start')?.disabled,
        undefined,
        {
          timeout: 180_000,
        },
      );
    };
    const changeModels = async (click: string, models: number, shot?: string) => {
      await phone.click(click);
      await phone.fill('#vault-passphrase', PASSPHRASE);
      if (shot) await phone.screenshot({ path: join(SCREENS, `${shot}.png`) });
      await phone.click('#vault-confirm');
      await phone.waitForFunction(
        (n) =>
          document.querySelectorAll('#model-list li').length === n &&
          !document.querySelector('#vault-dialog')?.hasAttribute('open'),
        models,
        { timeout: 120_000 },
      );
    };
    await phone.click('#models-summary');
    assert.equal(await phone.isDisabled('#model-list .remove-model'), true, 'the only model can be removed');
    assert.equal(await phone.isVisible('#add-age'), false);
    await phone.selectOption('#add-model', 'chd-risk');
    assert.equal(await phone.isVisible('#add-age'), true, 'chd-risk does not ask for the profile');
    await phone.fill('#add-age', '61');
    await phone.locator('#models-panel').screenshot({ path: join(SCREENS, 'phone-add-model-390.png') });
    await changeModels('#add-model-button', 2);
    assert.match((await phone.textContent('#models-summary')) ?? '', /Early warning.*Coronary heart disease/);
    const news2 = await rows('early-warning');
    await streamed(2);
    const added = await rows('chd-risk');
    assert.ok(added >= 1, 'no result from the added model');
    assert.equal(await rows('early-warning'), news2 + added, 'the models did not get the same readings');
    const both = await cards();
    assert.deepEqual(
      both.map(([m]) => m),
      ['early-warning', 'chd-risk'],
    );
    assert.match(both[0]?.[1] ?? '', /NEWS2/);
    assert.match(both[1]?.[1] ?? '', /CHD risk/);
    await phone.click('#models-summary'); // closed again: the cards come first
    await fits();
    await phone.screenshot({ path: join(SCREENS, 'phone-two-models-390.png') });

    // The profile, edited in the page: shown in plain words; an age out of range is refused in the
    // passphrase dialog naming the field and its range (nothing saved); a valid one is sealed.
    const madeWith61 = await phone.$$eval('#results tbody tr[data-model="chd-risk"]', (trs) =>
      trs.map((tr) => (tr as HTMLElement).dataset.tx ?? ''),
    );
    const profileShown = async () => (await phone.textContent('#profile-values')) ?? '';
    await phone.click('#profile-summary');
    assert.match(await profileShown(), /Age\s*61 years/);
    assert.match(await profileShown(), /Smoker\s*no/);
    assert.match(await profileShown(), /NEWS2 SpO2 scale\s*1/); // early-warning is followed
    await phone.click('#profile-edit');
    assert.equal(await phone.inputValue('#profile-age'), '61');
    assert.equal(await phone.isVisible('#profile-spo2-scale-2'), true);
    await fits(); // the editor open: its inputs fit too
    const saveAge = async (age: string) => {
      await phone.fill('#profile-age', age);
      await phone.click('#profile-save');
      await phone.fill('#vault-passphrase', PASSPHRASE);
      await phone.click('#vault-confirm');
    };
    await saveAge('500');
    await phone.waitForSelector('#vault-error:not([hidden])', { timeout: 30_000 });
    assert.match((await phone.textContent('#vault-error')) ?? '', /Nothing was saved: .*age.*\[18, 110\]/);
    await phone.screenshot({ path: join(SCREENS, 'phone-profile-refused-390.png') });
    await phone.click('#vault-cancel');
    assert.match(await profileShown(), /Age\s*61 years/);
    await saveAge('70');
    await phone.waitForFunction(
      () =>
        !document.querySelector('#vault-dialog')?.hasAttribute('open') &&
        /Age\s*70 years/.test(document.getElementById('profile-values')?.textContent ?? ''),
      undefined,
      { timeout: 60_000 },
    );
    assert.equal(await phone.isVisible('#profile-form'), false);
    assert.match(
      (await phone.textContent('#profile-note')) ?? '',
      /used for readings from now on; results already made keep theirs/,
    );
    await fits();
    await phone.locator('#profile-panel').screenshot({ path: join(SCREENS, 'phone-profile-saved-390.png') });
    await phone.click('#profile-summary'); // closed again
    await phone.click('#models-summary');

    // The first model removed: one left, which alone gets the next reading.
    await changeModels(
      '#model-list li[data-model="early-warning"] .remove-model',
      1,
      'phone-remove-model-390',
    );
    assert.equal(await phone.isDisabled('#model-list .remove-model'), true);
    assert.deepEqual(
      (await cards()).map(([m]) => m),
      ['chd-risk'],
    );
    const [earlier, chd] = [await rows('early-warning'), await rows('chd-risk')];
    await streamed(2);
    assert.ok((await rows('chd-risk')) > chd, 'no result from the model kept');
    assert.equal(await rows('early-warning'), earlier, 'a result from the model removed');
    assert.match((await cards())[0]?.[1] ?? '', /CHD risk/);
    await fits();
    assert.deepEqual(
      await phone.$$eval('#model-list li', (li) => li.map((x) => (x as HTMLElement).dataset.model)),
      ['chd-risk'],
    );

    // The sealed vault holds the new age (what the next unlock reads), and each chd-risk result
    // was computed with the age of its time: 61 before the edit, 70 from the next reading on.
    const sealed = await storedVault(phone);
    assert.equal(sealed.profile?.age, 70);
    const chdResults = (await storedHistory(phone, sealed)).filter((e) => e.modelId === 'chd-risk');
    assert.ok(
      chdResults.some((e) => !madeWith61.includes(e.txId)),
      'no chd-risk result after the edit',
    );
    for (const entry of chdResults) {
      const age = madeWith61.includes(entry.txId) ? 61 : 70;
      const behind = ageBehind(entry, sealed.profile ?? {});
      assert.ok(Math.abs(behind - age) < 1, `a result computed with age ${behind.toFixed(2)}, not ${age}`);
    }
  });
});
