/**
 * The FHE-Contract (paper §4.3): setup(m), receive(List(tuple)), issue(result), and the generic
 * homomorphic add and mult, plus queries of a user's own data. It runs unchanged on Hyperledger
 * Fabric (chaincode/) and on the embedded peer (src/ledger/).
 *
 * Deterministic by construction: no randomness, no clock but the transaction timestamp, no I/O
 * but the stub; CKKS evaluation and SEAL's serialization are deterministic. Binary inputs arrive
 * in the transient map (Fabric delivers arguments as UTF-8 strings); small signed requests are
 * base64 arguments; results are returned as JSON strings with ciphertexts in base64.
 */
import './logging.ts';
import 'reflect-metadata';
import { decode } from 'cborg';
import api, { Context, Contract } from 'fabric-contract-api';
import type { ChaincodeStub } from 'fabric-shim-api';
import { type CipherVector, CkksContext, loadCiphertext, loadKey, type PresetId } from '../ckks/index.ts';
import { admitSubmission } from '../models/admission.ts';
import { CATALOGUE } from '../models/catalogue/index.ts';
import { evaluate, loadTuple } from '../models/runtime.ts';
import { CONTRACT_LIMITS } from '../protocol/contract.ts';
import { bytesParam, listParam, peekRequest, textParam } from '../protocol/request.ts';
import type { Layout } from '../protocol/schema.ts';
import { close } from './closure.ts';
import { consent, grant, registerClinician, revoke, share } from './consent.ts';
import { ContractError } from './errors.ts';
import { evaluatorFor, planFor } from './plans.ts';
import {
  decodeBase64,
  guardCkks,
  guardCkksAsync,
  guardProtocol,
  guardProtocolAsync,
  ownerRequest,
  useNonce,
  utf8,
  verified,
} from './requests.ts';
import {
  getBlob,
  getIdentity,
  getJson,
  getSubscription,
  type IdentityRecord,
  keys,
  listJson,
  type OperationRecord,
  putBlob,
  putFreshBlob,
  putJson,
  type ResultOutput,
  type ResultRecord,
  type StoredIdentity,
  type SubmissionRecord,
  sha256Hex,
  touchBlob,
  txTime,
  type UserRecord,
  unusedOrOwnId,
} from './state.ts';

const { Info, Returns, Transaction } = api;

/** Parameter types as TypeScript's emitDecoratorMetadata would record them (esbuild does not). */
const Params = (...types: unknown[]) => Reflect.metadata('design:paramtypes', [Context, ...types]);

const LAYOUTS: readonly Layout[] = ['paper', 'packed', 'batch'];

@Info({ title: 'FheContract', description: 'PMHE: models evaluated on CKKS ciphertexts' })
export class FheContract extends Contract {
  constructor() {
    super('FheContract');
  }

  override async unknownTransaction(ctx: Context): Promise<void> {
    const { fcn } = ctx.stub.getFunctionAndParameters();
    throw new ContractError('BAD_REQUEST', `no transaction "${fcn}" in FheContract`);
  }

