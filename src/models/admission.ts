/**
 * Admission: the one check an uploaded envelope passes before anything stores it, made by the
 * server at intake and by the contract at receive, so that what the server acknowledges the
 * contract takes. In order: the envelope (size, canonical encoding, signature, template, timestamp
 * window, ciphertext count and size, nonce), the registrant's model and preset, then the tuple's
 * ciphertexts against the plan (count, SEAL's validation, shape, level, exact input scale).
 *
 * What differs between the two callers is only where facts come from: the registrant (database
 * or world state), the nonces already used, the clock (wall clock or transaction time) and where
 * SEAL runs (a worker thread on the server, in process in the contract).
 */
import { CkksContext, HEADER_BYTES, maxPayloadBytes, PRESETS } from '../ckks/index.ts';
import { type Submission, type TemplateRef, verifySubmission } from '../protocol/envelope.ts';
import { ProtocolError } from '../protocol/errors.ts';
import type { Layout } from '../protocol/schema.ts';
import type { Plan } from './compiler.ts';
import { cachedPlan } from './plans.ts';
import { loadTuple } from './runtime.ts';

/** What admission needs to know of the user who signed. */
export interface Registrant {
  userId: string;
  /** Ed25519 public key, raw 32 bytes. */
  publicKey: Uint8Array;
  modelId: string;
  layout: Layout;
  presetId: string;
  template: TemplateRef;
}

export interface AdmissionOptions {
  /**
   * The claimed user's subscription to the envelope's model; throws when there is none (or the
   * caller refuses them). The public key is the user's one identity key.
   */
  registrant: (userId: string, modelId: string) => Promise<Registrant>;
  /** The verifier's clock, ms since the epoch (the contract: the transaction's timestamp). */
  now: number;
  /** Oldest accepted timestamp is now - maxAgeMs (envelope.ts' default when absent). */
  maxAgeMs?: number;
  /** True when the user used this nonce before; called last, so it may record the nonce. */
  nonceSeen: (userId: string, nonce: Uint8Array) => Promise<boolean>;
  /** Checks the tuple's ciphertexts against the plan; by default in this thread (`checkTuple`). */
  checkCiphertexts?: (plan: Plan, ciphertexts: Uint8Array[]) => Promise<void>;
}

export interface Admitted {
  submission: Submission;
  registrant: Registrant;
  plan: Plan;
}

/** Largest ciphertext file of any preset: the exact bound for the user's preset is checked on load. */
const MAX_CIPHERTEXT_FILE =
  Math.max(...Object.values(PRESETS).map((p) => maxPayloadBytes('ciphertext', p))) + HEADER_BYTES;

/** Loads the tuple in this thread and frees it: SEAL's verdict, without keeping anything. */
export async function checkTuple(plan: Plan, ciphertexts: Uint8Array[]): Promise<void> {
  const context = await CkksContext.create(plan.preset.id);
  for (const c of loadTuple(plan, context, ciphertexts)) c.dispose();
}

/** Admits one envelope or throws: a ProtocolError, or whatever `registrant`/`checkCiphertexts` throw. */
export async function admitSubmission(envelope: Uint8Array, options: AdmissionOptions): Promise<Admitted> {
  let registrant: Registrant | undefined;
  const submission = await verifySubmission(envelope, {
    publicKey: async (userId, modelId) => {
      registrant = await options.registrant(userId, modelId);
      return registrant.publicKey;
    },
    template: (id) => (registrant?.template.id === id ? registrant.template.version : undefined),
    now: options.now,
    ...(options.maxAgeMs === undefined ? {} : { maxAgeMs: options.maxAgeMs }),
    limits: { maxCiphertextBytes: MAX_CIPHERTEXT_FILE },
    nonceSeen: options.nonceSeen,
  });
  const user = registrant as Registrant;
  if (submission.modelId !== user.modelId || submission.presetId !== user.presetId) {
    throw new ProtocolError(
      'WRONG_TEMPLATE',
      `made for ${submission.modelId} on ${submission.presetId}; user "${user.userId}" registered ${user.modelId} on ${user.presetId}`,
    );
  }
  const plan = cachedPlan(user.modelId, user.layout, user.presetId);
  await (options.checkCiphertexts ?? checkTuple)(plan, submission.ciphertexts);
  return { submission, registrant: user, plan };
}
