import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { LocalUser } from '../../src/client/user.ts';
import { FheContract } from '../../src/contract/index.ts';
import { FheContractClient, submissionId } from '../../src/ledger/contract-client.ts';
import { EmbeddedLedger } from '../../src/ledger/embedded.ts';
import { LedgerError } from '../../src/ledger/errors.ts';
import { cohortUploads } from '../../src/models/cohort.ts';
import { runClear, tupleVectors } from '../../src/models/runtime.ts';
import { readAnswer } from '../../src/protocol/contract.ts';
import { CounterContract, OlderLayoutContract, refused, tempDir, twoModels } from './fixtures.ts';

let ledger: EmbeddedLedger;
let alice: LocalUser;
let bob: LocalUser;

before(async () => {
  ledger = await EmbeddedLedger.open(await tempDir(), {
    contracts: [FheContract, CounterContract, OlderLayoutContract],
  });
  alice = await LocalUser.create({ userId: 'alice', modelId: 'early-warning', layout: 'packed' });
  bob = await LocalUser.create({
    userId: 'bob',
    modelId: 'chd-risk-paper',
    layout: 'paper',
    presetId: 'paper-p2',
  });
  for (const user of [alice, bob]) await ledger.submit('setup', await user.setup());
});

after(() => ledger.close());

const close = (a: readonly number[] | undefined, b: readonly number[] | undefined, tolerance: number) =>
  a !== undefined &&
  b !== undefined &&
  a.length === b.length &&
  a.every((v, i) => Math.abs(v - (b[i] ?? NaN)) < tolerance);

test('setup, receive, issue: the contract evaluates the model on ciphertexts; Q matches the clear model', async () => {
  for (const user of [alice, bob]) {
    const uploads = cohortUploads(user.plan, { readings: 2, seed: 7 });
    const envelopes = await Promise.all(uploads.map((u) => user.envelope(u.readings, u.profile)));
    const received = await ledger.submit('receive', user.receive(envelopes));
    const ids = readAnswer('receive', received.payload).submissions.map((s) => s.id);
    assert.deepEqual(ids, envelopes.map(submissionId), 'submission ids are the envelope hashes');
    const issueRequest = await user.request('issue', { submissions: ids });
    const { committed: issuedTx, ...issued } = await new FheContractClient(ledger).issue(issueRequest);
    assert.ok(issuedTx.blockNumber > received.blockNumber);
    assert.deepEqual(
      readAnswer('issue', issuedTx.payload),
      { result: issued.result },
      'issue returns the record, not Z',
    );
    assert.equal(issued.result.id, issuedTx.txId);
    assert.deepEqual(issued.result.results, user.plan.template.result, 'Z travels with its result schema');
    for (const [s, upload] of uploads.entries()) {
      const q = user.decrypt(issued, s);
      const clear = runClear(user.plan, tupleVectors(user.plan, upload.readings, upload.profile));
      for (const name of Object.keys(clear)) {
        assert.ok(close(q[name], clear[name], 0.05), `${user.userId} ${name}: ${q[name]} vs ${clear[name]}`);
      }
    }
    // The owner can read it back later, with its history.
    const again = readAnswer(
      'result',
      await ledger.evaluate('result', await user.request('result', { resultId: issued.result.id })),
    );
    assert.deepEqual(again, issued);
    const listed = readAnswer(
      'submissions',
      await ledger.evaluate('submissions', await user.request('submissions')),
    );
    assert.ok(ids.every((id) => listed.submissions.some((s) => s.id === id)));
    const results = readAnswer('results', await ledger.evaluate('results', await user.request('results')));
    assert.ok(results.results.some((r) => r.id === issued.result.id));
    const history = readAnswer('history', await ledger.evaluate('history', await user.request('history')));
    assert.equal(history.setups.length, 1);
    assert.equal(history.setups[0]?.user?.modelId, user.plan.model.id);
    const tx = await ledger.getTransaction(issuedTx.txId);
    assert.deepEqual([tx.function, tx.validationCode, tx.blockNumber], ['issue', 0, issuedTx.blockNumber]);
  }
});