  /**
   * setup(m): the user subscribes to model m; the evaluation keys for it are recorded, and, on
   * the first setup, their public key. Later setups (another model, or the same one again) must be
   * signed by that key. A person may hold several subscriptions, each with its own keys.
   */
  @Transaction()
  @Returns('string')
  @Params(String)
  async setup(ctx: Context, request: string): Promise<string> {
    const stub = ctx.stub;
    const bytes = decodeBase64(request, 'request');
    const claimed = guardProtocol(() => peekRequest(bytes));
    const publicKey = guardProtocol(() => bytesParam(claimed, 'publicKey'));
    const existing = await unusedOrOwnId(stub, claimed.userId, publicKey);
    if (existing?.role === 'clinician') {
      throw new ContractError(
        'FORBIDDEN',
        `user "${claimed.userId}" is a clinician: clinicians subscribe to no model`,
      );
    }
    const r = await verified(stub, bytes, 'setup', publicKey);
    await useNonce(stub, r);
    const modelId = guardProtocol(() => textParam(r, 'modelId'));
    const layout = guardProtocol(() => textParam(r, 'layout')) as Layout;
    if (!LAYOUTS.includes(layout))
      throw new ContractError('BAD_REQUEST', `params.layout: unknown "${layout}"`);
    const presetId = guardProtocol(() => textParam(r, 'presetId'));
    const plan = planFor(modelId, layout, presetId);

    const transient = stub.getTransient();
    let total = 0;
    for (const value of transient.values()) total += value.length;
    if (total > CONTRACT_LIMITS.setupBytes) {
      throw new ContractError(
        'OVERSIZED',
        `evaluation keys: ${total} bytes, more than ${CONTRACT_LIMITS.setupBytes}`,
      );
    }
    const context = await CkksContext.create(presetId as PresetId);
    const keyHash = async (kind: 'relinKeys' | 'galoisKeys', needed: boolean): Promise<string | null> => {
      if (!needed) return null;
      const bytes = transient.get(kind);
      if (!bytes || bytes.length === 0) {
        throw new ContractError(
          'BAD_REQUEST',
          `transient ${kind}: required by ${plan.template.id} on ${presetId}`,
        );
      }
      const signed = guardProtocol(() => textParam(r, kind));
      if (sha256Hex(bytes) !== signed) {
        throw new ContractError(
          'BAD_REQUEST',
          `transient ${kind}: its hash differs from the signed params.${kind}`,
        );
      }
      const key = guardCkks('BAD_CIPHERTEXT', kind, () => loadKey(context, kind, bytes));
      try {
        if (kind === 'galoisKeys' && 'hasStep' in key) {
          const missing = plan.galoisSteps.filter((s) => !key.hasStep(s));
          if (missing.length > 0) {
            throw new ContractError(
              'BAD_CIPHERTEXT',
              `galoisKeys: no key for rotation steps ${missing.join(', ')}`,
            );
          }
        }
      } finally {
        key.dispose();
      }
      return putBlob(stub, bytes);
    };
    const user: UserRecord = {
      userId: r.userId,
      publicKey: Buffer.from(publicKey).toString('base64'),
      modelId,
      layout,
      presetId,
      template: { id: plan.template.id, version: plan.template.version },
      relinKeys: await keyHash('relinKeys', plan.multiplications.ciphertext > 0),
      galoisKeys: await keyHash('galoisKeys', plan.galoisSteps.length > 0),
      txId: stub.getTxID(),
      timestamp: txTime(stub),
    };
    if (!existing) {
      const identity: IdentityRecord = {
        userId: r.userId,
        publicKey: user.publicKey,
        txId: user.txId,
        timestamp: user.timestamp,
      };
      await putJson(stub, keys.user(r.userId), identity);
    }
    await putJson(stub, keys.subscription(r.userId, modelId), user);
    stub.setEvent('setup', utf8(JSON.stringify({ userId: r.userId, modelId, layout, presetId })));
    return JSON.stringify({ user, template: plan.template });
  }

  /**
   * Ends the signer's subscription to params.modelId: its record leaves the world state (its
   * setup stays in the blocks), so nothing more is received or issued for that model. What was
   * stored for it (submissions, results) stays the user's.
   */
  @Transaction()
  @Returns('string')
  @Params(String)
  async unsubscribe(ctx: Context, request: string): Promise<string> {
    const stub = ctx.stub;
    const { r, identity } = await ownerRequest(stub, request, 'unsubscribe');
    await useNonce(stub, r);
    const modelId = guardProtocol(() => textParam(r, 'modelId'));
    const ended = await getSubscription(stub, identity, modelId);
    await stub.deleteState(keys.subscription(r.userId, modelId));
    if (identity.modelId === modelId) {
      // A record from before subscriptions: it stays as the identity alone.
      const { userId, publicKey, txId, timestamp } = identity;
      await putJson(stub, keys.user(r.userId), { userId, publicKey, txId, timestamp });
    }
    stub.setEvent('unsubscribe', utf8(JSON.stringify({ userId: r.userId, modelId: ended.modelId })));
    return JSON.stringify({ userId: r.userId, modelId, txId: stub.getTxID(), timestamp: txTime(stub) });
  }

  /** A clinician registers their Ed25519 and X25519 keys (consent.ts). */
  @Transaction()
  @Returns('string')
  @Params(String)
  async clinician(ctx: Context, request: string): Promise<string> {
    return JSON.stringify(await registerClinician(ctx.stub, request));
  }

