/**
 * Request authentication: every call but registration and public reads carries a signed request
 * (op "http": method, path, SHA-256 of the body, timestamp, nonce) in the Authorization header,
 * signed with the user's Ed25519 key. Replays are refused by remembering nonces for the
 * timestamp window; each user reaches only their own data.
 */
import { createHash } from 'node:crypto';
import { AUTH_SCHEME } from '../protocol/api.ts';
import { DEFAULT_MAX_AGE_MS } from '../protocol/envelope.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { peekRequest, type Request, type RequestOp, textParam, verifyRequest } from '../protocol/request.ts';
import type { Db } from './db/database.ts';
import type { User } from './db/schema.ts';
import { HttpError } from './errors.ts';

export interface HttpCall {
  method: string;
  /** Path with query string, as sent. */
  path: string;
  body: Uint8Array;
}

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

export async function authenticate(
  db: Db,
  header: string | undefined,
  call: HttpCall,
  now = Date.now(),
): Promise<User> {
  const prefix = `${AUTH_SCHEME} `;
  if (!header?.startsWith(prefix)) {
    throw new HttpError(401, 'UNAUTHENTICATED', `missing Authorization: ${AUTH_SCHEME} <signed request>`);
  }
  const text = header.slice(prefix.length);
  // Strict base64: Node's decoder skips what it does not know, so "!!!" or spaces would pass.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new HttpError(
      401,
      'UNAUTHENTICATED',
      `Authorization: the signed request after "${AUTH_SCHEME} " is not base64`,
    );
  }
  const bytes = new Uint8Array(Buffer.from(text, 'base64'));
  const claimed = peekRequest(bytes);
  const user = await db
    .selectFrom('users')
    .selectAll()
    .where('user_id', '=', claimed.userId)
    .executeTakeFirst();
  // One answer whether the id is unknown or the key is wrong: nobody learns which ids exist.
  const refused = () =>
    new HttpError(401, 'UNAUTHENTICATED', `the request is not signed by a registered user's key`);
  if (!user) throw refused();
  // Verified as the op it claims, so the signature is checked before anything else is said about
  // it: a wrong op answered before the signature would tell who is registered.
  const request = await verifyRequest(bytes, { op: claimed.op, publicKey: user.public_key, now }).catch(
    (error: unknown) => {
      throw error instanceof ProtocolError && error.code === 'BAD_SIGNATURE' ? refused() : error;
    },
  );
  if (request.op !== 'http') {
    throw new ProtocolError('BAD_FIELD', `op: "${request.op}" signs a contract request, not an HTTP call`);
  }
  const expect = { method: call.method.toUpperCase(), path: call.path, body: sha256Hex(call.body) };
  for (const [name, want] of Object.entries(expect)) {
    if (textParam(request, name) !== want) {
      throw new ProtocolError('BAD_SIGNATURE', `params.${name}: the signature covers another ${name}`);
    }
  }
  const inserted = await db
    .insertInto('http_nonces')
    .values({ user_id: user.user_id, nonce: request.nonce })
    .onConflict((c) => c.doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) {
    throw new ProtocolError('REPLAY', `nonce: this request was already made by user "${user.user_id}"`);
  }
  return user;
}

/** Nonces older than the timestamp window can no longer be replayed (the timestamp is refused). */
export async function pruneNonces(db: Db, now = Date.now()): Promise<void> {
  await db
    .deleteFrom('http_nonces')
    .where('seen_at', '<', new Date(now - 2 * DEFAULT_MAX_AGE_MS))
    .execute();
}

/** A contract request (op `op`) signed by the authenticated user for themselves; 403 if for someone else. */
export async function ownRequest(user: User, bytes: Uint8Array, op: RequestOp): Promise<Request> {
  const request = await verifyRequest(bytes, { op, publicKey: user.public_key, now: Date.now() });
  if (request.userId !== user.user_id) {
    throw new HttpError(403, 'FORBIDDEN', `request: signed as "${request.userId}", not as you`);
  }
  return request;
}