test('add and mult: the generic homomorphic functions over stored ciphertexts', async () => {
  const [upload] = cohortUploads(bob.plan, { readings: 1, seed: 3 });
  assert.ok(upload);
  const envelope = await bob.envelope(upload.readings, upload.profile);
  const id = readAnswer('receive', (await ledger.submit('receive', bob.receive([envelope]))).payload)
    .submissions[0]?.id;
  const values = tupleVectors(bob.plan, upload.readings, upload.profile).map((v) => v[0] as number);
  const sum = readAnswer(
    'add',
    (await ledger.submit('add', await bob.request('add', { a: `sub:${id}:0`, b: `sub:${id}:1` }))).payload,
  );
  const [s] = bob.decryptBytes(new Uint8Array(Buffer.from(sum.z, 'base64')));
  assert.ok(
    Math.abs((s as number) - ((values[0] as number) + (values[1] as number))) < 1e-3,
    `${s} vs ${values}`,
  );
  const product = readAnswer(
    'add',
    (
      await ledger.submit(
        'mult',
        await bob.request('mult', { a: `op:${sum.operation.txId}`, b: `sub:${id}:2` }),
      )
    ).payload,
  );
  const [p] = bob.decryptBytes(new Uint8Array(Buffer.from(product.z, 'base64')));
  const want = ((values[0] as number) + (values[1] as number)) * (values[2] as number);
  assert.ok(Math.abs((p as number) - want) < 1e-2 * Math.max(1, Math.abs(want)), `${p} vs ${want}`);
  // alice cannot compute on bob's ciphertexts: references resolve in her own key space only.
  await refused(
    ledger.submit('mult', await alice.request('mult', { a: `sub:${id}:0`, b: `sub:${id}:0` })),
    'NOT_FOUND',
  );
});

test('refusals: replays, strangers, tampering, other users\u2019 data, bad arguments; nothing accepted is lost', async () => {
  const [upload] = cohortUploads(alice.plan, { readings: 1, seed: 11 });
  assert.ok(upload);
  const envelope = await alice.envelope(upload.readings, upload.profile);
  const first = await ledger.submit('receive', alice.receive([envelope]));
  await refused(ledger.submit('receive', alice.receive([envelope])), 'REPLAY');
  const second = await alice.envelope(upload.readings, upload.profile);
  await refused(ledger.submit('receive', alice.receive([second, second])), 'REPLAY', /envelopes\[1\]/);

  const tampered = new Uint8Array(second);
  tampered[tampered.length - 40] = (tampered[tampered.length - 40] as number) ^ 1;
  await refused(ledger.submit('receive', alice.receive([tampered])), 'BAD_SIGNATURE');
  using stranger = await LocalUser.create({ userId: 'mallory', modelId: 'early-warning', layout: 'packed' });
  await refused(
    ledger.submit('receive', stranger.receive([await stranger.envelope(upload.readings)])),
    'UNKNOWN_USER',
  );
  // mallory cannot register as alice: the key differs.
  const fake = await LocalUser.create({ userId: 'alice', modelId: 'early-warning', layout: 'packed' });
  await refused(ledger.submit('setup', await fake.setup()), 'FORBIDDEN');
  fake[Symbol.dispose]();
  // bob's ciphertexts under alice's name: refused before evaluation (signature, then preset).
  const id = readAnswer('receive', first.payload).submissions[0]?.id as string;
  await refused(ledger.submit('issue', await bob.request('issue', { submissions: [id] })), 'NOT_FOUND');
  await refused(
    ledger.evaluate('result', await bob.request('result', { resultId: first.txId })),
    'NOT_FOUND',
  );
  const replayedIssue = await alice.request('issue', { submissions: [id] });
  // An issue request opens its own result only once it has been committed.
  await refused(ledger.evaluate('result', replayedIssue), 'NOT_FOUND', /not been committed/);
  await ledger.submit('issue', replayedIssue);
  await refused(ledger.submit('issue', replayedIssue), 'REPLAY');
  // Writing requests may be days old (their nonces are kept for ever); queries only minutes.
  await ledger.submit('issue', await alice.request('issue', { submissions: [id] }, Date.now() - 3_600_000));
  await refused(
    ledger.submit(
      'issue',
      await alice.request('issue', { submissions: [id] }, Date.now() - 8 * 24 * 3_600_000),
    ),
    'STALE',
  );
  await refused(
    ledger.evaluate('results', await alice.request('results', {}, Date.now() - 3_600_000)),
    'STALE',
  );
  await refused(
    ledger.submit('receive', { transient: { envelopes: new Uint8Array([1, 2, 3]) } }),
    'BAD_REQUEST',
  );
  await refused(ledger.submit('receive', {}), 'BAD_REQUEST', /missing/);
  await refused(ledger.submit('issue', { args: ['not base64!'] }), 'BAD_REQUEST');
  await refused(ledger.submit('nosuch'), 'BAD_REQUEST', /no transaction "nosuch"/);
  // fabric-contract-api's own routing checks the argument count.
  await assert.rejects(
    ledger.submit('issue', { args: ['a', 'b'] }),
    /Expected 1 parameters, but 2 have been supplied/,
  );
  await assert.rejects(
    ledger.submit('issue', { args: [42 as unknown as string] }),
    (e: unknown) => e instanceof LedgerError && e.code === 'BAD_ARGUMENT',
  );
  // A transaction larger than a Fabric block may hold is refused before ordering.
  const small = await EmbeddedLedger.open(await tempDir(), { maxTransactionBytes: 64 * 1024 });
  await small.submit('setup', await alice.setup()).then(
    () => assert.fail('a 500 KB setup fits no 64 KiB block'),
    (e: unknown) =>
      assert.ok(e instanceof LedgerError && e.code === 'BAD_ARGUMENT' && /AbsoluteMaxBytes/.test(e.message)),
  );
  await small.close();
  // More envelopes than one Fabric block may store: refused by the contract, naming the fix.
  const [big] = cohortUploads(bob.plan, { readings: 1, seed: 2 });
  const many = await Promise.all(
    Array.from({ length: 15 }, () => bob.envelope(big?.readings ?? [], big?.profile)),
  );
  await refused(ledger.submit('receive', bob.receive(many)), 'OVERSIZED', /split them/);
  // Everything accepted is still there.
  const listed = readAnswer(
    'submissions',
    await ledger.evaluate('submissions', await alice.request('submissions')),
  );
  assert.ok(listed.submissions.some((s) => s.id === id));
  const verdict = await ledger.verify();
  assert.ok(verdict.ok, verdict.problems.join('\n'));
});

