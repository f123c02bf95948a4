/**
 * What the FHE-Contract takes and gives, one definition for the chaincode and every client of
 * it: the limits a transaction must respect, the records it stores, and the answer of each
 * transaction. The chaincode writes these shapes; its clients (ledger/contract-client.ts, the
 * server, the person's client) read them through `readAnswer`, which checks them: a ledger is
 * a trust boundary like any other.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ProtocolError } from './errors.ts';
import { LayoutSchema, ResultSlotSchema, TemplateSchema } from './schema.ts';

/** Limits that keep a transaction inside Fabric's (docs/deploy-fabric.md). */
export const CONTRACT_LIMITS = Object.freeze({
  envelopesPerReceive: 64,
  submissionsPerIssue: 16,
  /** Evaluation keys per setup: Fabric's sample AbsoluteMaxBytes is 10 MiB per block. */
  setupBytes: 9.5 * 1024 * 1024,
  /**
   * How old a signed envelope or writing request may be when it reaches the contract. Their
   * nonces are kept for ever, so age is not what stops a replay; a short window would make a
   * server that was down lose what it had accepted. Queries (nothing stored) keep 5 minutes.
   */
  storedNonceMaxAgeMs: 7 * 24 * 3600 * 1000,
  /** Envelopes per receive, in bytes: they are stored, so they make the transaction's size. */
  receiveBytes: 9 * 1024 * 1024,
});

/**
 * Why the contract refused a transaction. Fabric carries only a message from the contract to the
 * client, so the code leads the message ("REPLAY: nonce: ...") and `contractErrorCode` reads it
 * back on the other side (server, client).
 */
export type ContractErrorCode =
  | 'BAD_REQUEST' // malformed arguments, transient data or request fields
  | 'BAD_SIGNATURE'
  | 'REPLAY'
  | 'STALE'
  | 'UNKNOWN_USER'
  | 'NOT_SUBSCRIBED' // the user has not run setup for this model (or ended the subscription)
  | 'UNKNOWN_MODEL'
  | 'WRONG_TEMPLATE'
  | 'BAD_CIPHERTEXT' // a ciphertext or key that does not load, or not for this preset/plan
  | 'OVERSIZED'
  | 'NOT_FOUND'
  | 'FORBIDDEN'
  | 'EVALUATION_FAILED' // CKKS failed inside the transaction (the transaction fails alone)
  | 'NO_GRANT' // no valid grant (none, revoked, expired, or not for this model or result)
  | 'CLOSED'; // the account is closed or closing: nothing but closing goes on

export const CONTRACT_ERROR_CODES: readonly ContractErrorCode[] = Object.freeze([
  'BAD_REQUEST',
  'BAD_SIGNATURE',
  'REPLAY',
  'STALE',
  'UNKNOWN_USER',
  'NOT_SUBSCRIBED',
  'UNKNOWN_MODEL',
  'WRONG_TEMPLATE',
  'BAD_CIPHERTEXT',
  'OVERSIZED',
  'NOT_FOUND',
  'FORBIDDEN',
  'EVALUATION_FAILED',
  'NO_GRANT',
  'CLOSED',
]);

/** The code at the start of a contract's error message, if it has one. */
export function contractErrorCode(message: string): ContractErrorCode | undefined {
  const code = /^([A-Z_]+): /.exec(message)?.[1];
  return CONTRACT_ERROR_CODES.find((c) => c === code);
}

const Hash = Type.String({ pattern: '^[0-9a-f]{64}$' });
const TemplateRefSchema = Type.Object({ id: Type.String(), version: Type.Integer({ minimum: 1 }) });

/** A user: the Ed25519 key every request and envelope of theirs is checked against. */
export const IdentityRecordSchema = Type.Object({
  userId: Type.String(),
  /** Ed25519 public key, base64. */
  publicKey: Type.String(),
  txId: Type.String(),
  timestamp: Type.Number(),
  /** Absent for a person. */
  role: Type.Optional(Type.Literal('clinician')),
  /** A clinician's X25519 key (base64), which people seal shared results to. */
  boxKey: Type.Optional(Type.String()),
  /** A clinician's name as they registered it (shown to people who grant; not verified). */
  name: Type.Optional(Type.String()),
  /** Set by the first close transaction: the account accepts nothing but closing from then on. */
  closing: Type.Optional(Type.String()),
});
export type IdentityRecord = Static<typeof IdentityRecordSchema>;

