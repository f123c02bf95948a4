/**
 * The embedded ledger, reached over HTTP from another server replica (issue 18): the replica that
 * owns the ledger folder serves its Ledger methods at /internal/ledger (src/server/ledger-service.ts,
 * behind a bearer token), and the other replicas use this RemoteLedger in its place. Errors come
 * back as the same LedgerErrors (code, message, validation code), so the committer's retries and
 * refusals work unchanged; an owner that cannot be reached is UNAVAILABLE (transient).
 *
 * Chaincode events are not served: the server does not use them.
 */
import { decode, encode } from 'cborg';
import { LedgerError, type LedgerErrorCode } from './errors.ts';
import type {
  BlockInfo,
  ChaincodeEvent,
  Committed,
  Ledger,
  Prepared,
  Proposal,
  TransactionInfo,
} from './ledger.ts';

/** One call: the method and its arguments, CBOR both ways. */
export type LedgerCall =
  | { op: 'prepare'; name: string; proposal: Proposal }
  | { op: 'submit'; txId: string }
  | { op: 'evaluate'; name: string; proposal: Proposal }
  | { op: 'getTransaction'; txId: string }
  | { op: 'getBlock'; number: number }
  | { op: 'height' };

export type LedgerReply =
  | { ok: unknown }
  | { error: { code: LedgerErrorCode; message: string; validationCode?: number; txId?: string } };

export const LEDGER_PATH = '/internal/ledger';

export class RemoteLedger implements Ledger {
  readonly #url: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;

  constructor(url: string, token: string, options: { fetch?: typeof fetch } = {}) {
    this.#url = `${url.replace(/\/+$/, '')}${LEDGER_PATH}`;
    this.#token = token;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  async #call<T>(call: LedgerCall): Promise<T> {
    let reply: Response;
    try {
      reply = await this.#fetch(this.#url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/cbor' },
        body: encode(call) as BodyInit,
      });
    } catch (error) {
      throw new LedgerError(
        'UNAVAILABLE',
        `the ledger's owner ${this.#url} cannot be reached: ${(error as Error).message}`,
      );
    }
    if (reply.status === 401)
      throw new LedgerError('UNAVAILABLE', `the ledger's owner refused the ledger token (${this.#url})`);
    if (!reply.ok)
      throw new LedgerError('UNAVAILABLE', `the ledger's owner answered ${reply.status} (${this.#url})`);
    const body = decode(new Uint8Array(await reply.arrayBuffer())) as LedgerReply;
    if ('error' in body) {
      const { code, message, validationCode, txId } = body.error;
      throw new LedgerError(code, message, {
        ...(validationCode === undefined ? {} : { validationCode }),
        ...(txId === undefined ? {} : { txId }),
      });
    }
    return body.ok as T;
  }

  async prepare(name: string, proposal: Proposal = {}): Promise<Prepared> {
    const { txId } = await this.#call<{ txId: string }>({ op: 'prepare', name, proposal });
    let sent = false;
    return {
      txId,
      submit: () => {
        if (sent) throw new LedgerError('BAD_ARGUMENT', `transaction ${txId} was already submitted`);
        sent = true;
        return this.#call<Committed>({ op: 'submit', txId });
      },
    };
  }

  async submit(name: string, proposal: Proposal = {}): Promise<Committed> {
    return (await this.prepare(name, proposal)).submit();
  }

  evaluate(name: string, proposal: Proposal = {}): Promise<Uint8Array> {
    return this.#call<Uint8Array>({ op: 'evaluate', name, proposal });
  }

  getTransaction(txId: string): Promise<TransactionInfo> {
    return this.#call<TransactionInfo>({ op: 'getTransaction', txId });
  }

  getBlock(number: number): Promise<BlockInfo> {
    return this.#call<BlockInfo>({ op: 'getBlock', number });
  }

  height(): Promise<number> {
    return this.#call<number>({ op: 'height' });
  }

  // biome-ignore lint/correctness/useYield: refused at once; the server does not use events.
  async *events(): AsyncIterable<ChaincodeEvent> {
    throw new LedgerError('BAD_ARGUMENT', 'chaincode events are not served over the ledger service');
  }

  async close(): Promise<void> {}
}
