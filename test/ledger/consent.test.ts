/**
 * The contract's consent and closing transactions on the embedded ledger (src/contract/consent.ts,
 * closure.ts): who may register, grant, revoke and share, each refusal with its code; closing in
 * several bounded transactions, everything else refused meanwhile, the id never reused.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { LocalUser } from '../../src/client/user.ts';
import { CLOSE_BATCH } from '../../src/contract/closure.ts';
import { FheContract } from '../../src/contract/index.ts';
import { FheContractClient, type Signer, signedRequest } from '../../src/ledger/contract-client.ts';
import { EmbeddedLedger } from '../../src/ledger/embedded.ts';
import { cohortUploads } from '../../src/models/cohort.ts';
import { readAnswer } from '../../src/protocol/contract.ts';
import {
  derivePublicKey,
  exportPrivateKey,
  generateIdentity,
  importPrivateKey,
} from '../../src/protocol/identity.ts';
import type { Params } from '../../src/protocol/request.ts';
import { boxKeyPair } from '../../src/protocol/shared-item.ts';
import { refused, tempDir } from './fixtures.ts';

let ledger: EmbeddedLedger;
let contract: FheContractClient;
let hana: LocalUser;
const DAY = 86_400_000;

interface TestClinician extends Signer {
  publicKey: Uint8Array;
  boxKey: Uint8Array;
}

async function newClinician(userId: string): Promise<TestClinician> {
  const { privateKey } = await generateIdentity();
  const box = await boxKeyPair(crypto.getRandomValues(new Uint8Array(32)));
  return { userId, privateKey, publicKey: await derivePublicKey(privateKey), boxKey: box.publicKey };
}

const call = async (tx: string, signer: Signer, op: Parameters<typeof signedRequest>[1], params: Params) =>
  ledger.submit(tx, { args: [await signedRequest(signer, op, params)] });
const registerClinician = (c: TestClinician, name = `Dr ${c.userId}`) =>
  call('clinician', c, 'clinician', { publicKey: c.publicKey, boxKey: c.boxKey, name });
const ask = async (user: LocalUser, tx: 'grant' | 'revoke' | 'share' | 'close', params: Params = {}) =>
  ledger.submit(tx, await user.request(tx, params));

/** Uploads and issues one reading of `user`; the result record. */
async function oneResult(user: LocalUser, seed: number) {
  const [upload] = cohortUploads(user.plan, { readings: 1, seed });
  assert.ok(upload);
  const envelope = await user.envelope(upload.readings, upload.profile);
  const received = readAnswer('receive', (await ledger.submit('receive', user.receive([envelope]))).payload);
  const ids = received.submissions.map((s) => s.id);
  return (await contract.issue(await user.request('issue', { submissions: ids }))).result;
}

before(async () => {
  ledger = await EmbeddedLedger.open(await tempDir('consent'), { contracts: [FheContract] });
  contract = new FheContractClient(ledger);
  hana = await LocalUser.create({ userId: 'hana', modelId: 'early-warning', layout: 'packed' });
  await ledger.submit('setup', await hana.setup());
});
after(() => ledger.close());

test('clinicians register their keys once; a person cannot be one, nor a clinician subscribe', async () => {
  const kim = await newClinician('dr-kim');
  const registered = readAnswer('clinician', (await registerClinician(kim, '  Dr S. Kim ')).payload);
  assert.equal(registered.clinician.role, 'clinician');
  assert.equal(registered.clinician.name, 'Dr S. Kim');
  assert.equal(registered.clinician.boxKey, Buffer.from(kim.boxKey).toString('base64'));
  await registerClinician(kim, 'Dr Soo Kim'); // the same key again: a new name, or new box key
  const thief = await newClinician('dr-kim');
  await refused(registerClinician(thief), 'FORBIDDEN', /registered with another key/);
  const short = { ...(await newClinician('dr-short')), boxKey: new Uint8Array(16) };
  await refused(registerClinician(short), 'BAD_REQUEST', /params.boxKey: expected 32 bytes, got 16/);
  await refused(registerClinician(await newClinician('dr-blank'), '   '), 'BAD_REQUEST', /params.name/);
  // A person's id cannot become a clinician's, even signed with the person's own key...
  const hanaKey = await importPrivateKey(await hana.exportIdentitySeed());
  const hanaAsClinician = { ...(await newClinician('hana')), privateKey: hanaKey, publicKey: hana.publicKey };
  await refused(registerClinician(hanaAsClinician), 'FORBIDDEN', /"hana" is a person, not a clinician/);
  // ...and a clinician does not subscribe to models.
  const seed = await exportPrivateKey(kim.privateKey);
  const kimAsPerson = await LocalUser.create({
    userId: 'dr-kim',
    modelId: 'early-warning',
    layout: 'packed',
    identitySeed: seed,
  });
  await refused(ledger.submit('setup', await kimAsPerson.setup()), 'FORBIDDEN', /is a clinician/);
});