  /** A person grants a clinician access to chosen models' results, for a time (consent.ts). */
  @Transaction()
  @Returns('string')
  @Params(String)
  async grant(ctx: Context, request: string): Promise<string> {
    return JSON.stringify(await grant(ctx.stub, request));
  }

  /** A person ends a grant (consent.ts). */
  @Transaction()
  @Returns('string')
  @Params(String)
  async revoke(ctx: Context, request: string): Promise<string> {
    return JSON.stringify(await revoke(ctx.stub, request));
  }

  /** Records the hash of an item a person shared under a valid grant (consent.ts). */
  @Transaction()
  @Returns('string')
  @Params(String)
  async share(ctx: Context, request: string): Promise<string> {
    return JSON.stringify(await share(ctx.stub, request));
  }

  /** The grants and shares the signer gave or received (consent.ts). */
  @Transaction(false)
  @Returns('string')
  @Params(String)
  async consent(ctx: Context, request: string): Promise<string> {
    return JSON.stringify(await consent(ctx.stub, request));
  }

  /** Closes the signer's account, a batch of state entries per transaction (closure.ts). */
  @Transaction()
  @Returns('string')
  @Params(String)
  async close(ctx: Context, request: string): Promise<string> {
    return JSON.stringify(await close(ctx.stub, request));
  }

  /** receive(List(tuple)): signed envelopes from the transient map, checked and stored. */
  @Transaction()
  @Returns('string')
  async receive(ctx: Context): Promise<string> {
    const stub = ctx.stub;
    const { stored } = await receiveEnvelopes(stub, readEnvelopes(stub.getTransient().get('envelopes')));
    const summary = stored.map(({ id, userId, ciphertexts, bytes }) => ({ id, userId, ciphertexts, bytes }));
    stub.setEvent(
      'received',
      utf8(JSON.stringify({ submissions: summary.map(({ id, userId }) => ({ id, userId })) })),
    );
    return JSON.stringify({ submissions: summary });
  }

  /**
   * issue(result): Z = F(M) on the user's tuples, stored with its result schema. Envelopes in the
   * transient map are received first, in this same transaction: a real-time reading then costs
   * one ordered transaction, and no peer can lag behind a receive it has not committed yet.
   */
  @Transaction()
  @Returns('string')
  @Params(String)
  async issue(ctx: Context, request: string): Promise<string> {
    const stub = ctx.stub;
    const { r, identity } = await ownerRequest(stub, request, 'issue');
    const carried = stub.getTransient().get('envelopes');
    // Reads never see the transaction's own writes: what is received here is used from memory.
    const fresh = carried ? await receiveEnvelopes(stub, readEnvelopes(carried)) : undefined;
    await useNonce(stub, r, fresh?.nonces);
    const ids = guardProtocol(() => listParam(r, 'submissions'));
    if (ids.length === 0 || ids.length > CONTRACT_LIMITS.submissionsPerIssue) {
      throw new ContractError(
        'BAD_REQUEST',
        `params.submissions: 1 to ${CONTRACT_LIMITS.submissionsPerIssue} ids, got ${ids.length}`,
      );
    }
    const tuples = await Promise.all(
      ids.map((id, s) => submissionCiphertexts(stub, r.userId, id, s, fresh?.ciphertexts)),
    );
    // One issue evaluates one model: the subscription of its submissions, as they were made for it.
    const user = await getSubscription(stub, identity, tuples[0]?.modelId ?? '');
    for (const [s, t] of tuples.entries()) {
      if (t.modelId !== user.modelId || t.presetId !== user.presetId) {
        throw new ContractError(
          'WRONG_TEMPLATE',
          `params.submissions[${s}]: made for ${t.modelId} on ${t.presetId}; one issue evaluates one subscription, here ${user.modelId} on ${user.presetId}`,
        );
      }
    }
    const plan = planFor(user.modelId, user.layout, user.presetId);
    using lease = await userEvaluator(stub, user);
    const evaluator = lease.evaluator;
    const outputs: ResultOutput[] = [];
    for (const [s, id] of ids.entries()) {
      const uploads = (tuples[s] as Tuple).ciphertexts;
      const inputs = guardCkks('BAD_CIPHERTEXT', `submission ${id}`, () =>
        loadTuple(plan, evaluator.context, uploads),
      );
      let results: CipherVector[] = [];
      try {
        results = guardCkks('EVALUATION_FAILED', `evaluating ${plan.template.id}`, () =>
          evaluate(plan, evaluator, inputs),
        );
        // One entry per model output; a shared-Z plan's outputs all name its one ciphertext.
        const blobs: string[] = [];
        for (const zo of results) blobs.push(await putFreshBlob(stub, zo.save()));
        for (const [o, output] of plan.outputs.entries()) {
          outputs.push({
            submission: s,
            name: output.name,
            perReading: output.perReading,
            blob: blobs[plan.sharedZ ? 0 : o] as string,
          });
        }
      } finally {
        for (const v of [...inputs, ...results]) v.dispose();
      }
    }
    const result: ResultRecord = {
      id: stub.getTxID(),
      userId: user.userId,
      modelId: user.modelId,
      layout: user.layout,
      presetId: user.presetId,
      template: user.template,
      submissions: ids,
      outputs,
      results: plan.template.result,
      readingsPerSubmission: plan.readingsPerUpload,
      txId: stub.getTxID(),
      timestamp: txTime(stub),
    };
    await putJson(stub, keys.result(user.userId, result.id), result);
    stub.setEvent('issued', utf8(JSON.stringify({ userId: user.userId, resultId: result.id })));
    // Z is in the write set already; returning it too would store it twice in the block (and
    // Fabric's gateway clients accept 4 MiB by default). The owner reads it with `result`.
    return JSON.stringify({ result });
  }

