/**
 * The contract's key space and records. Per-user data lives under the user's own prefix so that
 * two users' transactions never read or write the same key (no MVCC conflicts between users);
 * ciphertexts and keys are stored once under their content hash.
 *
 *   user/<u>                 IdentityRecord: the user's Ed25519 key (registered by their first setup)
 *   model/<u>/<m>            UserRecord: the user's subscription to model m: template, preset,
 *                            evaluation keys (each model its own, from its own setup)
 *   blob/<sha256>            bytes: a ciphertext or an evaluation key, content-addressed
 *   nonce/<u>/<nonce hex>    the transaction that used this nonce (replays are refused)
 *   sub/<u>/<submission id>  SubmissionRecord: one received tuple
 *   result/<u>/<result id>   ResultRecord: Z and its result schema
 *   op/<u>/<tx id>           OperationRecord: the output of add or mult
 *   grant/<u>/<c>            GrantRecord: person u's consent for clinician c (docs/sharing.md)
 *   granted/<c>/<u>          the same grant's index entry under the clinician, so they can list it
 *   share/<u>/<c>/<r>        ShareRecord: result r shared with c, the hash of its sealed item
 *   closed/<u>               the close transaction that ended u's account: the id is never reused
 */
import type { ChaincodeStub } from 'fabric-shim-api';
import { sha256Hex } from '../protocol/bytes.ts';
import type { IdentityRecord, UserRecord } from '../protocol/contract.ts';
import { ContractError } from './errors.ts';

const part = (s: string) => encodeURIComponent(s);

type RangePrefix = 'sub' | 'result' | 'op' | 'model' | 'nonce' | 'grant' | 'granted' | 'share';

export const keys = {
  user: (u: string) => `user/${part(u)}`,
  subscription: (u: string, m: string) => `model/${part(u)}/${part(m)}`,
  blob: (hash: string) => `blob/${hash}`,
  nonce: (u: string, nonceHex: string) => `nonce/${part(u)}/${nonceHex}`,
  submission: (u: string, id: string) => `sub/${part(u)}/${id}`,
  result: (u: string, id: string) => `result/${part(u)}/${id}`,
  operation: (u: string, txId: string) => `op/${part(u)}/${part(txId)}`,
  grant: (u: string, c: string) => `grant/${part(u)}/${part(c)}`,
  granted: (c: string, u: string) => `granted/${part(c)}/${part(u)}`,
  share: (u: string, c: string, r: string) => `share/${part(u)}/${part(c)}/${part(r)}`,
  closed: (u: string) => `closed/${part(u)}`,
  /** [start, end) of every key with this prefix ('/' + 1 is '0'), or under user u and clinician c. */
  range: (prefix: RangePrefix, u: string, c?: string): [string, string] => {
    const base = c === undefined ? `${prefix}/${part(u)}` : `${prefix}/${part(u)}/${part(c)}`;
    return [`${base}/`, `${base}0`];
  },
};

export { sha256Hex } from '../protocol/bytes.ts';
export type {
  GrantRecord,
  IdentityRecord,
  OperationRecord,
  ResultOutput,
  ResultRecord,
  ShareRecord,
  SubmissionRecord,
  UserRecord,
} from '../protocol/contract.ts';

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Fabric returns an empty value for a missing key. */
export async function getJson<T>(stub: ChaincodeStub, key: string): Promise<T | undefined> {
  const bytes = await stub.getState(key);
  if (bytes.length === 0) return undefined;
  return JSON.parse(fromUtf8.decode(bytes)) as T;
}

export async function putJson(stub: ChaincodeStub, key: string, value: object): Promise<void> {
  await stub.putState(key, utf8.encode(JSON.stringify(value)));
}

/**
 * Stores fresh bytes under their hash without reading first: a ciphertext or a result is new
 * (its randomness makes a second copy all but impossible, and rewriting one changes nothing),
 * and a blind write saves a round trip to the peer and a read that could conflict.
 */
export async function putFreshBlob(stub: ChaincodeStub, bytes: Uint8Array): Promise<string> {
  const hash = sha256Hex(bytes);
  await stub.putState(keys.blob(hash), bytes);
  return hash;
}

/** Stores bytes under their hash unless already there (megabytes of keys); returns the hash. */
export async function putBlob(stub: ChaincodeStub, bytes: Uint8Array): Promise<string> {
  const hash = sha256Hex(bytes);
  const existing = await stub.getState(keys.blob(hash));
  if (existing.length === 0) await stub.putState(keys.blob(hash), bytes);
  return hash;
}

