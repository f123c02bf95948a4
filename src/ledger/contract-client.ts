/**
 * The FHE-Contract's client side, in one home: proposals built the way the contract reads them
 * (signed requests as base64 arguments, binary data in the transient map), and `FheContractClient`,
 * one typed method per transaction over any `Ledger`, whose answers are checked against the
 * contract's own schemas (protocol/contract.ts). Used by the server, the person's client (which
 * signs; it never holds a Ledger), tests and benchmarks. Browser-safe: no Node module.
 */
import { encode } from 'cborg';
import { fromBase64, sha256Hex, toBase64 } from '../protocol/bytes.ts';
import {
  type Answer,
  type ContractTransaction,
  type IssuedResult,
  readAnswer,
} from '../protocol/contract.ts';
import { NONCE_BYTES } from '../protocol/envelope.ts';
import { type Params, type RequestOp, signRequest } from '../protocol/request.ts';
import type { Layout } from '../protocol/schema.ts';
import type { Committed, Ledger, Proposal } from './ledger.ts';

export type { IssuedResult } from '../protocol/contract.ts';

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

/**
 * issue with the signed request; envelopes given are received in the same transaction (an
 * upload and its request to issue: one ordered transaction).
 */
export function issueProposal(request: Uint8Array | string, envelopes?: readonly Uint8Array[]): Proposal {
  const arg = typeof request === 'string' ? request : toBase64(request);
  return { args: [arg], ...(envelopes?.length ? receiveProposal(envelopes) : {}) };
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

/** The ciphertext bytes of one output of an issued result. */
export function outputBytes(issued: IssuedResult, output: number): Uint8Array {
  const o = issued.result.outputs[output];
  const b64 = o ? issued.z[o.blob] : undefined;
  if (b64 === undefined) throw new Error(`result ${issued.result.id} has no output ${output}`);
  return fromBase64(b64);
}

/** A transaction whose id is known before it is sent, with its checked answer once committed. */
export interface PreparedCall<T extends ContractTransaction> {
  readonly txId: string;
  submit(): Promise<{ committed: Committed; answer: Answer<T> }>;
}

/** The transactions that write (ordered and committed); the others are queries. */
export type OrderedTransaction =
  | 'setup'
  | 'unsubscribe'
  | 'receive'
  | 'issue'
  | 'add'
  | 'mult'
  | 'clinician'
  | 'grant'
  | 'revoke'
  | 'share'
  | 'close';
export type QueryTransaction = 'result' | 'submissions' | 'results' | 'history' | 'consent';

/** The contract over a ledger: one method per transaction, each answer checked. */
export class FheContractClient {
  readonly ledger: Ledger;

  constructor(ledger: Ledger) {
    this.ledger = ledger;
  }

  /** Ordered transactions: the id first (record it before sending), then the committed answer. */
  async prepare<T extends OrderedTransaction>(tx: T, proposal: Proposal): Promise<PreparedCall<T>> {
    const prepared = await this.ledger.prepare(tx, proposal);
    return {
      txId: prepared.txId,
      submit: async () => {
        const committed = await prepared.submit();
        return { committed, answer: readAnswer(tx, committed.payload) };
      },
    };
  }

  async submit<T extends OrderedTransaction>(tx: T, proposal: Proposal) {
    return (await this.prepare(tx, proposal)).submit();
  }

  /** A committed transaction's answer, read back from its block (after a crash, or a lost reply). */
  async answerOf<T extends ContractTransaction>(tx: T, txId: string): Promise<Answer<T>> {
    return readAnswer(tx, (await this.ledger.getTransaction(txId)).payload);
  }

  setup(proposal: Proposal) {
    return this.submit('setup', proposal);
  }

  receive(envelopes: readonly Uint8Array[]) {
    return this.submit('receive', receiveProposal(envelopes));
  }

  /** issue(result), then Z read back with the same signed request (issue returns the record only). */
  async issue(proposal: Proposal): Promise<IssuedResult & { committed: Committed }> {
    const { committed } = await this.submit('issue', proposal);
    return { committed, ...(await this.query('result', proposal)) };
  }

  /** Queries, evaluated on committed state: nothing is ordered. */
  async query<T extends QueryTransaction>(tx: T, proposal: Proposal): Promise<Answer<T>> {
    return readAnswer(tx, await this.ledger.evaluate(tx, proposal));
  }
}