  /** add(a, b): the paper's generic homomorphic addition over stored ciphertexts. */
  @Transaction()
  @Returns('string')
  @Params(String)
  async add(ctx: Context, request: string): Promise<string> {
    return this.#binary(ctx, request, 'add');
  }

  /** mult(a, b): homomorphic multiplication (relinearized with the user's keys, then rescaled). */
  @Transaction()
  @Returns('string')
  @Params(String)
  async mult(ctx: Context, request: string): Promise<string> {
    return this.#binary(ctx, request, 'mult');
  }

  /** The user's submissions, oldest first by their signed timestamp. */
  @Transaction(false)
  @Returns('string')
  @Params(String)
  async submissions(ctx: Context, request: string): Promise<string> {
    const { identity } = await ownerRequest(ctx.stub, request, 'submissions');
    const list = await listJson<SubmissionRecord>(ctx.stub, keys.range('sub', identity.userId));
    list.sort((a, b) => a.timestamp - b.timestamp || a.id.localeCompare(b.id));
    return JSON.stringify({ submissions: list });
  }

  /** The user's results, oldest first. */
  @Transaction(false)
  @Returns('string')
  @Params(String)
  async results(ctx: Context, request: string): Promise<string> {
    const { identity } = await ownerRequest(ctx.stub, request, 'results');
    const list = await listJson<ResultRecord>(ctx.stub, keys.range('result', identity.userId));
    list.sort((a, b) => a.timestamp - b.timestamp || a.id.localeCompare(b.id));
    return JSON.stringify({ results: list });
  }

  /**
   * One result with Z, to its owner only: asked with a fresh "result" request, or with the signed
   * issue request that made it (its nonce names the transaction, so it opens that result only).
   */
  @Transaction(false)
  @Returns('string')
  @Params(String)
  async result(ctx: Context, request: string): Promise<string> {
    const stub = ctx.stub;
    const claimed = guardProtocol(() => peekRequest(decodeBase64(request, 'request')));
    let id: string;
    let user: IdentityRecord;
    if (claimed.op === 'issue') {
      ({ identity: user } = await ownerRequest(stub, request, 'issue'));
      const used = await stub.getState(keys.nonce(user.userId, Buffer.from(claimed.nonce).toString('hex')));
      if (used.length === 0)
        throw new ContractError('NOT_FOUND', 'this issue request has not been committed');
      id = Buffer.from(used).toString('utf8');
    } else {
      const asked = await ownerRequest(stub, request, 'result');
      user = asked.identity;
      id = guardProtocol(() => textParam(asked.r, 'resultId'));
    }
    const result = await getJson<ResultRecord>(stub, keys.result(user.userId, id));
    if (!result) throw new ContractError('NOT_FOUND', `params.resultId: no result ${id} of this user`);
    const z: Record<string, string> = {};
    for (const o of result.outputs) {
      if (o.blob in z) continue; // a shared Z: one ciphertext for every output
      z[o.blob] = Buffer.from(await getBlob(stub, o.blob, `result ${id}`)).toString('base64');
    }
    return JSON.stringify({ result, z });
  }

