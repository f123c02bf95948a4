/**
 * What every transaction does first: decode its arguments, check the signed request (the user's
 * key, the op, the timestamp window), record its nonce, and turn protocol and CKKS failures into
 * the contract's own codes (src/protocol/contract.ts), which lead the message Fabric carries.
 */
import type { ChaincodeStub } from 'fabric-shim-api';
import { CkksError } from '../ckks/index.ts';
import { CONTRACT_LIMITS } from '../protocol/contract.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { peekRequest, type Request, type RequestOp, verifyRequest } from '../protocol/request.ts';
import { ContractError } from './errors.ts';
import { getIdentity, keys, txTime } from './state.ts';

/** Requests whose nonce is stored (for ever): they may be old, a server that was down must not lose them. */
const WRITING_OPS: readonly RequestOp[] = [
  'setup',
  'unsubscribe',
  'issue',
  'add',
  'mult',
  'clinician',
  'grant',
  'revoke',
  'share',
  'close',
];

/** A signed request from a registered user, for this op, within the timestamp window. */
export async function ownerRequest(stub: ChaincodeStub, request: string, op: RequestOp) {
  const bytes = decodeBase64(request, 'request');
  const claimed = guardProtocol(() => peekRequest(bytes));
  const identity = await getIdentity(stub, claimed.userId, op === 'close');
  const r = await verified(stub, bytes, op, Buffer.from(identity.publicKey, 'base64'));
  return { r, identity };
}

export async function verified(
  stub: ChaincodeStub,
  bytes: Uint8Array,
  op: RequestOp,
  key: Uint8Array,
): Promise<Request> {
  // Requests whose nonce is stored (for ever) may be old: a server that was down must not lose them.
  const maxAgeMs = WRITING_OPS.includes(op) ? CONTRACT_LIMITS.storedNonceMaxAgeMs : undefined;
  return guardProtocolAsync('request', () =>
    verifyRequest(bytes, { op, publicKey: key, now: txTime(stub), ...(maxAgeMs ? { maxAgeMs } : {}) }),
  );
}

/** Records a request's nonce; a second use (also by an envelope of the same transaction) is a replay. */
export async function useNonce(
  stub: ChaincodeStub,
  r: Request,
  usedHere?: ReadonlySet<string>,
): Promise<void> {
  const hex = Buffer.from(r.nonce).toString('hex');
  const key = keys.nonce(r.userId, hex);
  if (usedHere?.has(`${r.userId}/${hex}`) || (await stub.getState(key)).length > 0) {
    throw new ContractError('REPLAY', `nonce: already used by user "${r.userId}"`);
  }
  await stub.putState(key, utf8(stub.getTxID()));
}

export function decodeBase64(text: string, what: string): Uint8Array {
  if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new ContractError('BAD_REQUEST', `${what}: expected base64`);
  }
  return new Uint8Array(Buffer.from(text, 'base64'));
}

export const utf8 = (s: string) => new TextEncoder().encode(s);

const PROTOCOL_TO_CONTRACT: Partial<Record<ProtocolError['code'], ContractError['code']>> = {
  BAD_SIGNATURE: 'BAD_SIGNATURE',
  REPLAY: 'REPLAY',
  STALE: 'STALE',
  FUTURE: 'STALE',
  UNKNOWN_TEMPLATE: 'WRONG_TEMPLATE',
  WRONG_TEMPLATE_VERSION: 'WRONG_TEMPLATE',
  OVERSIZED: 'OVERSIZED',
  LAYOUT: 'BAD_CIPHERTEXT',
  WRONG_TEMPLATE: 'WRONG_TEMPLATE',
};

export function toContractError(error: unknown, where?: string): unknown {
  if (error instanceof ProtocolError) {
    const code = PROTOCOL_TO_CONTRACT[error.code] ?? 'BAD_REQUEST';
    return new ContractError(code, where ? `${where}: ${error.message}` : error.message, { cause: error });
  }
  if (error instanceof ContractError || !where) return error;
  if (error instanceof Error)
    return new ContractError('BAD_REQUEST', `${where}: ${error.message}`, { cause: error });
  return error;
}

export function guardProtocol<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw toContractError(error);
  }
}

export async function guardProtocolAsync<T>(where: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw toContractError(error, where);
  }
}

/** A CKKS failure (including a WebAssembly abort) fails this transaction only. */
export function guardCkks<T>(code: 'BAD_CIPHERTEXT' | 'EVALUATION_FAILED', where: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof CkksError)
      throw new ContractError(code, `${where}: ${error.message}`, { cause: error });
    throw toContractError(error, where);
  }
}

export async function guardCkksAsync<T>(
  code: 'BAD_CIPHERTEXT' | 'EVALUATION_FAILED',
  where: string,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof CkksError)
      throw new ContractError(code, `${where}: ${error.message}`, { cause: error });
    throw error;
  }
}
