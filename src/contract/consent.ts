/**
 * Consent on the ledger (docs/sharing.md): clinicians register their keys, a person grants a
 * clinician access to chosen models' results for a time and revokes it, and each item shared
 * under a grant is recorded by the hash of its sealed bytes. Every write is signed by the person
 * whose data it concerns (a clinician's registration by the clinician), so the consent history in
 * the blocks is theirs alone to make, and anyone with ledger access can audit it.
 */
import type { ChaincodeStub } from 'fabric-shim-api';
import { CATALOGUE } from '../models/catalogue/index.ts';
import type { Answer } from '../protocol/contract.ts';
import { bytesParam, listParam, peekRequest, textParam, uintParam } from '../protocol/request.ts';
import { ContractError } from './errors.ts';
import { decodeBase64, guardProtocol, ownerRequest, useNonce, utf8, verified } from './requests.ts';
import {
  type GrantRecord,
  getClinician,
  getJson,
  type IdentityRecord,
  keys,
  listJson,
  putJson,
  type ResultRecord,
  type ShareRecord,
  txTime,
  unusedOrOwnId,
} from './state.ts';

const X25519_KEY_BYTES = 32;
const MAX_NAME_LENGTH = 200;

/** A clinician's one registration: their Ed25519 key (which signs it) and X25519 key, by name. */
export async function registerClinician(stub: ChaincodeStub, request: string): Promise<Answer<'clinician'>> {
  const bytes = decodeBase64(request, 'request');
  const claimed = guardProtocol(() => peekRequest(bytes));
  const publicKey = guardProtocol(() => bytesParam(claimed, 'publicKey'));
  const existing = await unusedOrOwnId(stub, claimed.userId, publicKey);
  if (existing && existing.role !== 'clinician') {
    throw new ContractError('FORBIDDEN', `user "${claimed.userId}" is a person, not a clinician`);
  }
  const r = await verified(stub, bytes, 'clinician', publicKey);
  await useNonce(stub, r);
  const boxKey = guardProtocol(() => bytesParam(r, 'boxKey'));
  if (boxKey.length !== X25519_KEY_BYTES) {
    throw new ContractError(
      'BAD_REQUEST',
      `params.boxKey: expected ${X25519_KEY_BYTES} bytes, got ${boxKey.length}`,
    );
  }
  const name = guardProtocol(() => textParam(r, 'name')).trim();
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new ContractError(
      'BAD_REQUEST',
      `params.name: 1 to ${MAX_NAME_LENGTH} characters, got ${name.length}`,
    );
  }
  const clinician: IdentityRecord = {
    userId: r.userId,
    publicKey: Buffer.from(publicKey).toString('base64'),
    role: 'clinician',
    boxKey: Buffer.from(boxKey).toString('base64'),
    name,
    txId: stub.getTxID(),
    timestamp: txTime(stub),
  };
  await putJson(stub, keys.user(r.userId), clinician);
  stub.setEvent('clinician', utf8(JSON.stringify({ clinicianId: r.userId })));
  return { clinician };
}

/**
 * A person's grant: clinician c may receive their results of `models` evaluated from `from`,
 * shared until `until`. The person signs the clinician's X25519 key as they saw it: a server that
 * showed them another key gets a refused grant, not a readable item. A new grant replaces the old.
 */
export async function grant(stub: ChaincodeStub, request: string): Promise<Answer<'grant'>> {
  const { r } = await personRequest(stub, request, 'grant');
  await useNonce(stub, r);
  const clinicianId = guardProtocol(() => textParam(r, 'clinicianId'));
  const clinician = await getClinician(stub, clinicianId, 'params.clinicianId');
  const boxKey = Buffer.from(guardProtocol(() => bytesParam(r, 'boxKey'))).toString('base64');
  if (boxKey !== clinician.boxKey) {
    throw new ContractError(
      'FORBIDDEN',
      `params.boxKey: not the key clinician "${clinicianId}" registered; check their fingerprint with them`,
    );
  }
  const models = guardProtocol(() => listParam(r, 'models'));
  if (models.length === 0) throw new ContractError('BAD_REQUEST', 'params.models: name at least one model');
  for (const [i, m] of models.entries()) {
    if (!CATALOGUE.some((c) => c.id === m)) {
      throw new ContractError('UNKNOWN_MODEL', `params.models[${i}]: no model "${m}" in the catalogue`);
    }
  }
  const from = guardProtocol(() => uintParam(r, 'from'));
  const until = guardProtocol(() => uintParam(r, 'until'));
  const now = txTime(stub);
  if (!(until > from) || !(until > now)) {
    throw new ContractError(
      'BAD_REQUEST',
      `params.until: ${new Date(until).toISOString()} must be after params.from and after now (${new Date(now).toISOString()})`,
    );
  }
  const record: GrantRecord = {
    userId: r.userId,
    clinicianId,
    boxKey,
    models: [...new Set(models)],
    from,
    until,
    txId: stub.getTxID(),
    timestamp: now,
    revokedAt: null,
    revokeTx: null,
  };
  await putJson(stub, keys.grant(r.userId, clinicianId), record);
  await putJson(stub, keys.granted(clinicianId, r.userId), { userId: r.userId });
  stub.setEvent('grant', utf8(JSON.stringify({ userId: r.userId, clinicianId })));
  return { grant: record };
}