  /**
   * The user's setups and unsubscriptions over time, oldest first, from the ledger's history of
   * each catalogue model's subscription key (and of the identity key, which held the one
   * subscription before there were several).
   */
  @Transaction(false)
  @Returns('string')
  @Params(String)
  async history(ctx: Context, request: string): Promise<string> {
    const stub = ctx.stub;
    const { identity } = await ownerRequest(stub, request, 'history');
    const setups: { txId: string; timestamp: number; isDelete: boolean; user: UserRecord | null }[] = [];
    const subscriptionKeys = CATALOGUE.map((m) => keys.subscription(identity.userId, m.id));
    for (const key of [keys.user(identity.userId), ...subscriptionKeys]) {
      for await (const m of stub.getHistoryForKey(key)) {
        const value = m.isDelete ? null : (JSON.parse(Buffer.from(m.value).toString('utf8')) as UserRecord);
        if (key === keys.user(identity.userId) && !value?.modelId) continue; // the identity alone
        setups.push({ txId: m.txId, timestamp: millis(m.timestamp), isDelete: m.isDelete, user: value });
      }
    }
    setups.sort((a, b) => a.timestamp - b.timestamp || a.txId.localeCompare(b.txId));
    return JSON.stringify({ setups });
  }

  async #binary(ctx: Context, request: string, op: 'add' | 'mult'): Promise<string> {
    const stub = ctx.stub;
    const { r, identity } = await ownerRequest(stub, request, op);
    await useNonce(stub, r);
    const refs = [guardProtocol(() => textParam(r, 'a')), guardProtocol(() => textParam(r, 'b'))] as const;
    const operands = await Promise.all(
      refs.map((ref, i) => resolveRef(stub, identity, ref, i === 0 ? 'a' : 'b')),
    );
    const [a, b] = operands as [Operand, Operand];
    if (a.modelId !== b.modelId) {
      throw new ContractError(
        'BAD_REQUEST',
        `params.b: a ciphertext of model ${b.modelId}, and params.a of ${a.modelId}; both must be of one subscription`,
      );
    }
    const user = await getSubscription(stub, identity, a.modelId);
    const hashes = operands.map((o) => o.hash);
    using lease = await userEvaluator(stub, user);
    const evaluator = lease.evaluator;
    if (op === 'mult' && !evaluator.relinKeys) {
      throw new ContractError(
        'BAD_REQUEST',
        `mult: user "${user.userId}" registered no relinearization keys`,
      );
    }
    const loaded: CipherVector[] = [];
    let out: CipherVector | undefined;
    try {
      for (const [i, hash] of hashes.entries()) {
        const bytes = await getBlob(stub, hash, refs[i] as string);
        loaded.push(
          guardCkks('BAD_CIPHERTEXT', refs[i] as string, () => loadCiphertext(evaluator.context, bytes)),
        );
      }
      const [x, y] = loaded as [CipherVector, CipherVector];
      out = guardCkks('EVALUATION_FAILED', op, () =>
        op === 'add' ? evaluator.add(x, y) : evaluator.multiply(x, y),
      );
      const bytes = out.save();
      const record: OperationRecord = {
        op,
        userId: user.userId,
        modelId: user.modelId,
        a: refs[0],
        b: refs[1],
        blob: await putFreshBlob(stub, bytes),
        txId: stub.getTxID(),
        timestamp: txTime(stub),
      };
      await putJson(stub, keys.operation(user.userId, record.txId), record);
      return JSON.stringify({ operation: record, z: Buffer.from(bytes).toString('base64') });
    } finally {
      for (const v of [...loaded, ...(out ? [out] : [])]) v.dispose();
    }
  }
}

