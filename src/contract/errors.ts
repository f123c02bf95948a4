/**
 * Why the contract refused a transaction. Fabric carries only a message from the contract to the
 * client, so the code leads the message ("REPLAY: nonce: ...") and `contractErrorCode` reads it
 * back on the other side (server, client).
 */
import type { ContractErrorCode } from '../protocol/contract.ts';

export { CONTRACT_ERROR_CODES, type ContractErrorCode, contractErrorCode } from '../protocol/contract.ts';

export class ContractError extends Error {
  override readonly name = 'ContractError';
  readonly code: ContractErrorCode;

  constructor(code: ContractErrorCode, detail: string, options?: { cause?: unknown }) {
    super(`${code}: ${detail}`, options);
    this.code = code;
  }
}