test('a WebAssembly abort inside a transaction fails that transaction only', async () => {
  await assert.rejects(
    ledger.submit('CounterContract:abort'),
    (e: unknown) =>
      e instanceof LedgerError && e.code === 'ENDORSEMENT' && /WebAssembly|module reloaded/i.test(e.message),
  );
  // SEAL was reloaded (so the keys of alice's client, in this same process, are gone with it); the
  // contract carries on with contexts and evaluators from the new module.
  using carol = await LocalUser.create({ userId: 'carol', modelId: 'early-warning', layout: 'packed' });
  await ledger.submit('setup', await carol.setup());
  const [upload] = cohortUploads(carol.plan, { readings: 1, seed: 5 });
  assert.ok(upload);
  const envelope = await carol.envelope(upload.readings, upload.profile);
  const id = readAnswer('receive', (await ledger.submit('receive', carol.receive([envelope]))).payload)
    .submissions[0]?.id;
  const issued = await new FheContractClient(ledger).issue(
    await carol.request('issue', { submissions: [id as string] }),
  );
  const want = runClear(carol.plan, tupleVectors(carol.plan, upload.readings, upload.profile)).total;
  assert.ok(close(carol.decrypt(issued).total, want, 0.05));
});

test('events: setup, received and issued, in block order, from any start block', async () => {
  const seen: string[] = [];
  for await (const event of ledger.events({ startBlock: 0, signal: AbortSignal.timeout(2000) })) {
    seen.push(event.name);
    if (seen.length === 5) break;
  }
  assert.deepEqual(seen, ['setup', 'setup', 'received', 'issued', 'received']);
});