interface Received {
  stored: SubmissionRecord[];
  /** Nonces used by these envelopes ("<user>/<hex>"): a request in the same transaction may not reuse one. */
  nonces: Set<string>;
  /** Each stored submission's tuple, by its state key (so only its owner's request finds it). */
  ciphertexts: Map<string, Tuple>;
}

/** A submission's ciphertexts, with the subscription they were made for. */
interface Tuple {
  modelId: string;
  presetId: string;
  ciphertexts: Uint8Array[];
}

/** Checks signed envelopes (signature, template, age, nonce, ciphertexts) and stores them. */
async function receiveEnvelopes(stub: ChaincodeStub, envelopes: Uint8Array[]): Promise<Received> {
  const now = txTime(stub);
  const users = new Map<string, UserRecord>();
  const identities = new Map<string, StoredIdentity>();
  const received: Received = { stored: [], nonces: new Set(), ciphertexts: new Map() };
  for (const [i, envelope] of envelopes.entries()) {
    const where = `envelopes[${i}]`;
    // Admission's refusals as the contract's: a CKKS one is BAD_CIPHERTEXT, a protocol one its own.
    const { submission, registrant } = await guardProtocolAsync(where, () =>
      guardCkksAsync('BAD_CIPHERTEXT', where, () =>
        admitSubmission(envelope, {
          registrant: async (userId, modelId) => {
            const identity = identities.get(userId) ?? (await getIdentity(stub, userId));
            identities.set(userId, identity);
            const key = keys.subscription(userId, modelId);
            const user = users.get(key) ?? (await getSubscription(stub, identity, modelId));
            users.set(key, user);
            return { ...user, publicKey: Buffer.from(identity.publicKey, 'base64') };
          },
          now,
          maxAgeMs: CONTRACT_LIMITS.storedNonceMaxAgeMs,
          nonceSeen: async (userId, nonce) => {
            const hex = Buffer.from(nonce).toString('hex');
            if (received.nonces.has(`${userId}/${hex}`)) return true;
            received.nonces.add(`${userId}/${hex}`);
            return (await stub.getState(keys.nonce(userId, hex))).length > 0;
          },
        }),
      ),
    );
    const user = registrant;
    const nonce = Buffer.from(submission.nonce).toString('hex');
    await stub.putState(keys.nonce(user.userId, nonce), utf8(stub.getTxID()));
    const record: SubmissionRecord = {
      id: sha256Hex(envelope),
      userId: user.userId,
      modelId: submission.modelId,
      presetId: submission.presetId,
      template: submission.template,
      nonce,
      timestamp: submission.timestamp,
      receivedAt: now,
      signature: signatureOf(envelope),
      ciphertexts: [],
      bytes: envelope.length,
      txId: stub.getTxID(),
    };
    for (const c of submission.ciphertexts) record.ciphertexts.push(await putFreshBlob(stub, c));
    await putJson(stub, keys.submission(user.userId, record.id), record);
    received.stored.push(record);
    received.ciphertexts.set(keys.submission(user.userId, record.id), {
      modelId: submission.modelId,
      presetId: submission.presetId,
      ciphertexts: [...submission.ciphertexts],
    });
  }
  return received;
}

/** A submission's tuple: received in this transaction, or read from the ledger. */
async function submissionCiphertexts(
  stub: ChaincodeStub,
  userId: string,
  id: string,
  index: number,
  fresh: ReadonlyMap<string, Tuple> | undefined,
): Promise<Tuple> {
  const own = fresh?.get(keys.submission(userId, id));
  if (own) return own;
  const submission = await getJson<SubmissionRecord>(stub, keys.submission(userId, id));
  if (!submission)
    throw new ContractError('NOT_FOUND', `params.submissions[${index}]: no submission ${id} of this user`);
  const ciphertexts = await Promise.all(
    submission.ciphertexts.map((h) => getBlob(stub, h, `submission ${id}`)),
  );
  return { modelId: submission.modelId, presetId: submission.presetId, ciphertexts };
}

/**
 * The user's evaluator, cached by key hashes. Both key blobs are read on every call, cached or
 * not: Fabric compares the endorsers' whole responses, read sets included, and a read made only
 * on one organisation's cache miss fails the transaction. touchBlob records the read without
 * shipping megabytes of key to the chaincode.
 */
