/**
 * The client end to end over real loopback HTTP, with the real server, embedded ledger and
 * PGlite: a user's day from init to diagnosis, the server restarted mid-stream, a lost
 * acknowledgement, a wrong passphrase, a corrupted vault, a tampered result, a reading outside
 * physiological range.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiError } from '../../src/client/api-client.ts';
import { ModelChoiceError, PmheClient } from '../../src/client/app.ts';
import { toCsv, toFhirBundle } from '../../src/client/export.ts';
import { FolderStore } from '../../src/client/node/folder-store.ts';
import { ResultError } from '../../src/client/results.ts';
import { exportBackup, FAST_KDF_FOR_TESTS, importBackup, VaultError } from '../../src/client/vault.ts';
import { type Reading, simulatePerson } from '../../src/device/index.ts';
import { finishedRows, runClear, tupleVectors } from '../../src/models/runtime.ts';
import type { ApiResult } from '../../src/protocol/api.ts';
import { fromBase64, sha256Hex, toBase64 } from '../../src/protocol/bytes.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { tempDir } from '../ledger/fixtures.ts';

const PASSPHRASE = 'correct horse battery staple';

describe('client end to end', () => {
  let server: RunningServer;
  let dataDir: string;
  let port: number;

  const start = async () => {
    server = await startServer({ dataDir, port, log: false });
    port = Number(new URL(server.url).port);
  };

  before(async () => {
    dataDir = await tempDir('client-e2e');
    port = 0;
    await start();
  });
  after(() => server.close());

  const init = async (
    userId: string,
    options: { fetch?: typeof fetch; layout?: 'packed' | 'batch' } = {},
  ) => {
    const store = new FolderStore(await tempDir(`client-${userId}`));
    const client = await PmheClient.init(store, {
      userId,
      modelId: 'early-warning',
      layout: options.layout ?? 'packed',
      passphrase: PASSPHRASE,
      server: server.url,
      kdf: FAST_KDF_FOR_TESTS,
      outbox: { backoff: { baseMs: 10, maxMs: 50 } },
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    return { store, client };
  };

  test("a user's day from init to diagnosis; a reading outside physiological range is filtered and reported", async () => {
    const { store, client } = await init('dana');
    await client.register();
    client[Symbol.dispose]();
    // Unlocked again from the vault, as the app would after a restart.
    using dana = await PmheClient.open(store, PASSPHRASE);
    const readings = simulatePerson({ persona: 'sepsis', seed: 3, days: 1 }).slice(-8);
    const impossible = { ...readings[3], time: (readings[3]?.time ?? 0) + 60_000, x: 400 };
    const queued = await dana.queue(
      [...readings, impossible as (typeof readings)[number]].sort((a, b) => a.time - b.time),
    );
    assert.equal(queued.report.received, 9);
    assert.equal(queued.report.kept, 8);
    assert.equal(queued.report.rejected['out-of-range'], 1);
    assert.match(queued.report.rejections[0]?.message ?? '', /heart rate/);
    assert.equal(queued.items.length, 8);
    const flushed = await dana.flush();
    assert.deepEqual([flushed.sent, flushed.failed, flushed.waiting], [8, 0, 0]);
    const entries = await dana.collect({ timeoutMs: 60_000 });
    assert.equal(entries.length, 8);
    assert.equal((await dana.history.list()).length, 8);
    assert.equal((await dana.outbox.items()).length, 0);
    // At rest the history is sealed under the vault's key: the folder shows no reading or label.
    const files = await store.keys('history/');
    assert.equal(files.length, 8);
    for (const key of files) {
      const onDisk = Buffer.from((await store.get(key)) as Uint8Array);
      assert.equal(onDisk.subarray(0, 4).toString(), 'PMHS', key);
      assert.ok(
        !onDisk.includes('clinical risk') && !onDisk.includes('diagnosis'),
        `${key} readable on disk`,
      );
    }
    for (const entry of entries) {
      const { plan } = dana.user;
      const clear = finishedRows(
        plan,
        runClear(plan, tupleVectors(plan, entry.readings, {})),
        1,
      )[0] as Record<string, number>;
      for (const [name, value] of Object.entries(clear)) {
        assert.ok(
          Math.abs((entry.values[name] as number) - value) < 0.05,
          `${name}: ${entry.values[name]} vs ${value}`,
        );
      }
      assert.match(entry.txId, /^[0-9a-f]{64}$/);
      assert.ok(entry.diagnosis.label.length > 0);
      assert.ok(entry.uploadedBytes > 0 && entry.latencyMs >= 0);
    }
  });

  test('readings taken before registration wait for it, and then all go; a refused upload is shown with its reason, retried or discarded', async () => {
    const { client } = await init('ines');
    using erin = client;
    const readings = simulatePerson({ persona: 'healthy', seed: 5, days: 1 }).slice(-3);
    await erin.queue(readings);
    // The browser's Start and the CLI's submit both could run before registration finished.
    const early = await erin.flush();
    assert.deepEqual([early.sent, early.failed, early.waiting], [0, 0, 3]);
    assert.equal(early.unregistered, true);
    assert.equal(early.nextAttemptAt, undefined, 'no retry timer spins while unregistered');
    assert.match(early.error ?? '', /register/);
    assert.deepEqual(
      (await erin.outbox.items()).map((i) => [i.state, i.attempts]),
      [
        ['pending', 0],
        ['pending', 0],
        ['pending', 0],
      ],
    );
    await erin.register();
    const sent = await erin.flush();
    assert.deepEqual([sent.sent, sent.failed, sent.waiting], [3, 0, 0]);
    assert.equal((await erin.collect({ timeoutMs: 60_000 })).length, 3);

    // An item refused for good (here: an envelope damaged on the device) is kept with its reason.
    const [bad] = (await erin.queue(simulatePerson({ persona: 'healthy', seed: 6, days: 1 }).slice(-1)))
      .items;
    assert.ok(bad);
    const damaged = { ...bad, envelope: bad.envelope.slice(0, -40) };
    await erin.outbox.refused(damaged, 'BAD_ENVELOPE: damaged on the device');
    const failed = await erin.outbox.select();
    assert.deepEqual(
      failed.map((i) => [i.id, i.state, i.lastError]),
      [[bad.id, 'failed', 'BAD_ENVELOPE: damaged on the device']],
    );
    assert.deepEqual(
      (await erin.outbox.select([bad.id.slice(0, 8)])).map((i) => i.id),
      [bad.id],
    );
    await assert.rejects(erin.outbox.select(['abc']), /at least 6 characters/);
    await assert.rejects(erin.outbox.select(['ffffffffff']), /no upload ffffffffff/);
    // Retried: back in line and sent again; the server refuses the damaged envelope again, with a reason.
    assert.equal(await erin.outbox.retry(failed), 1);
    assert.deepEqual(
      (await erin.outbox.items()).map((i) => [i.state, i.attempts]),
      [['pending', 0]],
    );
    const again = await erin.flush();
    assert.deepEqual([again.sent, again.failed], [0, 1]);
    const [refused] = await erin.outbox.items('failed');
    assert.match(refused?.lastError ?? '', /^[A-Z_]+: /);
    // Discarded: gone, and nothing else with it.
    assert.equal(await erin.outbox.discard([refused as NonNullable<typeof refused>]), 1);
    assert.deepEqual(await erin.outbox.items(), []);
    assert.equal((await erin.history.list()).length, 3);
  });

  test('keys restored on a new device: the history comes back from the server, checked and decrypted; exports still work', async () => {
    const { store, client } = await init('frank');
    using frank = client;
    await frank.register();
    await frank.queue(simulatePerson({ persona: 'sepsis', seed: 9, days: 1 }).slice(-4));
    assert.equal((await frank.flush()).sent, 4);
    const original = await frank.collect({ timeoutMs: 60_000 });
    assert.equal(original.length, 4);

    const backup = await exportBackup(store, PASSPHRASE);
    const device = new FolderStore(await tempDir('client-frank-new'));
    await importBackup(device, backup, PASSPHRASE);
    using restored = await PmheClient.open(device, PASSPHRASE, { server: server.url });
    assert.deepEqual(await restored.history.list(), []);
    const report = await restored.restoreHistory();
    assert.deepEqual(report, { restored: 4, batch: 0, refused: [] });
    const rebuilt = await restored.history.list();
    const byResult = new Map(original.map((e) => [e.resultId, e]));
    for (const e of rebuilt) {
      const o = byResult.get(e.resultId);
      assert.ok(o, `result ${e.resultId} was not one of frank's`);
      assert.equal(e.restored, true);
      assert.deepEqual(e.readings, []);
      assert.equal(e.txId, o.txId);
      // Without SpO2 and temperature (they never left the old device) NEWS2 is the partial one.
      for (const [name, value] of Object.entries(o.values))
        assert.ok(Math.abs((e.values[name] as number) - value) < 1e-6, `${name}`);
      // The same NEWS2 risk; qSOFA, read from the clear reading, needs the reading that stayed behind.
      assert.ok(
        o.diagnosis.label.startsWith(e.diagnosis.label),
        `${e.diagnosis.label} / ${o.diagnosis.label}`,
      );
      assert.doesNotMatch(e.diagnosis.label, /qSOFA/);
      // At the ledger's time of the evaluation: before the original was decrypted, not long before.
      assert.ok(
        e.recordedAt !== undefined && e.recordedAt <= o.decryptedAt && e.recordedAt > o.decryptedAt - 120_000,
        `recordedAt ${e.recordedAt}, decrypted ${o.decryptedAt}`,
      );
    }
    // Once: a second restore adds nothing.
    assert.deepEqual(await restored.restoreHistory(), { restored: 0, batch: 0, refused: [] });
    // Exports: the FHIR Bundle has every rebuilt diagnosis at its ledger time; the CSV says where they are.
    const bundle = toFhirBundle(rebuilt, { userId: 'frank' });
    const diagnoses = (bundle.entry ?? []).filter((x) => x.resource && 'valueString' in x.resource);
    assert.equal(diagnoses.length, 4);
    assert.match(toCsv(rebuilt), /# 4 result\(s\) rebuilt after a restore have no readings here/);
  });

  test('the full NEWS2: observations beside the readings are scored on this device and never sent; no breathing is raised', async () => {
    const bodies: string[] = [];
    const watching: typeof fetch = async (input, init) => {
      const body = init?.body;
      if (body instanceof Uint8Array) bodies.push(Buffer.from(body).toString('latin1'));
      else if (typeof body === 'string') bodies.push(body);
      return fetch(input, init);
    };
    using fay = await PmheClient.init(new FolderStore(await tempDir('client-fay')), {
      userId: 'fay',
      modelId: 'early-warning',
      layout: 'packed',
      passphrase: PASSPHRASE,
      server: server.url,
      kdf: FAST_KDF_FOR_TESTS,
      profile: { spo2Scale: 2 },
      fetch: watching,
    });
    await fay.register();
    const t0 = Date.UTC(2026, 10, 25, 8);
    const queued = await fay.queue([
      { time: t0, x: 72, y: 78, z: 121, w: 15 },
      {
        time: t0 + 900_000,
        x: 118,
        y: 60,
        z: 96,
        w: 26,
        spo2: 93,
        oxygen: true,
        consciousness: 'confusion',
        temperature: 39.3,
      },
      { time: t0 + 1_800_000, x: 120, y: 60, z: 95, w: 0 },
    ]);
    assert.equal(queued.items.length, 2);
    assert.equal(queued.report.rejected['no-breathing'], 1);
    assert.deepEqual(
      queued.report.alerts.map((a) => a.message),
      [
        'reading 2 at 2026-11-25T08:30:00.000Z: no breathing detected: check the sensor (respiratory rate 0 breaths/min)',
      ],
    );
    await fay.flush();
    const entries = (await fay.collect({ timeoutMs: 60_000 })).sort(
      (a, b) => (a.readings[0]?.time ?? 0) - (b.readings[0]?.time ?? 0),
    );
    assert.equal(entries.length, 2);
    assert.equal(entries[0]?.diagnosis.label, 'partial NEWS2 (3 of 7 parameters): low clinical risk');
    // RR 26, SBP 96, HR 118 encrypted: 3 + 2 + 2; on this device, SpO2 93 on oxygen on scale 2 (the
    // profile's): 1, oxygen 2, new confusion 3, 39.3 °C 2.
    const full = entries[1];
    assert.equal(full?.diagnosis.label, 'NEWS2: high clinical risk; qSOFA positive (3 of 3 criteria)');
    assert.match(full?.diagnosis.findings.join('\n') ?? '', /total 15 \(decrypted 7 \+ 8\)/);
    // Kept in the local history, never in a request.
    assert.equal(full?.readings[0]?.consciousness, 'confusion');
    assert.ok(bodies.length > 0);
    for (const body of bodies) {
      for (const needle of ['spo2', 'temperature', 'consciousness', 'confusion', 'oxygen'])
        assert.ok(!body.includes(needle), `a request carries "${needle}"`);
    }
  });

  test('the server restarted in the middle of a stream, and a lost acknowledgement: nothing lost, nothing twice', async () => {
    let dropNextAck = true;
    const lossy: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (dropNextAck && init?.method === 'POST' && String(input).endsWith('/v1/submissions')) {
        dropNextAck = false;
        await res.arrayBuffer();
        throw new TypeError('fetch failed', {
          cause: new Error('connection reset after the request was sent'),
        });
      }
      return res;
    };
    const { client } = await init('erin', { fetch: lossy });
    using erin = client;
    await erin.register();
    const readings = simulatePerson({ persona: 'healthy', seed: 4, days: 1 }).slice(0, 12);
    await erin.queue(readings.slice(0, 6));
    // The server took the first upload but its answer was lost: retried, then found by id.
    const lost = await erin.flush();
    assert.equal(lost.waiting, 6);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal((await erin.flush()).sent, 6);

    await server.close();
    await erin.queue(readings.slice(6));
    const down = await erin.flush();
    assert.deepEqual([down.sent, down.waiting], [0, 6]);
    assert.match(down.error ?? '', /could not be reached/);
    await start();
    await new Promise((r) => setTimeout(r, 60));
    assert.equal((await erin.flush()).sent, 6);

    const entries = await erin.collect({ timeoutMs: 60_000 });
    assert.equal((await erin.history.list()).length, 12);
    assert.ok(entries.length === 12);
    const onServer = await erin.api.results({ limit: 500 });
    assert.equal(onServer.length, 12, 'every reading committed exactly once');
    assert.equal(new Set(onServer.map((r) => r.submissionId)).size, 12);
  });

  test("an envelope older than the server's window is signed again, once the server confirms it never took it", async () => {
    const { client } = await init('hana');
    using hana = client;
    await hana.register();
    const reading = simulatePerson({ persona: 'healthy', seed: 6, days: 1 })[0] as Reading;
    const stale = await hana.user.uploadOf(hana.user.encrypt([reading]), Date.now() - 10 * 60_000);
    const [queued] = await hana.outbox.add([{ ...stale, readings: [reading], readAt: Date.now() }]);
    assert.deepEqual((await hana.flush()).sent, 1);
    const [sent] = await hana.outbox.items('sent');
    assert.ok(sent && queued && sent.id !== queued.id, 'signed again: a new envelope, a new id');
    assert.equal((await hana.collect({ timeoutMs: 20_000 })).length, 1);
    assert.deepEqual(
      (await hana.api.results()).map((r) => r.submissionId),
      [sent.id],
    );
  });

  test('a wrong passphrase and a corrupted vault: clear errors, nothing destroyed', async () => {
    const { store, client } = await init('finn');
    client[Symbol.dispose]();
    const before = await store.get('vault.cbor');
    await assert.rejects(
      PmheClient.open(store, 'not the passphrase'),
      (e: unknown) => e instanceof VaultError && e.code === 'WRONG_PASSPHRASE',
    );
    assert.deepEqual(await store.get('vault.cbor'), before);
    const damaged = new Uint8Array(before as Uint8Array);
    damaged[damaged.length >> 1] = (damaged[damaged.length >> 1] as number) ^ 0x01;
    await store.put('vault.cbor', damaged);
    await assert.rejects(
      PmheClient.open(store, PASSPHRASE),
      (e: unknown) => e instanceof VaultError && e.code === 'CORRUPT',
    );
    assert.deepEqual(await store.get('vault.cbor'), damaged);
    await store.put('vault.cbor', before as Uint8Array);
    (await PmheClient.open(store, PASSPHRASE))[Symbol.dispose]();
  });

  test('a result tampered with on the way is detected, never diagnosed', async () => {
    let tamper: ((r: ApiResult) => ApiResult) | undefined;
    const middle: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!tamper || !/\/v1\/results\/[0-9a-f]{64}$/.test(String(input))) return res;
      const body = tamper((await res.json()) as ApiResult);
      return new Response(JSON.stringify(body), { status: res.status, headers: res.headers });
    };
    const { client } = await init('gus', { fetch: middle });
    using gus = client;
    await gus.register();
    const [reading] = simulatePerson({ persona: 'healthy', seed: 5, days: 1 });
    await gus.queue([reading as NonNullable<typeof reading>]);
    await gus.flush();

    const flip = (b64: string, at: number) => {
      const bytes = fromBase64(b64);
      bytes[at] = (bytes[at] as number) ^ 0xff;
      return toBase64(bytes);
    };
    const cases: [string, (r: ApiResult) => ApiResult, RegExp][] = [
      [
        'a ciphertext altered',
        (r) => ({ ...r, z: Object.fromEntries(Object.entries(r.z).map(([k, v]) => [k, flip(v, 200)])) }),
        /TAMPERED.*does not hash/,
      ],
      [
        'a ciphertext altered and its id recomputed',
        (r) => {
          const z: Record<string, string> = {};
          const rename = new Map<string, string>();
          for (const [k, v] of Object.entries(r.z)) {
            const altered = flip(v, v.length >> 2);
            const id = sha256Hex(fromBase64(altered));
            rename.set(k, id);
            z[id] = altered;
          }
          return { ...r, z, outputs: r.outputs.map((o) => ({ ...o, blob: rename.get(o.blob) ?? o.blob })) };
        },
        /TAMPERED/,
      ],
      ['another submission’s result', (r) => ({ ...r, submissionId: '0'.repeat(64) }), /FOREIGN/],
    ];
    for (const [what, change, expected] of cases) {
      tamper = change;
      await assert.rejects(
        gus.collect({ timeoutMs: 20_000 }),
        (e: unknown) => e instanceof ResultError && expected.test(e.message),
        what,
      );
      assert.equal((await gus.history.list()).length, 0, `${what}: nothing diagnosed`);
    }
    tamper = undefined;
    assert.equal((await gus.collect({ timeoutMs: 20_000 })).length, 1);
  });
  test('several models under one identity: added, registered, evaluated each with its own keys, removed', async () => {
    const { store, client } = await init('mia');
    using mia = client;
    await mia.register();
    // chd-risk reads a profile: refused without it, naming the field.
    await assert.rejects(mia.addModel('chd-risk', 'packed', PASSPHRASE), /profile\.age/);
    await assert.rejects(mia.addModel('early-warning', 'packed', PASSPHRASE), ModelChoiceError);
    const profile = { age: 52, bmi: 27, cholesterol: 210, smoker: 0 };
    const chd = await mia.addModel('chd-risk', 'packed', PASSPHRASE, profile);
    assert.deepEqual(mia.models, ['early-warning', 'chd-risk']);
    assert.deepEqual(chd.publicKey, mia.user.publicKey, 'one identity');
    assert.notDeepEqual(chd.exportSecretKey(), mia.user.exportSecretKey(), 'each model its own CKKS key');
    // Queued before chd-risk is registered: its uploads wait (409 NOT_SUBSCRIBED), early warning's go.
    const readings = simulatePerson({ persona: 'healthy', seed: 8, days: 1 }).slice(-2);
    const queued = await mia.queue(readings);
    assert.deepEqual(queued.items.map((i) => i.modelId).sort(), [
      'chd-risk',
      'chd-risk',
      'early-warning',
      'early-warning',
    ]);
    const first = await mia.flush();
    assert.deepEqual([first.sent, first.failed, first.waiting], [2, 0, 2]);
    assert.deepEqual(first.unregisteredModels, ['chd-risk']);
    for (const item of await mia.outbox.items('pending')) assert.equal(item.attempts, 0);
    assert.deepEqual(
      (await mia.register(undefined, ['chd-risk'])).map((r) => r.modelId),
      ['chd-risk'],
    );
    assert.equal((await mia.flush()).sent, 2);
    const entries = await mia.collect({ timeoutMs: 60_000 });
    assert.deepEqual(entries.map((e) => e.modelId).sort(), [
      'chd-risk',
      'chd-risk',
      'early-warning',
      'early-warning',
    ]);
    // Each result decrypted with its own model's key matches the clear model on the same readings.
    for (const entry of entries) {
      const { plan } = mia.userFor(entry.modelId);
      const clear = finishedRows(
        plan,
        runClear(plan, tupleVectors(plan, entry.readings, profile)),
        1,
      )[0] as Record<string, number>;
      for (const [name, value] of Object.entries(clear)) {
        assert.ok(Math.abs((entry.values[name] as number) - value) < 0.05, `${entry.modelId} ${name}`);
      }
    }
    assert.deepEqual(
      (await mia.api.me()).subscriptions.map((x) => x.modelId),
      ['early-warning', 'chd-risk'],
    );
    // The vault reopens with both.
    using again = await PmheClient.open(store, PASSPHRASE);
    assert.deepEqual(again.models, ['early-warning', 'chd-risk']);
    // Removing one: the contract ends it, its waiting uploads go, the other model goes on.
    await mia.queue(
      readings.map((r) => ({ ...r, time: r.time + 3_600_000 })),
      Date.now(),
      undefined,
      ['chd-risk'],
    );
    // A wrong passphrase changes nothing, on the server either.
    await assert.rejects(mia.removeModel('chd-risk', 'not the passphrase'), VaultError);
    assert.equal((await mia.api.me()).subscriptions.length, 2);
    const signedBefore = await chd.upload(readings.slice(0, 1), profile);
    const removed = await mia.removeModel('chd-risk', PASSPHRASE);
    assert.match(removed.txId ?? '', /^[0-9a-f]{64}$/);
    assert.equal(removed.discarded, 2);
    assert.deepEqual(mia.models, ['early-warning']);
    assert.deepEqual(
      (await mia.api.me()).subscriptions.map((x) => x.modelId),
      ['early-warning'],
    );
    await assert.rejects(mia.removeModel('early-warning', PASSPHRASE), /only model/);
    // An upload for the ended model (signed with its old key) is refused, naming it.
    await assert.rejects(
      mia.api.submit([signedBefore]),
      (e: unknown) => e instanceof ApiError && e.code === 'NOT_SUBSCRIBED' && /chd-risk/.test(e.message),
    );
    const later = await mia.queue(readings.map((r) => ({ ...r, time: r.time + 7_200_000 })));
    assert.deepEqual(
      later.items.map((i) => i.modelId),
      ['early-warning', 'early-warning'],
    );
    // Its results stay in the history; a new device restoring from this vault has no key for them.
    assert.equal((await mia.history.list()).filter((e) => e.modelId === 'chd-risk').length, 2);
    const device = new FolderStore(await tempDir('client-mia-new'));
    await importBackup(device, await exportBackup(store, PASSPHRASE), PASSPHRASE);
    using restoredDevice = await PmheClient.open(device, PASSPHRASE);
    const rebuilt = await restoredDevice.restoreHistory();
    assert.equal(rebuilt.restored, 2);
    assert.equal(rebuilt.refused.length, 2);
    assert.match(rebuilt.refused[0] ?? '', /NO_KEY: chd-risk: this device no longer follows it/);
  });
});