test('grants: only the owner grants, to a registered clinician’s own key, for catalogue models and a future expiry', async () => {
  const lee = await newClinician('dr-lee');
  await registerClinician(lee);
  const base = { clinicianId: 'dr-lee', boxKey: lee.boxKey, models: ['early-warning'], from: Date.now() };
  await refused(
    ask(hana, 'grant', { ...base, clinicianId: 'dr-nobody', until: Date.now() + DAY }),
    'NOT_FOUND',
    /no registered clinician "dr-nobody"/,
  );
  await refused(
    ask(hana, 'grant', { ...base, boxKey: new Uint8Array(32), until: Date.now() + DAY }),
    'FORBIDDEN',
    /not the key clinician "dr-lee" registered/,
  );
  await refused(
    ask(hana, 'grant', { ...base, models: ['astrology'], until: Date.now() + DAY }),
    'UNKNOWN_MODEL',
    /params.models\[0\]/,
  );
  await refused(
    ask(hana, 'grant', { ...base, models: [], until: Date.now() + DAY }),
    'BAD_REQUEST',
    /at least one model/,
  );
  await refused(ask(hana, 'grant', { ...base, until: Date.now() - 1000 }), 'BAD_REQUEST', /params.until/);
  // Signed by someone else: the contract checks hana's key, not who sent it.
  const mallory = await generateIdentity();
  await refused(
    call('grant', { userId: 'hana', privateKey: mallory.privateKey }, 'grant', {
      ...base,
      until: Date.now() + DAY,
    }),
    'BAD_SIGNATURE',
    /does not verify for user "hana"/,
  );
  // A clinician grants nothing (they have no results).
  await refused(
    call('grant', lee, 'grant', { ...base, until: Date.now() + DAY }),
    'FORBIDDEN',
    /is a clinician/,
  );
  const request = await hana.request('grant', { ...base, until: Date.now() + DAY });
  const { grant } = readAnswer('grant', (await ledger.submit('grant', request)).payload);
  assert.deepEqual([grant.userId, grant.clinicianId, grant.revokedAt], ['hana', 'dr-lee', null]);
  await refused(ledger.submit('grant', request), 'REPLAY');
  const { grant: revoked } = readAnswer(
    'revoke',
    (await ask(hana, 'revoke', { clinicianId: 'dr-lee' })).payload,
  );
  assert.ok(revoked.revokedAt !== null && revoked.revokeTx !== null);
  await refused(ask(hana, 'revoke', { clinicianId: 'dr-lee' }), 'NO_GRANT', /no grant to "dr-lee" to revoke/);
});

