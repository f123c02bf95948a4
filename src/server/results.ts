/**
 * Results are read from the ledger, the system of record: the server keeps no copy of Z, only
 * where each result is. The contract opens a result to its owner's own issue request, which the
 * server stored with the submission. A small cache of the latest answers serves the fetch that
 * follows each result event without a second ledger query.
 */
import { FheContractClient, issueProposal } from '../ledger/contract-client.ts';
import { LedgerError } from '../ledger/errors.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { contractErrorCode, type IssuedResult } from '../protocol/contract.ts';
import { HttpError } from './errors.ts';

/** Answers kept: about 66 KB each for one secure-4096 ciphertext, base64. */
const CACHED_RESULTS = 128;
/** A peer that has not applied the block yet answers NOT_FOUND: ask again this many times. */
const LAG_ATTEMPTS = 5;
const LAG_DELAY_MS = 100;

const notCommittedHere = (error: unknown) =>
  error instanceof LedgerError &&
  (error.code === 'NOT_FOUND' || contractErrorCode(error.message) === 'NOT_FOUND');

export class ResultReader {
  readonly #contract: FheContractClient;
  readonly #cache = new Map<string, IssuedResult>();
  /** Ledger queries made (cache misses and warm-ups), for tests and /metrics. */
  queries = 0;

  constructor(ledger: Ledger) {
    this.#contract = new FheContractClient(ledger);
  }

  /** The result `resultId`, read with the issue request that produced it. */
  async read(resultId: string, issueRequest: Uint8Array): Promise<IssuedResult> {
    const cached = this.#cache.get(resultId);
    if (cached) {
      this.#cache.delete(resultId); // most recently used last
      this.#cache.set(resultId, cached);
      return cached;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return this.#keep(resultId, await this.#query(issueRequest));
      } catch (error) {
        if (!notCommittedHere(error)) throw error;
        // The database records it committed: the peer asked lags behind that block.
        if (attempt === LAG_ATTEMPTS) {
          throw new HttpError(
            503,
            'LEDGER_LAGGING',
            `result ${resultId} is committed but not yet readable here; retry`,
            {
              cause: error,
            },
          );
        }
        await new Promise((resolve) => setTimeout(resolve, LAG_DELAY_MS * attempt));
      }
    }
  }

  /** Reads a result just committed into the cache; a failure only means the owner's fetch asks the ledger. */
  async warm(resultId: string, issueRequest: Uint8Array): Promise<void> {
    try {
      this.#keep(resultId, await this.#query(issueRequest));
    } catch {
      // read() tries again, with the lag allowance, when the owner asks.
    }
  }

  #query(issueRequest: Uint8Array): Promise<IssuedResult> {
    this.queries++;
    return this.#contract.query('result', issueProposal(issueRequest));
  }

  #keep(resultId: string, answer: IssuedResult): IssuedResult {
    if (answer.result.id !== resultId) {
      throw new Error(`the ledger answered result ${answer.result.id} for ${resultId}`);
    }
    this.#cache.set(resultId, answer);
    if (this.#cache.size > CACHED_RESULTS) this.#cache.delete(this.#cache.keys().next().value as string);
    return answer;
  }
}