async function userEvaluator(stub: ChaincodeStub, user: UserRecord) {
  for (const hash of [user.relinKeys, user.galoisKeys]) if (hash) await touchBlob(stub, hash);
  return guardCkksAsync('EVALUATION_FAILED', 'loading evaluation keys', () =>
    evaluatorFor(user.presetId, { ...user, load: (h) => getBlob(stub, h, 'evaluation key') }),
  );
}

/** One operand of add or mult: a ciphertext's hash and the model whose keys it is under. */
interface Operand {
  hash: string;
  modelId: string;
}

/** "sub:<id>:<i>", "result:<id>:<i>" or "op:<txId>", under the user's own key space. */
async function resolveRef(
  stub: ChaincodeStub,
  identity: StoredIdentity,
  ref: string,
  name: string,
): Promise<Operand> {
  const [kind, id = '', index = '0'] = ref.split(':');
  const i = Number(index);
  const pick = (record: { modelId?: string } | undefined, list: string[] | undefined): Operand => {
    const hash = Number.isSafeInteger(i) && i >= 0 ? list?.[i] : undefined;
    if (hash === undefined)
      throw new ContractError('NOT_FOUND', `params.${name}: no ciphertext "${ref}" of this user`);
    // An operation from before subscriptions has no model: the one the user had then.
    return { hash, modelId: record?.modelId ?? identity.modelId ?? '' };
  };
  const u = identity.userId;
  if (kind === 'sub') {
    const record = await getJson<SubmissionRecord>(stub, keys.submission(u, id));
    return pick(record, record?.ciphertexts);
  }
  if (kind === 'result') {
    const record = await getJson<ResultRecord>(stub, keys.result(u, id));
    return pick(
      record,
      record?.outputs.map((o) => o.blob),
    );
  }
  if (kind === 'op') {
    const record = await getJson<Partial<OperationRecord> & { blob: string }>(stub, keys.operation(u, id));
    return pick(record, record ? [record.blob] : undefined);
  }
  throw new ContractError(
    'BAD_REQUEST',
    `params.${name}: "${ref}" is not sub:<id>:<i>, result:<id>:<i> or op:<txId>`,
  );
}

function readEnvelopes(bytes: Uint8Array | undefined): Uint8Array[] {
  if (!bytes || bytes.length === 0) throw new ContractError('BAD_REQUEST', 'transient envelopes: missing');
  let list: unknown;
  try {
    list = decode(bytes);
  } catch (error) {
    throw new ContractError('BAD_REQUEST', `transient envelopes: not CBOR (${(error as Error).message})`);
  }
  if (!Array.isArray(list) || list.length === 0 || !list.every((e) => e instanceof Uint8Array)) {
    throw new ContractError('BAD_REQUEST', 'transient envelopes: expected a CBOR array of byte strings');
  }
  if (list.length > CONTRACT_LIMITS.envelopesPerReceive) {
    throw new ContractError(
      'OVERSIZED',
      `transient envelopes: ${list.length}, more than ${CONTRACT_LIMITS.envelopesPerReceive}`,
    );
  }
  const total = (list as Uint8Array[]).reduce((n, e) => n + e.length, 0);
  if (total > CONTRACT_LIMITS.receiveBytes) {
    throw new ContractError(
      'OVERSIZED',
      `transient envelopes: ${total} bytes, more than the ${CONTRACT_LIMITS.receiveBytes} one transaction may store; split them`,
    );
  }
  return list as Uint8Array[];
}

function signatureOf(envelope: Uint8Array): string {
  const map = decode(envelope, { useMaps: true }) as Map<string, unknown>;
  return Buffer.from(map.get('signature') as Uint8Array).toString('base64');
}

/** A protobuf Timestamp's seconds may be a number, a string, a bigint or a Long. */
function millis(t: { seconds: unknown; nanos: number }): number {
  const s = t.seconds as { toNumber?: () => number };
  const seconds = typeof s?.toNumber === 'function' ? s.toNumber() : Number(t.seconds);
  return seconds * 1000 + Math.floor(t.nanos / 1e6);
}