test('shares: under a grant in force, for a granted model, evaluated from its `from`; a retry is the same record', async () => {
  const moe = await newClinician('dr-moe');
  await registerClinician(moe);
  const early = await oneResult(hana, 11);
  const item = 'a'.repeat(64);
  await refused(
    ask(hana, 'share', { clinicianId: 'dr-moe', resultId: early.id, item }),
    'NO_GRANT',
    /no grant to "dr-moe"/,
  );
  const from = Date.now();
  await ask(hana, 'grant', {
    clinicianId: 'dr-moe',
    boxKey: moe.boxKey,
    models: ['early-warning'],
    from,
    until: from + DAY,
  });
  await refused(
    ask(hana, 'share', { clinicianId: 'dr-moe', resultId: early.id, item }),
    'NO_GRANT',
    /before the grant's from/,
  );
  const later = await oneResult(hana, 12);
  await refused(ask(hana, 'share', { clinicianId: 'dr-moe', resultId: 'f'.repeat(64), item }), 'NOT_FOUND');
  await refused(
    ask(hana, 'share', { clinicianId: 'dr-moe', resultId: later.id, item: 'nothex' }),
    'BAD_REQUEST',
    /params.item/,
  );
  const first = readAnswer(
    'share',
    (await ask(hana, 'share', { clinicianId: 'dr-moe', resultId: later.id, item })).payload,
  );
  const again = readAnswer(
    'share',
    (await ask(hana, 'share', { clinicianId: 'dr-moe', resultId: later.id, item })).payload,
  );
  assert.deepEqual(again, first, 'a retry after a lost answer finds the same record');
  await refused(
    ask(hana, 'share', { clinicianId: 'dr-moe', resultId: later.id, item: 'b'.repeat(64) }),
    'BAD_REQUEST',
    /already shared/,
  );
  // The clinician's consent read: the grant, the share, and hana's key to check signatures with.
  const consent = readAnswer(
    'consent',
    await ledger.evaluate('consent', { args: [await signedRequest(moe, 'consent', {})] }),
  );
  assert.equal(consent.role, 'clinician');
  assert.deepEqual(
    consent.shares.map((s) => s.resultId),
    [later.id],
  );
  assert.deepEqual(consent.people, [
    { userId: 'hana', publicKey: Buffer.from(hana.publicKey).toString('base64') },
  ]);
});

test(`closing takes as many transactions as needed (${CLOSE_BATCH} keys each), refuses all else meanwhile, and the id is never reused`, async () => {
  const ivo = await LocalUser.create({ userId: 'ivo', modelId: 'early-warning', layout: 'packed' });
  await ledger.submit('setup', await ivo.setup());
  const uploads = cohortUploads(ivo.plan, { readings: 150, seed: 5 });
  const envelopes = await Promise.all(uploads.map((u) => ivo.envelope(u.readings, u.profile)));
  for (let i = 0; i < envelopes.length; i += 50)
    await ledger.submit('receive', ivo.receive(envelopes.slice(i, i + 50)));
  const keys = () => ledger.stateKeys().then((all) => all.filter((k) => k.includes('/ivo')));
  const receipt = await ledger.submit(
    'receive',
    ivo.receive([await ivo.envelope(uploads[0]?.readings ?? [], uploads[0]?.profile)]),
  );
  const lateId = readAnswer('receive', receipt.payload).submissions[0]?.id ?? '';
  const issueLater = await ivo.request('issue', { submissions: [lateId] });
  // Each envelope stored a submission, its nonce and its ciphertext: more than one batch.
  const before = (await ledger.stateKeys()).length;
  assert.ok((await keys()).length > 300);

  const close = await ivo.request('close');
  const first = readAnswer('close', (await ledger.submit('close', close)).payload);
  assert.equal(first.done, false);
  assert.equal(first.deleted, CLOSE_BATCH);
  // While closing, nothing else of ivo's goes on: not an old request, not a new one.
  await refused(ledger.submit('issue', issueLater), 'CLOSED', /closed their account/);
  await refused(ledger.submit('setup', await ivo.setup()), 'CLOSED');
  // The same close request carries on (its nonce was used by the first; that is expected).
  let last = first;
  let rounds = 1;
  let total = first.deleted;
  while (!last.done) {
    last = readAnswer('close', (await ledger.submit('close', close)).payload);
    total += last.deleted;
    rounds++;
  }
  assert.ok(rounds >= 2);
  assert.deepEqual(await keys(), ['closed/ivo']);
  // Every key counted, the ciphertexts too: the batches held all but the identity, plus the first
  // close's own nonce; the closed marker is the one key added.
  assert.equal((await ledger.stateKeys()).length, before + 1 - (total + 1) + 1);
  await refused(ledger.submit('close', close), 'UNKNOWN_USER');
  const newcomer = await LocalUser.create({ userId: 'ivo', modelId: 'early-warning', layout: 'packed' });
  await refused(ledger.submit('setup', await newcomer.setup()), 'CLOSED', /cannot be registered again/);
  // Others are untouched.
  assert.ok((await ledger.stateKeys()).some((k) => k.startsWith('user/hana')));
});