export async function getBlob(stub: ChaincodeStub, hash: string, what: string): Promise<Uint8Array> {
  if (!/^[0-9a-f]{64}$/.test(hash))
    throw new ContractError('BAD_REQUEST', `${what}: "${hash}" is not a hash`);
  const bytes = await stub.getState(keys.blob(hash));
  if (bytes.length === 0) throw new ContractError('NOT_FOUND', `${what}: no stored blob ${hash}`);
  return bytes;
}

/**
 * Puts blob/<hash> in the read set without fetching its bytes: Fabric's GetStateMetadata (which
 * getStateValidationParameter calls) reads the key and records its version, and a read set
 * holds each key once, so a later getState of the same key changes nothing.
 */
export async function touchBlob(stub: ChaincodeStub, hash: string): Promise<void> {
  await stub.getStateValidationParameter(keys.blob(hash));
}

/**
 * A user's identity record. Before subscriptions (one model per user) it was the whole
 * registration, and such a record still serves as the subscription to the model it names.
 */
export type StoredIdentity = IdentityRecord & Partial<UserRecord>;

/**
 * A registered user's identity; UNKNOWN_USER if there is none, and CLOSED once their account is
 * closing (only the close transaction itself, `closing`, goes on then).
 */
export async function getIdentity(
  stub: ChaincodeStub,
  userId: string,
  closing = false,
): Promise<StoredIdentity> {
  const identity = await getJson<StoredIdentity>(stub, keys.user(userId));
  if (!identity) throw new ContractError('UNKNOWN_USER', `user "${userId}" has not run setup`);
  if (identity.closing && !closing) {
    throw new ContractError(
      'CLOSED',
      `user "${userId}" closed their account (transaction ${identity.closing})`,
    );
  }
  return identity;
}

/**
 * The identity already registered under this id, which must hold `publicKey` (FORBIDDEN
 * otherwise); none if the id is free. An id whose account closed is never free again (CLOSED):
 * a new owner would be mistaken for the old one in the blocks.
 */
export async function unusedOrOwnId(
  stub: ChaincodeStub,
  userId: string,
  publicKey: Uint8Array,
): Promise<StoredIdentity | undefined> {
  const existing = await getJson<StoredIdentity>(stub, keys.user(userId));
  if (existing && existing.publicKey !== Buffer.from(publicKey).toString('base64')) {
    throw new ContractError('FORBIDDEN', `user "${userId}" is registered with another key`);
  }
  if (existing?.closing) {
    throw new ContractError(
      'CLOSED',
      `user "${userId}" closed their account (transaction ${existing.closing})`,
    );
  }
  if (!existing && (await stub.getState(keys.closed(userId))).length > 0) {
    throw new ContractError('CLOSED', `user "${userId}" was closed; the id cannot be registered again`);
  }
  return existing;
}

/** A registered clinician's identity, or why there is none. */
export async function getClinician(
  stub: ChaincodeStub,
  clinicianId: string,
  what: string,
): Promise<IdentityRecord> {
  const identity = await getJson<IdentityRecord>(stub, keys.user(clinicianId));
  if (!identity || identity.closing || identity.role !== 'clinician') {
    throw new ContractError('NOT_FOUND', `${what}: no registered clinician "${clinicianId}"`);
  }
  return identity;
}

/** The user's subscription to model m (its own setup's record), or NOT_SUBSCRIBED. */
export async function getSubscription(
  stub: ChaincodeStub,
  identity: StoredIdentity,
  modelId: string,
): Promise<UserRecord> {
  const record = await getJson<UserRecord>(stub, keys.subscription(identity.userId, modelId));
  if (record) return record;
  if (identity.modelId === modelId) return identity as UserRecord;
  throw new ContractError(
    'NOT_SUBSCRIBED',
    `user "${identity.userId}" is not subscribed to model "${modelId}": run setup for it first`,
  );
}

export async function listJson<T>(stub: ChaincodeStub, [start, end]: [string, string]): Promise<T[]> {
  const out: T[] = [];
  for await (const kv of stub.getStateByRange(start, end)) {
    out.push(JSON.parse(fromUtf8.decode(kv.value)) as T);
  }
  return out;
}

/** The transaction's timestamp in ms: the contract's only clock. */
export function txTime(stub: ChaincodeStub): number {
  return stub.getDateTimestamp().getTime();
}