/** A person's consent: a clinician may receive results of these models from `from` until `until`. */
export const GrantRecordSchema = Type.Object({
  userId: Type.String(),
  clinicianId: Type.String(),
  /** The clinician's X25519 key the person saw and signed (base64): items are sealed to it. */
  boxKey: Type.String(),
  models: Type.Array(Type.String()),
  /** Results evaluated from this time (ms) are covered... */
  from: Type.Number(),
  /** ...and shared until this time (ms); nothing is shared after it. */
  until: Type.Number(),
  txId: Type.String(),
  timestamp: Type.Number(),
  revokedAt: Type.Union([Type.Number(), Type.Null()]),
  revokeTx: Type.Union([Type.String(), Type.Null()]),
});
export type GrantRecord = Static<typeof GrantRecordSchema>;

/** One sealed item shared under a grant: only its hash is on the ledger, the item is the server's. */
export const ShareRecordSchema = Type.Object({
  userId: Type.String(),
  clinicianId: Type.String(),
  resultId: Type.String(),
  modelId: Type.String(),
  /** SHA-256 of the signed sealed item, hex. */
  item: Hash,
  txId: Type.String(),
  timestamp: Type.Number(),
});
export type ShareRecord = Static<typeof ShareRecordSchema>;

/** A user's subscription to one model: what their setup(m) registered (one per model). */
export const UserRecordSchema = Type.Object({
  userId: Type.String(),
  /** Ed25519 public key, base64. */
  publicKey: Type.String(),
  modelId: Type.String(),
  layout: LayoutSchema,
  presetId: Type.String(),
  template: TemplateRefSchema,
  /** Content hashes of the evaluation keys the plan needs. */
  relinKeys: Type.Union([Hash, Type.Null()]),
  galoisKeys: Type.Union([Hash, Type.Null()]),
  txId: Type.String(),
  timestamp: Type.Number(),
});
export type UserRecord = Static<typeof UserRecordSchema>;

export const SubmissionRecordSchema = Type.Object({
  id: Hash,
  userId: Type.String(),
  modelId: Type.String(),
  presetId: Type.String(),
  template: TemplateRefSchema,
  nonce: Type.String(),
  /** The client's timestamp (signed) and the transaction's. */
  timestamp: Type.Number(),
  receivedAt: Type.Number(),
  /** Ed25519 signature over the canonical submission, base64: with the blobs, anyone can re-verify. */
  signature: Type.String(),
  ciphertexts: Type.Array(Hash),
  bytes: Type.Integer(),
  txId: Type.String(),
});
export type SubmissionRecord = Static<typeof SubmissionRecordSchema>;

export const ResultOutputSchema = Type.Object({
  /** Index into ResultRecord.submissions. */
  submission: Type.Integer({ minimum: 0 }),
  name: Type.String(),
  perReading: Type.Boolean(),
  /** Content hash of Z for this output. */
  blob: Hash,
});
export type ResultOutput = Static<typeof ResultOutputSchema>;

/** Z's record: what each output means (its result schema) and where each ciphertext is. */
export const ResultRecordSchema = Type.Object({
  id: Type.String(),
  userId: Type.String(),
  modelId: Type.String(),
  layout: LayoutSchema,
  presetId: Type.String(),
  template: TemplateRefSchema,
  submissions: Type.Array(Hash),
  outputs: Type.Array(ResultOutputSchema),
  /** The result schema: what each output means and its reference criteria. */
  results: Type.Array(ResultSlotSchema),
  readingsPerSubmission: Type.Integer({ minimum: 1 }),
  txId: Type.String(),
  timestamp: Type.Number(),
});
export type ResultRecord = Static<typeof ResultRecordSchema>;

