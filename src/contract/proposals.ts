/**
 * Building FheContract transactions and reading their answers: what the server (and tests and
 * benchmarks) hand to a Ledger. Signed requests are made on the client, which holds the key;
 * these helpers take the signed bytes or sign with a key given to them.
 */
import { encode } from 'cborg';
import type { Committed, Ledger, Proposal } from '../ledger/ledger.ts';
import { fromBase64, sha256Hex, toBase64 } from '../protocol/bytes.ts';
import { NONCE_BYTES } from '../protocol/envelope.ts';
import { type Params, type RequestOp, signRequest } from '../protocol/request.ts';
import type { Layout } from '../protocol/schema.ts';
import type { OperationRecord, ResultRecord, SubmissionRecord, UserRecord } from './state.ts';

export interface Signer {
  userId: string;
  privateKey: CryptoKey;
}

/** Signs a request for `op` now, with a fresh nonce. */
export async function signedRequest(
  signer: Signer,
  op: RequestOp,
  params: Params,
  now = Date.now(),
): Promise<string> {
  const bytes = await signRequest(
    {
      op,
      userId: signer.userId,
      nonce: crypto.getRandomValues(new Uint8Array(NONCE_BYTES)),
      timestamp: now,
      params,
    },
    signer.privateKey,
  );
  return toBase64(bytes);
}

export interface SetupInput {
  modelId: string;
  layout: Layout;
  presetId: string;
  /** Raw Ed25519 public key (32 bytes) of the signer. */
  publicKey: Uint8Array;
  relinKeys?: Uint8Array;
  galoisKeys?: Uint8Array;
}

export async function setupProposal(signer: Signer, input: SetupInput, now = Date.now()): Promise<Proposal> {
  const params: Params = {
    modelId: input.modelId,
    layout: input.layout,
    presetId: input.presetId,
    publicKey: input.publicKey,
  };
  const transient: Record<string, Uint8Array> = {};
  for (const kind of ['relinKeys', 'galoisKeys'] as const) {
    const bytes = input[kind];
    if (bytes) {
      params[kind] = sha256Hex(bytes);
      transient[kind] = bytes;
    }
  }
  return { args: [await signedRequest(signer, 'setup', params, now)], transient };
}

/** receive: envelopes travel in the transient map as one CBOR array of byte strings. */
export function receiveProposal(envelopes: readonly Uint8Array[]): Proposal {
  return { transient: { envelopes: encode([...envelopes]) } };
}

/** The id the contract gives a submission: the SHA-256 of its envelope (the client knows it first). */
export const submissionId = (envelope: Uint8Array): string => sha256Hex(envelope);

export async function requestProposal(
  signer: Signer,
  op: Exclude<RequestOp, 'setup'>,
  params: Params = {},
  now = Date.now(),
): Promise<Proposal> {
  return { args: [await signedRequest(signer, op, params, now)] };
}

const text = new TextDecoder();
const json = <T>(payload: Uint8Array): T => JSON.parse(text.decode(payload)) as T;

/** Z as the contract returns it: records plus ciphertexts by content hash, in base64. */
export interface IssuedResult {
  result: ResultRecord;
  z: Record<string, string>;
}

export const parse = {
  setup: (p: Uint8Array) => json<{ user: UserRecord; template: unknown }>(p),
  receive: (p: Uint8Array) =>
    json<{ submissions: Pick<SubmissionRecord, 'id' | 'userId' | 'ciphertexts' | 'bytes'>[] }>(p),
  issue: (p: Uint8Array) => json<{ result: ResultRecord }>(p),
  result: (p: Uint8Array) => json<IssuedResult>(p),
  operation: (p: Uint8Array) => json<{ operation: OperationRecord; z: string }>(p),
  submissions: (p: Uint8Array) => json<{ submissions: SubmissionRecord[] }>(p),
  results: (p: Uint8Array) => json<{ results: ResultRecord[] }>(p),
  history: (p: Uint8Array) =>
    json<{ setups: { txId: string; timestamp: number; user: UserRecord | null }[] }>(p),
};

/** The ciphertext bytes of one output of an issued result. */
export function outputBytes(issued: IssuedResult, output: number): Uint8Array {
  const o = issued.result.outputs[output];
  const b64 = o ? issued.z[o.blob] : undefined;
  if (b64 === undefined) throw new Error(`result ${issued.result.id} has no output ${output}`);
  return fromBase64(b64);
}

/**
 * issue(result), then Z read back with the same signed request (issue returns the result record
 * only: Z is in the write set, and returning it too would store it twice).
 */
export async function issue(
  ledger: Ledger,
  proposal: Proposal,
): Promise<IssuedResult & { committed: Committed }> {
  const committed = await ledger.submit('issue', proposal);
  return { committed, ...parse.result(await ledger.evaluate('result', proposal)) };
}