test('several models per user: one identity, a subscription per model with its own keys; unsubscribe ends one', async () => {
  const [ew, chd] = await twoModels('dora');
  const contract = new FheContractClient(ledger);
  for (const user of [ew, chd]) await ledger.submit('setup', await user.setup());
  // Another key cannot add a model to dora's identity.
  const stranger = await LocalUser.create({ userId: 'dora', modelId: 'chd-risk', layout: 'packed' });
  await refused(ledger.submit('setup', await stranger.setup()), 'FORBIDDEN', /another key/);
  // One receive takes both models' envelopes; each is issued with its own subscription's keys.
  const envelopes = await Promise.all(
    [ew, chd].map((u) => {
      const [upload] = cohortUploads(u.plan, { readings: 1, seed: 5 });
      return u.envelope(upload?.readings ?? [], upload?.profile);
    }),
  );
  const ids = readAnswer(
    'receive',
    (await ledger.submit('receive', ew.receive(envelopes))).payload,
  ).submissions.map((s) => s.id);
  for (const [i, user] of [ew, chd].entries()) {
    const issued = await contract.issue(await user.request('issue', { submissions: [ids[i] as string] }));
    assert.equal(issued.result.modelId, user.plan.model.id);
    const [upload] = cohortUploads(user.plan, { readings: 1, seed: 5 });
    const clear = runClear(user.plan, tupleVectors(user.plan, upload?.readings ?? [], upload?.profile ?? {}));
    const q = user.decrypt(issued);
    for (const name of Object.keys(clear))
      assert.ok(close(q[name], clear[name], 0.05), `${user.plan.model.id} ${name}`);
  }
  // One issue evaluates one subscription; add and mult take operands of one model.
  await refused(
    ledger.submit('issue', await ew.request('issue', { submissions: ids as string[] })),
    'WRONG_TEMPLATE',
    /one issue evaluates one subscription/,
  );
  await refused(
    ledger.submit('add', await ew.request('add', { a: `sub:${ids[0]}:0`, b: `sub:${ids[1]}:0` })),
    'BAD_REQUEST',
    /both must be of one subscription/,
  );
  // Unsubscribing ends chd-risk only: its envelopes are refused, early warning goes on.
  const ended = readAnswer(
    'unsubscribe',
    (await ledger.submit('unsubscribe', await chd.request('unsubscribe', { modelId: 'chd-risk' }))).payload,
  );
  assert.equal(ended.modelId, 'chd-risk');
  const [late] = cohortUploads(chd.plan, { readings: 1, seed: 6 });
  await refused(
    ledger.submit('receive', chd.receive([await chd.envelope(late?.readings ?? [], late?.profile)])),
    'NOT_SUBSCRIBED',
    /not subscribed to model "chd-risk"/,
  );
  await refused(
    ledger.submit('unsubscribe', await chd.request('unsubscribe', { modelId: 'chd-risk' })),
    'NOT_SUBSCRIBED',
  );
  const [more] = cohortUploads(ew.plan, { readings: 1, seed: 6 });
  await ledger.submit('receive', ew.receive([await ew.envelope(more?.readings ?? [], more?.profile)]));
  // Results made before stay the user's; the history shows both setups and the end, in order.
  const results = await contract.query('results', await ew.request('results'));
  assert.deepEqual(results.results.map((r) => r.modelId).sort(), ['chd-risk', 'early-warning']);
  const history = await contract.query('history', await ew.request('history'));
  assert.deepEqual(
    history.setups.map((h) => [h.user?.modelId ?? null, h.isDelete]),
    [
      ['early-warning', false],
      ['chd-risk', false],
      [null, true],
    ],
  );
});

test('a ledger from before subscriptions: the user record serves as its one model; more models join it', async () => {
  const [ew, chd] = await twoModels('olga');
  using _ew = ew;
  using _chd = chd;
  await ledger.submit('setup', await ew.setup());
  await ledger.submit('OlderLayoutContract:regress', { args: ['olga', 'early-warning'] });
  const contract = new FheContractClient(ledger);
  const received = async (user: LocalUser, seed: number) => {
    const [upload] = cohortUploads(user.plan, { readings: 1, seed });
    const envelope = await user.envelope(upload?.readings ?? [], upload?.profile);
    return readAnswer('receive', (await ledger.submit('receive', user.receive([envelope]))).payload)
      .submissions[0]?.id as string;
  };
  // The older record is the early-warning subscription: received, issued with its keys.
  const first = await contract.issue(await ew.request('issue', { submissions: [await received(ew, 21)] }));
  assert.equal(first.result.modelId, 'early-warning');
  // A second model joins the same identity; its own record is written beside.
  await ledger.submit('setup', await chd.setup());
  const second = await contract.issue(await chd.request('issue', { submissions: [await received(chd, 22)] }));
  assert.equal(second.result.modelId, 'chd-risk');
  const history = await contract.query('history', await ew.request('history'));
  // The setup, its record as an older ledger holds it (at user/<u>), then chd-risk's setup.
  assert.deepEqual(
    history.setups.filter((h) => !h.isDelete).map((h) => h.user?.modelId),
    ['early-warning', 'early-warning', 'chd-risk'],
  );
  // Ending the older subscription leaves the identity alone: chd-risk goes on, early warning is refused.
  await ledger.submit('unsubscribe', await ew.request('unsubscribe', { modelId: 'early-warning' }));
  await refused(received(ew, 23), 'NOT_SUBSCRIBED');
  assert.match(await received(chd, 24), /^[0-9a-f]{64}$/);
});