export const OperationRecordSchema = Type.Object({
  op: Type.Union([Type.Literal('add'), Type.Literal('mult')]),
  userId: Type.String(),
  /** The subscription whose evaluation keys were used. */
  modelId: Type.String(),
  a: Type.String(),
  b: Type.String(),
  blob: Hash,
  txId: Type.String(),
  timestamp: Type.Number(),
});
export type OperationRecord = Static<typeof OperationRecordSchema>;

/** Ciphertexts by content hash, base64. */
const ZSchema = Type.Record(Type.String(), Type.String());

/** Each transaction's answer (the JSON its function returns). */
export const ANSWERS = {
  setup: Type.Object({ user: UserRecordSchema, template: TemplateSchema }),
  unsubscribe: Type.Object({
    userId: Type.String(),
    modelId: Type.String(),
    txId: Type.String(),
    timestamp: Type.Number(),
  }),
  clinician: Type.Object({ clinician: IdentityRecordSchema }),
  grant: Type.Object({ grant: GrantRecordSchema }),
  revoke: Type.Object({ grant: GrantRecordSchema }),
  share: Type.Object({ share: ShareRecordSchema }),
  /** The grants (and what was shared under them) the signer gave, as a person, or received. */
  consent: Type.Object({
    role: Type.Union([Type.Literal('person'), Type.Literal('clinician')]),
    grants: Type.Array(GrantRecordSchema),
    shares: Type.Array(ShareRecordSchema),
    /** For a clinician: the Ed25519 key of each person who granted, to check their items' signatures. */
    people: Type.Array(Type.Object({ userId: Type.String(), publicKey: Type.String() })),
  }),
  /** One close transaction: `done` once the identity itself is gone. */
  close: Type.Object({
    userId: Type.String(),
    deleted: Type.Integer({ minimum: 0 }),
    done: Type.Boolean(),
    txId: Type.String(),
    timestamp: Type.Number(),
  }),
  receive: Type.Object({
    submissions: Type.Array(Type.Pick(SubmissionRecordSchema, ['id', 'userId', 'ciphertexts', 'bytes'])),
  }),
  issue: Type.Object({ result: ResultRecordSchema }),
  /** Z with its record: the owner's read of one result. */
  result: Type.Object({ result: ResultRecordSchema, z: ZSchema }),
  add: Type.Object({ operation: OperationRecordSchema, z: Type.String() }),
  mult: Type.Object({ operation: OperationRecordSchema, z: Type.String() }),
  submissions: Type.Object({ submissions: Type.Array(SubmissionRecordSchema) }),
  results: Type.Object({ results: Type.Array(ResultRecordSchema) }),
  history: Type.Object({
    setups: Type.Array(
      Type.Object({
        txId: Type.String(),
        timestamp: Type.Number(),
        isDelete: Type.Boolean(),
        user: Type.Union([UserRecordSchema, Type.Null()]),
      }),
    ),
  }),
} satisfies Record<string, TSchema>;

export type ContractTransaction = keyof typeof ANSWERS;
export type Answer<T extends ContractTransaction> = Static<(typeof ANSWERS)[T]>;
/** Z as the contract returns it: the record plus its ciphertexts. */
export type IssuedResult = Answer<'result'>;

const text = new TextDecoder('utf-8', { fatal: true });

/** A transaction's answer, checked against its schema; a mismatch names the first bad field. */
export function readAnswer<T extends ContractTransaction>(tx: T, payload: Uint8Array): Answer<T> {
  let value: unknown;
  try {
    value = JSON.parse(text.decode(payload));
  } catch (error) {
    throw new ProtocolError('MALFORMED', `the ${tx} answer is not JSON: ${(error as Error).message}`);
  }
  const schema = ANSWERS[tx];
  if (!Value.Check(schema, value)) {
    const first = Value.Errors(schema, value).First();
    throw new ProtocolError(
      'BAD_FIELD',
      `the ${tx} answer${first?.path ?? ''}: ${first?.message ?? 'does not match its schema'}`,
    );
  }
  return value as Answer<T>;
}
