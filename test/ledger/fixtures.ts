/** Shared by the ledger tests: temp folders, a small contract for MVCC, and refusal matchers. */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import api, { Context, Contract } from 'fabric-contract-api';
import { guard } from '../../src/ckks/errors.ts';
import { LocalUser } from '../../src/client/user.ts';
import { LedgerError } from '../../src/ledger/errors.ts';

const { Returns, Transaction } = api;
const Params = (...types: unknown[]) => Reflect.metadata('design:paramtypes', [Context, ...types]);
const utf8 = new TextEncoder();
const text = new TextDecoder();

const made: string[] = [];

/**
 * A fresh folder under the system's temp dir, deleted when this test file's process exits
 * (whatever the test did with it: servers, ledgers and PGlite are closed by then or killed).
 */
export async function tempDir(name = 'ledger'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `pmhe-${name}-`));
  if (made.length === 0) {
    process.once('exit', () => {
      for (const d of made) rmSync(d, { recursive: true, force: true });
    });
  }
  made.push(dir);
  return dir;
}

/** A contract with one hot key and a range, to provoke MVCC and phantom conflicts. */
export class CounterContract extends Contract {
  constructor() {
    super('CounterContract');
  }

  @Transaction()
  @Returns('string')
  async increment(ctx: Context): Promise<string> {
    const now = Number(text.decode(await ctx.stub.getState('counter')) || '0') + 1;
    await ctx.stub.putState('counter', utf8.encode(String(now)));
    return String(now);
  }

  @Transaction()
  @Params(String)
  async insert(ctx: Context, key: string): Promise<void> {
    await ctx.stub.putState(`item/${key}`, utf8.encode(key));
  }

  /** Reads the item range and writes how many there were. */
  @Transaction()
  @Returns('string')
  async tally(ctx: Context): Promise<string> {
    let n = 0;
    for await (const _ of ctx.stub.getStateByRange('item/', 'item0')) n++;
    await ctx.stub.putState('tally', utf8.encode(String(n)));
    return String(n);
  }

  @Transaction()
  async abort(_ctx: Context): Promise<void> {
    guard('SEAL_ERROR', 'a test abort', () => {
      throw new WebAssembly.RuntimeError('unreachable');
    });
  }

  @Transaction()
  async random(ctx: Context): Promise<void> {
    await ctx.stub.putState('random', crypto.getRandomValues(new Uint8Array(8)));
  }
}

/** Asserts a refusal at endorsement whose message starts with the contract's error code. */
export async function refused(promise: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof LedgerError, `expected a LedgerError, got ${e}`);
    assert.equal(e.code, 'ENDORSEMENT', e.message);
    assert.ok(e.message.startsWith(`${code}: `), `expected ${code}, got: ${e.message}`);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

/**
 * Puts a user's records back as they were before subscriptions (one model per user, its whole
 * registration at user/<u>), so the contract's reading of older ledgers can be tested.
 */
export class OlderLayoutContract extends Contract {
  constructor() {
    super('OlderLayoutContract');
  }

  @Transaction()
  @Params(String, String)
  async regress(ctx: Context, userId: string, modelId: string): Promise<void> {
    const key = `model/${encodeURIComponent(userId)}/${encodeURIComponent(modelId)}`;
    const record = await ctx.stub.getState(key);
    if (record.length === 0) throw new Error(`no ${key}`);
    await ctx.stub.putState(`user/${encodeURIComponent(userId)}`, record);
    await ctx.stub.deleteState(key);
  }
}

/** One person following early warning and chd-risk (packed): two users sharing one identity key. */
export async function twoModels(userId: string): Promise<[LocalUser, LocalUser]> {
  const ew = await LocalUser.create({ userId, modelId: 'early-warning', layout: 'packed' });
  const chd = await LocalUser.create({
    userId,
    modelId: 'chd-risk',
    layout: 'packed',
    identitySeed: await ew.exportIdentitySeed(),
  });
  return [ew, chd];
}
