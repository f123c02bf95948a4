/**
 * Sharing with clinicians and closing an account, end to end over loopback HTTP with the real
 * server, embedded ledger and PGlite (issue 17): grant → new results shared by themselves → the
 * clinician reads them, checked against the ledger; revoke → the next result is not shared and
 * the server refuses the clinician; a forged grant, a tampered item, an item replayed to another
 * clinician and an expired grant refused, each with a clear error; closing deletes the person's
 * state entries and rows (checked directly) and their key authenticates nothing after.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiError } from '../../src/client/api-client.ts';
import { PmheClient } from '../../src/client/app.ts';
import { ClinicianClient } from '../../src/client/clinician.ts';
import { FolderStore } from '../../src/client/node/folder-store.ts';
import { sharedResultOf } from '../../src/client/sharing.ts';
import { LocalUser } from '../../src/client/user.ts';
import { FAST_KDF_FOR_TESTS, Vault } from '../../src/client/vault.ts';
import { simulatePerson } from '../../src/device/index.ts';
import { signedRequest } from '../../src/ledger/contract-client.ts';
import type { EmbeddedLedger } from '../../src/ledger/embedded.ts';
import type { Share } from '../../src/protocol/api.ts';
import { fromBase64, toBase64 } from '../../src/protocol/bytes.ts';
import { readAnswer } from '../../src/protocol/contract.ts';
import { generateIdentity } from '../../src/protocol/identity.ts';
import { itemHash, peekItem } from '../../src/protocol/shared-item.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { tempDir } from '../ledger/fixtures.ts';

const PASSPHRASE = 'correct horse battery staple';
const DAY = 86_400_000;

describe('sharing with clinicians; closing an account', () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({ dataDir: await tempDir('sharing'), port: 0, log: false });
  });
  after(() => server.close());

  const person = async (userId: string) => {
    const store = new FolderStore(await tempDir(`person-${userId}`));
    const client = await PmheClient.init(store, {
      userId,
      modelId: 'early-warning',
      layout: 'packed',
      passphrase: PASSPHRASE,
      server: server.url,
      kdf: FAST_KDF_FOR_TESTS,
    });
    await client.register();
    return { store, client };
  };
  const clinician = async (clinicianId: string, name: string) => {
    const store = new FolderStore(await tempDir(`clinician-${clinicianId}`));
    const client = await ClinicianClient.init(store, {
      clinicianId,
      name,
      passphrase: PASSPHRASE,
      server: server.url,
      kdf: FAST_KDF_FOR_TESTS,
    });
    await client.register();
    return { store, client };
  };
  let readingSeed = 1;
  /** Uploads `n` readings and waits for their diagnoses; returns them with what was shared. */
  const measure = async (client: PmheClient, n: number) => {
    const readings = simulatePerson({ persona: 'healthy', seed: readingSeed++, days: 1 }).slice(-n);
    await client.queue(readings);
    await client.flush();
    let shares: Share[] = [];
    const entries = await client.collect({
      timeoutMs: 60_000,
      onShared: (r) => {
        assert.deepEqual(r.failed, []);
        shares = r.shared;
      },
    });
    assert.equal(entries.length, n);
    return { entries, shared: shares.map((s) => s.resultId), shares };
  };
  const rejects = async (promise: Promise<unknown>, code: string, message: RegExp) => {
    await assert.rejects(promise, (error: unknown) => {
      assert.ok(error instanceof ApiError, String(error));
      assert.equal(error.code, code, error.message);
      assert.match(error.message, message);
      return true;
    });
  };

  test('grant → new results shared by themselves → the clinician reads them; revoke → not shared, refused', async () => {
    const { client: erin } = await person('erin');
    const { client: house } = await clinician('dr-house', 'Dr G. House');
    const before = await measure(erin, 1); // before any grant: stays the person's
    assert.deepEqual(before.shared, []);

    const looked = await erin.clinician('dr-house');
    assert.equal(looked.name, 'Dr G. House');
    assert.equal(looked.fingerprint, house.fingerprint, 'the person compares this with the clinician');
    const granted = await erin.grant(looked, { models: ['early-warning'], until: Date.now() + DAY });
    assert.equal(granted.grant.state, 'active');
    assert.deepEqual(granted.shared, [], 'results from before the grant’s from are not shared');

    const after1 = await measure(erin, 2);
    assert.deepEqual(after1.shared.sort(), after1.entries.map((e) => e.resultId).sort());
    const inbox = await house.inbox();
    assert.deepEqual(inbox.refused, []);
    assert.deepEqual(inbox.items.map((i) => i.resultId).sort(), after1.entries.map((e) => e.resultId).sort());
    for (const item of inbox.items) {
      const entry = after1.entries.find((e) => e.resultId === item.resultId);
      assert.ok(entry);
      assert.equal(item.userId, 'erin');
      assert.equal(item.txId, entry.txId, 'each item names the evaluation’s ledger transaction');
      assert.deepEqual(item.values, entry.values);
      assert.equal(item.diagnosis.label, entry.diagnosis.label);
      assert.match(
        item.guidance?.source ?? '',
        /Early Warning Score 2/,
        'the guideline travels with the diagnosis',
      );
      const tx = await server.ledger.getTransaction(item.shareTx);
      assert.deepEqual([tx.function, tx.validationCode], ['share', 0]);
    }
    // The ledger's consent history, auditable: the grant and both shares.
    const consent = await erin.api.consent(fromBase64(await signedRequestOf(erin, 'consent')));
    assert.equal(consent.role, 'person');
    assert.equal(consent.grants[0]?.clinicianId, 'dr-house');
    assert.equal(consent.shares.length, 2);
    assert.deepEqual(inbox.grants, consent.grants, 'the clinician sees the same records');

    const bundle = house.fhirBundle(inbox.items, 'erin', { generatedAt: 0 });
    assert.equal(bundle.resourceType, 'Bundle');
    const kinds = (bundle.entry ?? []).map((e) => e.resource?.resourceType);
    assert.equal(kinds[0], 'Patient');
    assert.equal(kinds.filter((k) => k === 'Observation').length, 2, 'one Observation per shared diagnosis');

    const revoked = await erin.revoke('dr-house');
    assert.equal(revoked.state, 'revoked');
    const after2 = await measure(erin, 1);
    assert.deepEqual(after2.shared, [], 'nothing is shared after revocation');
    const next = after2.entries[0]?.resultId ?? '';
    await rejects(house.api.sharedItem('erin', next), 'NO_GRANT', /revoked/);
    await rejects(house.api.sharedItem('erin', after1.shared[0] ?? ''), 'NO_GRANT', /revoked/);
    assert.deepEqual((await house.inbox()).items, [], 'the server serves nothing of a revoked grant');
    // Sharing by hand is refused too, by the server and (below it) the contract.
    const entry = after2.entries[0];
    assert.ok(entry);
    const item = await erin.user.sealForClinician(sharedResultOf(entry, 'erin', 'dr-house'), house.boxKey);
    const request = fromBase64(
      await signedRequestOf(erin, 'share', {
        clinicianId: 'dr-house',
        resultId: entry.resultId,
        item: itemHash(item),
      }),
    );
    await rejects(erin.api.share(request, item), 'NO_GRANT', /revoked/);
    // A clinician closes their account too: the grants to them go, and nobody can grant them again.
    const closed = await house.closeAccount(PASSPHRASE);
    assert.equal(closed.userId, 'dr-house');
    assert.deepEqual(await erin.grants(), []);
    await rejects(erin.clinician('dr-house'), 'NOT_FOUND', /no registered clinician/);
    erin[Symbol.dispose]();
  });

  test('a forged grant, a tampered item, an item replayed to another clinician, an expired grant: each refused', async () => {
    const { client: fay } = await person('fay');
    const { client: grey } = await clinician('dr-grey', 'Dr M. Grey');
    const { client: yang } = await clinician('dr-yang', 'Dr C. Yang');
    const looked = await fay.clinician('dr-grey');

    // Forged: a grant claiming to be fay's, signed by another key, straight to the server and the ledger.
    const mallory = await generateIdentity();
    const forged = await signedRequest({ userId: 'fay', privateKey: mallory.privateKey }, 'grant', {
      clinicianId: 'dr-grey',
      boxKey: fromBase64(looked.boxKey),
      models: ['early-warning'],
      from: Date.now(),
      until: Date.now() + DAY,
    });
    await rejects(fay.api.grant(fromBase64(forged)), 'BAD_SIGNATURE', /does not verify for user "fay"/);
    await assert.rejects(server.ledger.submit('grant', { args: [forged] }), /BAD_SIGNATURE: .*fay/);
    // A clinician's key the person did not see (a server showing its own) is refused by the contract.
    const other = { ...looked, boxKey: toBase64(yang.boxKey) };
    await rejects(
      fay.grant(other, { models: ['early-warning'], until: Date.now() + DAY }),
      'FORBIDDEN',
      /not the key clinician "dr-grey" registered/,
    );
    await fay.grant(looked, { models: ['early-warning'], until: Date.now() + DAY });
    await fay.grant(await fay.clinician('dr-yang'), { models: ['early-warning'], until: Date.now() + DAY });
    const { entries } = await measure(fay, 1);
    const resultId = entries[0]?.resultId ?? '';
    const served = await grey.api.sharedItem('fay', resultId);

    // Tampered: one bit of the sealed bytes flipped (the server's copy, changed in its database).
    const bytes = fromBase64(served.item);
    bytes.set([(bytes.at(-5) ?? 0) ^ 1], bytes.length - 5);
    await server.db
      .updateTable('shares')
      .set({ item: bytes })
      .where('clinician_id', '=', 'dr-grey')
      .execute();
    const tampered = await grey.inbox('fay');
    assert.deepEqual(tampered.items, []);
    assert.equal(tampered.refused[0]?.problem, 'TAMPERED');
    assert.match(tampered.refused[0]?.reason ?? '', /SHA-256 is not the one the ledger recorded/);

    // Replayed: dr-yang's item given to dr-grey (a server swapping them) fails for dr-grey...
    const yangs = await yang.api.sharedItem('fay', resultId);
    await server.db
      .updateTable('shares')
      .set({ item: fromBase64(yangs.item), item_hash: yangs.itemHash })
      .where('clinician_id', '=', 'dr-grey')
      .execute();
    const swapped = await grey.inbox('fay');
    assert.deepEqual(swapped.items, []);
    assert.equal(swapped.refused[0]?.problem, 'TAMPERED');
    // ...and the person's own item re-sent as a share to another clinician is refused at the door.
    assert.equal(peekItem(fromBase64(yangs.item)).clinicianId, 'dr-yang');
    const replay = fromBase64(
      await signedRequestOf(fay, 'share', {
        clinicianId: 'dr-grey',
        resultId,
        item: itemHash(fromBase64(yangs.item)),
      }),
    );
    await rejects(
      fay.api.share(replay, fromBase64(yangs.item)),
      'BAD_FIELD',
      /item.clinicianId: "dr-yang", but the share request names "dr-grey"/,
    );

    // Expired: a grant whose until has passed shares nothing, and the server refuses the clinician.
    const short = await fay.grant(looked, { models: ['early-warning'], until: Date.now() + 1500 });
    assert.equal(short.grant.state, 'active');
    await new Promise((r) => setTimeout(r, 1600));
    assert.equal((await fay.grants()).find((g) => g.clinicianId === 'dr-grey')?.state, 'expired');
    const later = await measure(fay, 1);
    assert.deepEqual(
      later.shares.map((s) => s.clinicianId),
      ['dr-yang'],
      'shared under the grant in force, not under the expired one',
    );
    await rejects(grey.api.sharedItem('fay', resultId), 'NO_GRANT', /expired/);
    // The contract refuses too, whatever the server says.
    const entry = later.entries[0];
    assert.ok(entry);
    const item = await fay.user.sealForClinician(sharedResultOf(entry, 'fay', 'dr-grey'), grey.boxKey);
    const late = await signedRequestOf(fay, 'share', {
      clinicianId: 'dr-grey',
      resultId: entry.resultId,
      item: itemHash(item),
    });
    await assert.rejects(server.ledger.submit('share', { args: [late] }), /NO_GRANT: .*expired/);
    fay[Symbol.dispose]();
  });

  test('closing an account deletes its state entries and rows; the key authenticates nothing after', async () => {
    const { store, client: gil } = await person('gil');
    const { client: ross } = await clinician('dr-ross', 'Dr D. Ross');
    await gil.grant(await gil.clinician('dr-ross'), { models: ['early-warning'], until: Date.now() + DAY });
    await measure(gil, 2);
    assert.equal((await ross.inbox()).items.length, 2);
    const keysOf = async () => {
      const all = await (server.ledger as EmbeddedLedger).stateKeys();
      return all.filter((k) => /^[a-z]+\/gil(\/|$)/.test(k) || k.startsWith('granted/dr-ross/gil'));
    };
    assert.ok((await keysOf()).length > 5);
    const rowsOf = async () => {
      const counts: Record<string, number> = {};
      for (const table of [
        'users',
        'subscriptions',
        'submissions',
        'results',
        'grants',
        'shares',
        'http_nonces',
      ] as const) {
        const rows = await server.db.selectFrom(table).selectAll().where('user_id', '=', 'gil').execute();
        counts[table] = rows.length;
      }
      return counts;
    };
    assert.ok(Object.values(await rowsOf()).some((n) => n > 0));

    await assert.rejects(gil.closeAccount('not the passphrase'), /passphrase/);
    assert.ok(await Vault.exists(store), 'a wrong passphrase deletes nothing');
    const closed = await gil.closeAccount(PASSPHRASE);
    assert.equal(closed.userId, 'gil');
    assert.ok(closed.ledgerKeys > 5 && closed.serverRows > 5, JSON.stringify(closed));
    assert.deepEqual(await keysOf(), ['closed/gil'], 'only the marker that the id was closed stays');
    assert.deepEqual(Object.values(await rowsOf()), [0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(await store.keys(''), [], 'the vault, outbox and history are gone from the device');
    assert.deepEqual((await ross.inbox()).items, [], 'the grant ended with the account');

    // The user can no longer authenticate, nor come back under the same id.
    const auth = await gil.user.authorization('GET', '/v1/users/me');
    const res = await fetch(`${server.url}/v1/users/me`, { headers: { authorization: auth } });
    assert.equal(res.status, 401);
    using newcomer = await LocalUser.create({ userId: 'gil', modelId: 'early-warning', layout: 'packed' });
    const again = await fetch(`${server.url}/v1/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/cbor' },
      body: (await newcomer.registration()) as BodyInit,
    });
    assert.equal(again.status, 410);
    assert.match(((await again.json()) as { message: string }).message, /CLOSED: .*gil/);
    // The blocks keep the history: the close transactions are there, and valid.
    const tx = await server.ledger.getTransaction(closed.txIds.at(-1) ?? '');
    assert.deepEqual([tx.function, tx.validationCode], ['close', 0]);
    assert.equal(readAnswer('close', tx.payload).done, true);
  });
});

async function signedRequestOf(
  client: PmheClient,
  op: 'consent' | 'share',
  params: Record<string, string> = {},
) {
  return (await client.user.request(op, params)).args?.[0] ?? '';
}