/** Ends a grant now: nothing more is shared under it, and the server stops serving what was. */
export async function revoke(stub: ChaincodeStub, request: string): Promise<Answer<'revoke'>> {
  const { r } = await personRequest(stub, request, 'revoke');
  await useNonce(stub, r);
  const clinicianId = guardProtocol(() => textParam(r, 'clinicianId'));
  const record = await getJson<GrantRecord>(stub, keys.grant(r.userId, clinicianId));
  if (!record || record.revokedAt !== null) {
    throw new ContractError('NO_GRANT', `params.clinicianId: no grant to "${clinicianId}" to revoke`);
  }
  const revoked: GrantRecord = { ...record, revokedAt: txTime(stub), revokeTx: stub.getTxID() };
  await putJson(stub, keys.grant(r.userId, clinicianId), revoked);
  stub.setEvent('revoke', utf8(JSON.stringify({ userId: r.userId, clinicianId })));
  return { grant: revoked };
}

/**
 * Records one shared item by its hash, under a grant valid now and covering the result: its model
 * is granted and it was evaluated at or after the grant's `from`. The item itself (sealed to the
 * clinician) stays off the ledger; the clinician checks what the server gives them against this.
 */
export async function share(stub: ChaincodeStub, request: string): Promise<Answer<'share'>> {
  const { r } = await personRequest(stub, request, 'share');
  await useNonce(stub, r);
  const clinicianId = guardProtocol(() => textParam(r, 'clinicianId'));
  const resultId = guardProtocol(() => textParam(r, 'resultId'));
  const item = guardProtocol(() => textParam(r, 'item'));
  if (!/^[0-9a-f]{64}$/.test(item))
    throw new ContractError('BAD_REQUEST', 'params.item: expected a SHA-256, hex');
  const now = txTime(stub);
  const record = await validGrant(stub, r.userId, clinicianId, now);
  await getClinician(stub, clinicianId, 'params.clinicianId');
  const result = await getJson<ResultRecord>(stub, keys.result(r.userId, resultId));
  if (!result) throw new ContractError('NOT_FOUND', `params.resultId: no result ${resultId} of this user`);
  if (!record.models.includes(result.modelId)) {
    throw new ContractError(
      'NO_GRANT',
      `params.resultId: a result of ${result.modelId}; the grant to "${clinicianId}" covers ${record.models.join(', ')}`,
    );
  }
  if (result.timestamp < record.from) {
    throw new ContractError(
      'NO_GRANT',
      `params.resultId: evaluated ${new Date(result.timestamp).toISOString()}, before the grant's from (${new Date(record.from).toISOString()})`,
    );
  }
  const key = keys.share(r.userId, clinicianId, resultId);
  const earlier = await getJson<ShareRecord>(stub, key);
  if (earlier) {
    if (earlier.item === item) return { share: earlier }; // a retry after a lost answer
    throw new ContractError(
      'BAD_REQUEST',
      `params.resultId: already shared with "${clinicianId}" as another item`,
    );
  }
  const shared: ShareRecord = {
    userId: r.userId,
    clinicianId,
    resultId,
    modelId: result.modelId,
    item,
    txId: stub.getTxID(),
    timestamp: now,
  };
  await putJson(stub, key, shared);
  stub.setEvent('share', utf8(JSON.stringify({ userId: r.userId, clinicianId, resultId })));
  return { share: shared };
}

/**
 * The consent records of the signer: as a person, the grants they gave and what they shared; as
 * a clinician, the grants they received (revoked and expired ones too: the history is the point)
 * and what was shared with them.
 */
export async function consent(stub: ChaincodeStub, request: string): Promise<Answer<'consent'>> {
  const { identity } = await ownerRequest(stub, request, 'consent');
  const u = identity.userId;
  if (identity.role !== 'clinician') {
    return {
      role: 'person',
      grants: await listJson<GrantRecord>(stub, keys.range('grant', u)),
      shares: await listJson<ShareRecord>(stub, keys.range('share', u)),
      people: [],
    };
  }
  const grants: GrantRecord[] = [];
  const shares: ShareRecord[] = [];
  const people: { userId: string; publicKey: string }[] = [];
  for (const { userId } of await listJson<{ userId: string }>(stub, keys.range('granted', u))) {
    const record = await getJson<GrantRecord>(stub, keys.grant(userId, u));
    const person = await getJson<IdentityRecord>(stub, keys.user(userId));
    if (!record || !person) continue; // the person closed their account
    grants.push(record);
    people.push({ userId, publicKey: person.publicKey });
    shares.push(...(await listJson<ShareRecord>(stub, keys.range('share', userId, u))));
  }
  return { role: 'clinician', grants, shares, people };
}

/** The grant from u to c, if it is in force at `now`; NO_GRANT saying why not otherwise. */
async function validGrant(stub: ChaincodeStub, u: string, c: string, now: number): Promise<GrantRecord> {
  const record = await getJson<GrantRecord>(stub, keys.grant(u, c));
  if (!record) throw new ContractError('NO_GRANT', `params.clinicianId: no grant to "${c}"`);
  if (record.revokedAt !== null) {
    throw new ContractError(
      'NO_GRANT',
      `params.clinicianId: the grant to "${c}" was revoked (transaction ${record.revokeTx})`,
    );
  }
  if (now >= record.until) {
    throw new ContractError(
      'NO_GRANT',
      `params.clinicianId: the grant to "${c}" expired ${new Date(record.until).toISOString()}`,
    );
  }
  return record;
}

/** A request from a person (a clinician grants and shares nothing of their own). */
async function personRequest(stub: ChaincodeStub, request: string, op: 'grant' | 'revoke' | 'share') {
  const asked = await ownerRequest(stub, request, op);
  if (asked.identity.role === 'clinician') {
    throw new ContractError(
      'FORBIDDEN',
      `${op}: "${asked.identity.userId}" is a clinician; only a person ${op}s`,
    );
  }
  return asked;
}
