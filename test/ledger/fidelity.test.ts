/**
 * The embedded ledger fails where Fabric fails (FABRIC-NOTES.md, "Seen when PMHE's own chaincode
 * ran on that network"): Buffers from fabric-shim, two organisations endorsing independently
 * with their own caches, a peer that commits blocks later than the other, randomness.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import api, { type Context, Contract } from 'fabric-contract-api';
import { LocalUser } from '../../src/client/user.ts';
import { FheContractClient } from '../../src/ledger/contract-client.ts';
import { EmbeddedLedger } from '../../src/ledger/embedded.ts';
import type { LedgerError } from '../../src/ledger/errors.ts';
import { cohortUploads } from '../../src/models/cohort.ts';
import { readAnswer } from '../../src/protocol/contract.ts';
import { CounterContract, tempDir } from './fixtures.ts';

const { Returns, Transaction } = api;

/** Reports what kind of value each stub call hands the contract. */
class KindsContract extends Contract {
  constructor() {
    super('KindsContract');
  }

  @Transaction()
  async store(ctx: Context): Promise<void> {
    await ctx.stub.putState('item/a', Uint8Array.of(1, 2, 3));
  }

  @Transaction(false)
  @Returns('string')
  async kinds(ctx: Context): Promise<string> {
    const kind = (v: unknown) => (Buffer.isBuffer(v) ? 'Buffer' : (v as object)?.constructor?.name);
    const ranged: string[] = [];
    for await (const kv of ctx.stub.getStateByRange('item/', 'item0')) ranged.push(kind(kv.value));
    return JSON.stringify({
      getState: kind(await ctx.stub.getState('item/a')),
      missing: kind(await ctx.stub.getState('item/none')),
      transient: kind(ctx.stub.getTransient().get('t')),
      range: ranged,
    });
  }
}

test('BUFFERS: getState, getTransient and range reads hand the contract Node Buffers, as fabric-shim does', async (t) => {
  const ledger = await EmbeddedLedger.open(await tempDir(), { contracts: [KindsContract] });
  t.after(() => ledger.close());
  await ledger.submit('store');
  const seen = JSON.parse(
    new TextDecoder().decode(await ledger.evaluate('kinds', { transient: { t: Uint8Array.of(9) } })),
  );
  assert.deepEqual(seen, { getState: 'Buffer', missing: 'Buffer', transient: 'Buffer', range: ['Buffer'] });
});

test('TWO ORGANISATIONS: a contract using randomness is refused (MISMATCH naming the key); one organisation accepts it silently', async () => {
  const two = await EmbeddedLedger.open(await tempDir(), { contracts: [CounterContract] });
  await assert.rejects(two.submit('random'), (e: LedgerError) => {
    assert.equal(e.code, 'MISMATCH');
    assert.match(
      e.message,
      /ProposalResponsePayloads do not match: Org1MSP and Org2MSP differ in .*key=random/,
    );
    return true;
  });
  assert.equal(await two.height(), 0, 'nothing was ordered');
  await two.close();
  const one = await EmbeddedLedger.open(await tempDir(), {
    contracts: [CounterContract],
    endorsers: [{ mspid: 'Org1MSP' }],
  });
  await one.submit('random');
  await one.close();
});

test('COLD CACHE: one organisation restarts its chaincode (cold evaluator cache), the other does not; issue still endorses', async (t) => {
  const ledger = await EmbeddedLedger.open(await tempDir(), { workers: 1 });
  t.after(() => ledger.close());
  using user = await LocalUser.create({ userId: 'cora', modelId: 'early-warning', layout: 'packed' });
  await ledger.submit('setup', await user.setup());
  const uploads = cohortUploads(user.plan, { readings: 3, seed: 5 });
  const issueOne = async (i: number) => {
    const u = uploads[i] as (typeof uploads)[number];
    const item = await user.upload(u.readings, u.profile);
    return ledger.submit('issue', {
      args: [Buffer.from(item.issue as Uint8Array).toString('base64')],
      transient: user.receive([item.envelope]).transient ?? {},
    });
  };
  await issueOne(0); // both organisations' caches warm
  await ledger.restartChaincode(1); // Org2's cache cold, Org1's warm
  const committed = await issueOne(1);
  assert.ok(readAnswer('issue', committed.payload).result.outputs.length > 0);
  await ledger.restartChaincode(0); // now Org1 cold, Org2 warm
  await issueOne(2);
});

test('LAGGING PEER: Org2 commits blocks 1.5 s late; an issue right after its receive is MISMATCH (not a refusal), then passes', async (t) => {
  const ledger = await EmbeddedLedger.open(await tempDir(), {
    workers: 1,
    endorsers: [{ mspid: 'Org1MSP' }, { mspid: 'Org2MSP', lagMs: 1500 }],
  });
  t.after(() => ledger.close());
  using user = await LocalUser.create({ userId: 'lena', modelId: 'early-warning', layout: 'packed' });
  const setup = await user.setup();
  // Org2 has not seen the setup yet: a new user is unknown to it only.
  await ledger.submit('setup', setup);
  const [u] = cohortUploads(user.plan, { readings: 1, seed: 3 });
  const envelope = await user.envelope(u?.readings ?? [], u?.profile);
  await assert.rejects(ledger.submit('receive', user.receive([envelope])), (e: LedgerError) => {
    assert.equal(e.code, 'MISMATCH', e.message);
    assert.match(e.message, /Org2MSP refused .*UNKNOWN_USER/);
    return true;
  });
  await new Promise((r) => setTimeout(r, 1600));
  const received = await ledger.submit('receive', user.receive([envelope]));
  const ids = readAnswer('receive', received.payload).submissions.map((s) => s.id);
  const request = await user.request('issue', { submissions: ids });
  await assert.rejects(ledger.submit('issue', request), (e: LedgerError) => {
    assert.equal(e.code, 'MISMATCH', e.message);
    assert.match(e.message, /Org2MSP refused .*NOT_FOUND: params\.submissions\[0\]/);
    return true;
  });
  await new Promise((r) => setTimeout(r, 1600));
  const issued = await new FheContractClient(ledger).issue(request);
  assert.equal(issued.result.submissions[0], ids[0]);
});
