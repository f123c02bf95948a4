/**
 * Closing an account (docs/sharing.md): the person's signed close request deletes every world-state
 * entry of theirs, a bounded number per transaction so that each stays inside Fabric's limits,
 * and the server sends the same request again until the answer says `done`. The blocks keep
 * the history, as on Fabric; what they hold of the person stays unreadable because the only
 * CKKS keys were on the person's device (crypto-shredding).
 *
 * The first transaction marks the identity `closing`: from then on every other request of the
 * user is refused (CLOSED), so a replayed old request cannot recreate what is being deleted.
 * The last deletes the identity and writes `closed/<u>`, so the id is never registered again.
 */
import type { ChaincodeStub } from 'fabric-shim-api';
import type { Answer } from '../protocol/contract.ts';
import { ownerRequest, useNonce, utf8 } from './requests.ts';
import {
  type GrantRecord,
  keys,
  type OperationRecord,
  putJson,
  type ResultRecord,
  type StoredIdentity,
  type SubmissionRecord,
  txTime,
  type UserRecord,
} from './state.ts';

/** Keys deleted per transaction: each is one write-set entry, and the ranges read are bounded too. */
export const CLOSE_BATCH = 400;

/** What else goes with a key: the blobs its record names, and a grant's index entry. */
type Extra = (value: Uint8Array) => string[];

const json = <T>(value: Uint8Array): T => JSON.parse(Buffer.from(value).toString('utf8')) as T;

export async function close(stub: ChaincodeStub, request: string): Promise<Answer<'close'>> {
  const { r, identity } = await ownerRequest(stub, request, 'close');
  const u = r.userId;
  const first = !identity.closing;
  if (first) {
    // The first close uses its nonce; later ones continue what it authorised (the same request).
    await useNonce(stub, r);
    await putJson(stub, keys.user(u), { ...identity, closing: stub.getTxID() });
  }
  const blobs = (hashes: (string | null | undefined)[]) =>
    hashes.filter((h): h is string => !!h).map(keys.blob);
  const ranges: [ReturnType<typeof keys.range>, Extra][] = [
    [keys.range('share', u), () => []],
    [keys.range('grant', u), (v) => [keys.granted(json<GrantRecord>(v).clinicianId, u)]],
    [keys.range('op', u), (v) => blobs([json<OperationRecord>(v).blob])],
    [keys.range('result', u), (v) => blobs(json<ResultRecord>(v).outputs.map((o) => o.blob))],
    [keys.range('sub', u), (v) => blobs(json<SubmissionRecord>(v).ciphertexts)],
    [keys.range('model', u), (v) => blobs([json<UserRecord>(v).relinKeys, json<UserRecord>(v).galoisKeys])],
    [keys.range('granted', u), () => []], // a clinician's index of the grants they received
    [keys.range('nonce', u), () => []],
  ];
  // Reads never see this transaction's own deletes: each range is read from its start, and the
  // batch stops at CLOSE_BATCH keys; the next transaction finds the rest.
  const doomed = new Set<string>();
  let more = false;
  outer: for (const [[start, end], extra] of ranges) {
    for await (const kv of stub.getStateByRange(start, end)) {
      const with_ = [kv.key, ...extra(kv.value)];
      if (doomed.size + with_.length > CLOSE_BATCH) {
        more = true;
        break outer;
      }
      for (const k of with_) doomed.add(k);
    }
  }
  for (const k of doomed) await stub.deleteState(k);
  if (!more) {
    // A record from before subscriptions holds its model's keys itself.
    const legacy = identity as StoredIdentity;
    for (const k of blobs([legacy.relinKeys, legacy.galoisKeys])) await stub.deleteState(k);
    await stub.deleteState(keys.user(u));
    if (first) await stub.deleteState(keys.nonce(u, Buffer.from(r.nonce).toString('hex')));
    await putJson(stub, keys.closed(u), { userId: u, txId: stub.getTxID(), timestamp: txTime(stub) });
    stub.setEvent('closed', utf8(JSON.stringify({ userId: u })));
  }
  return { userId: u, deleted: doomed.size, done: !more, txId: stub.getTxID(), timestamp: txTime(stub) };
}
