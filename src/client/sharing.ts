/**
 * Sharing with clinicians, the person's side (docs/sharing.md): look a clinician up and check
 * their fingerprint, grant and revoke (signed requests the contract records), and share each
 * decrypted result a grant in force covers, sealed to the clinician, once.
 */

import { getModel } from '../models/catalogue/index.ts';
import { guidanceFor } from '../models/guidance.ts';
import type { Clinician, Grant, Share } from '../protocol/api.ts';
import { fromBase64, sha256Hex } from '../protocol/bytes.ts';
import { readAnswer } from '../protocol/contract.ts';
import { BOX_KEY_BYTES, itemHash, type SharedResult } from '../protocol/shared-item.ts';
import type { ApiClient } from './api-client.ts';
import { entryTime, type History, type HistoryEntry } from './history.ts';
import type { ClientStore } from './store.ts';
import type { LocalUser } from './user.ts';

export interface GrantChoice {
  /** Models whose results the clinician may receive. */
  models: readonly string[];
  /** Results evaluated from this time (ms); default now. */
  from?: number;
  /** Shared until this time (ms). */
  until: number;
}

export interface ShareReport {
  shared: Share[];
  /** Results a grant would cover that could not be shared now, and why (tried again next time). */
  failed: { clinicianId: string; resultId: string; reason: string }[];
}

/** What the person's client needs to share: their signing user, the server, their history and store. */
export interface Sharer {
  user: LocalUser;
  api: ApiClient;
  history: History;
  /** Keeps the X25519 key of each clinician granted, as the person checked it (sealed at rest). */
  store: ClientStore;
}

const grantKey = (clinicianId: string) => `grants/${sha256Hex(new TextEncoder().encode(clinicianId))}`;

const signed = async (
  user: LocalUser,
  op: 'grant' | 'revoke' | 'share',
  params: Parameters<LocalUser['request']>[1],
) => fromBase64((await user.request(op, params)).args?.[0] ?? '');

/**
 * Grants `clinician` (as looked up, with the fingerprint the person compared) the results of
 * `models`. The clinician's X25519 key goes into the signed grant: the contract refuses it if it
 * is not the key the clinician registered.
 */
export async function grantAccess(s: Sharer, clinician: Clinician, choice: GrantChoice): Promise<Grant> {
  for (const m of choice.models) getModel(m); // an unknown model is named before anything is sent
  if (choice.models.length === 0) throw new RangeError('grant: choose at least one model');
  const from = choice.from ?? Date.now();
  if (!(choice.until > from)) throw new RangeError('grant: until must be after from');
  const boxKey = fromBase64(clinician.boxKey);
  if (boxKey.length !== BOX_KEY_BYTES)
    throw new RangeError(`clinician ${clinician.clinicianId}: no X25519 key`);
  const request = await signed(s.user, 'grant', {
    clinicianId: clinician.clinicianId,
    boxKey,
    models: [...choice.models],
    from: Math.floor(from),
    until: Math.floor(choice.until),
  });
  const granted = await s.api.grant(request);
  // Items are sealed to this key, never to one the server shows later.
  await s.store.put(grantKey(clinician.clinicianId), boxKey);
  return granted;
}

export async function revokeAccess(s: Sharer, clinicianId: string): Promise<Grant> {
  return s.api.revoke(await signed(s.user, 'revoke', { clinicianId }));
}

/** What a clinician receives of one history entry: the finished diagnosis, no readings, no key. */
export function sharedResultOf(e: HistoryEntry, userId: string, clinicianId: string): SharedResult {
  const guidance = guidanceFor(e.modelId, e.diagnosis);
  return {
    v: 1,
    userId,
    clinicianId,
    resultId: e.resultId,
    txId: e.txId,
    blockNumber: e.blockNumber,
    submissionId: e.submissionId,
    modelId: e.modelId,
    layout: e.layout,
    readAt: entryTime(e),
    recordedAt: e.recordedAt ?? e.decryptedAt,
    values: { ...e.values },
    diagnosis: {
      ...e.diagnosis,
      ...(e.diagnosis.candidates ? { candidates: [...e.diagnosis.candidates] } : {}),
      findings: [...e.diagnosis.findings],
    } as SharedResult['diagnosis'],
    ...(guidance ? { guidance: { text: guidance.text, source: guidance.source } } : {}),
  };
}

/**
 * Shares every result in the history that a grant in force covers (its model, evaluated at or
 * after the grant's `from`) and that was not shared under it yet. Idempotent: the server lists
 * what each grant already has. A refusal of one item is reported, and the rest go on.
 */
export async function shareOutstanding(s: Sharer): Promise<ShareReport> {
  const report: ShareReport = { shared: [], failed: [] };
  const { grants } = await s.api.grants();
  const active = grants.filter((g) => g.state === 'active' && Date.parse(g.until) > Date.now());
  if (active.length === 0) return report;
  const entries = await s.history.list();
  const boxKeys = new Map<string, Uint8Array>();
  for (const g of active) {
    const done = new Set(g.shared);
    const from = Date.parse(g.from);
    const due = entries.filter(
      (e) => g.models.includes(e.modelId) && !done.has(e.resultId) && (e.recordedAt ?? e.decryptedAt) >= from,
    );
    for (const e of due) {
      try {
        const boxKey = boxKeys.get(g.clinicianId) ?? (await grantedKey(s, g.clinicianId));
        boxKeys.set(g.clinicianId, boxKey);
        const item = await s.user.sealForClinician(sharedResultOf(e, s.user.userId, g.clinicianId), boxKey);
        const request = await signed(s.user, 'share', {
          clinicianId: g.clinicianId,
          resultId: e.resultId,
          item: itemHash(item),
        });
        report.shared.push(await s.api.share(request, item));
      } catch (error) {
        report.failed.push({
          clinicianId: g.clinicianId,
          resultId: e.resultId,
          reason: (error as Error).message,
        });
      }
    }
  }
  return report;
}

/**
 * The clinician's X25519 key as granted: kept on this device when it granted; on another device
 * (restored from a backup) the key in the grant the ledger recorded, as the server relays it.
 */
async function grantedKey(s: Sharer, clinicianId: string): Promise<Uint8Array> {
  const kept = await s.store.get(grantKey(clinicianId));
  if (kept) return kept;
  const answer = await s.api.consent(fromBase64((await s.user.request('consent')).args?.[0] ?? ''));
  const record = readAnswer('consent', new TextEncoder().encode(JSON.stringify(answer))).grants.find(
    (g) => g.clinicianId === clinicianId,
  );
  if (!record) throw new Error(`the ledger has no grant to "${clinicianId}"`);
  const boxKey = fromBase64(record.boxKey);
  await s.store.put(grantKey(clinicianId), boxKey);
  return boxKey;
}
