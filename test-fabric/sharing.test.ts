/**
 * Sharing with a clinician and closing an account on the project's Fabric dev network (`npm run
 * test:fabric`): the consent transactions (clinician, grant, share, revoke) and `close` (range
 * reads and bounded deletes over the person's keys) endorsed by both organisations, through the
 * server, with the clinician's checks against the ledger's records.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as fabric from '../scripts/fabric/network.ts';
import { PmheClient } from '../src/client/app.ts';
import { ClinicianClient } from '../src/client/clinician.ts';
import { FolderStore } from '../src/client/node/folder-store.ts';
import { LocalUser } from '../src/client/user.ts';
import { FAST_KDF_FOR_TESTS } from '../src/client/vault.ts';
import { simulatePerson } from '../src/device/index.ts';
import { registerPatiently } from './flow.ts';
import { startPmheServer } from './server.ts';

const PASSPHRASE = 'sharing on fabric';
const DAY = 86_400_000;

test('sharing on Fabric: register a clinician, grant, share as results arrive, revoke; close the account', {
  skip:
    !fabric.isUp() &&
    `no Fabric network in ${fabric.NETWORK_FILE} (npm run fabric:up, or npm run test:fabric)`,
  timeout: 10 * 60_000,
}, async () => {
  const net = fabric.readNetwork();
  const dir = await mkdtemp(join(tmpdir(), 'pmhe-fabric-sharing-'));
  const server = await startPmheServer({
    dataDir: join(dir, 'server'),
    log: join(net.dir, 'logs', `pmhe-server-sharing-${Date.now()}.log`),
    fabric: net.connectionFile,
  });
  const stamp = Date.now();
  try {
    const store = new FolderStore(join(dir, 'person'));
    using person = await PmheClient.init(store, {
      userId: `share-${stamp}`,
      modelId: 'early-warning',
      layout: 'packed',
      passphrase: PASSPHRASE,
      server: server.url,
      kdf: FAST_KDF_FOR_TESTS,
    });
    await registerPatiently(person);
    const doctor = await ClinicianClient.init(new FolderStore(join(dir, 'doctor')), {
      clinicianId: `dr-${stamp}`,
      name: 'Dr Fabric',
      passphrase: PASSPHRASE,
      server: server.url,
      kdf: FAST_KDF_FOR_TESTS,
    });
    const registered = await doctor.register();
    assert.equal(registered.fingerprint, doctor.fingerprint);
    const looked = await person.clinician(doctor.clinicianId);
    assert.equal(looked.fingerprint, doctor.fingerprint);
    await person.grant(looked, { models: ['early-warning'], until: Date.now() + DAY });

    const readings = simulatePerson({ persona: 'healthy', seed: 21, days: 1 }).slice(-3);
    await person.queue(readings.slice(0, 2));
    await person.flush();
    let shared = 0;
    const entries = await person.collect({
      timeoutMs: 180_000,
      onShared: (r) => (shared += r.shared.length),
    });
    assert.equal(entries.length, 2);
    assert.equal(shared, 2, 'both results shared as they arrived');
    const inbox = await doctor.inbox();
    assert.deepEqual(inbox.refused, []);
    assert.deepEqual(
      inbox.items.map((i) => i.resultId).sort(),
      entries.map((e) => e.resultId).sort(),
      'the clinician reads them, each checked against the hash Fabric recorded',
    );

    const revoked = await person.revoke(doctor.clinicianId);
    assert.equal(revoked.state, 'revoked');
    await person.queue(readings.slice(2));
    await person.flush();
    let after = 0;
    assert.equal(
      (await person.collect({ timeoutMs: 180_000, onShared: (r) => (after += r.shared.length) })).length,
      1,
    );
    assert.equal(after, 0, 'nothing shared after revocation');
    assert.deepEqual((await doctor.inbox()).items, []);

    const closed = await person.closeAccount(PASSPHRASE);
    assert.ok(closed.txIds.length >= 1 && closed.ledgerKeys > 10, JSON.stringify(closed));
    assert.deepEqual(await store.keys(''), []);
    // The id is closed on the ledger: a new registration under it is refused by the contract.
    using newcomer = await LocalUser.create({
      userId: `share-${stamp}`,
      modelId: 'early-warning',
      layout: 'packed',
    });
    const again = await fetch(`${server.url}/v1/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/cbor' },
      body: (await newcomer.registration()) as BodyInit,
    });
    assert.equal(again.status, 410, await again.text());
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
