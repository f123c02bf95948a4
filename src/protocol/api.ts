/**
 * The server's HTTP API (/v1), one definition for both sides: the server validates and
 * serializes with these schemas and publishes them as its OpenAPI document; the client types its
 * calls with them. Binary bodies (keys, envelopes) are CBOR (`application/cbor`): their shapes
 * are below as `*Body` types and checked with `checkCbor`.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { decode } from 'cborg';
import { ResultRecordSchema } from './contract.ts';
import { ProtocolError } from './errors.ts';
import { LayoutSchema, TemplateSchema } from './schema.ts';

export const API_PREFIX = '/v1';
/** Header carrying the signed request that authenticates an HTTP request. */
export const AUTH_HEADER = 'authorization';
export const AUTH_SCHEME = 'PMHE-Ed25519';
export const CBOR = 'application/cbor';

export const ErrorSchema = Type.Object(
  {
    statusCode: Type.Integer(),
    /** A stable, machine-readable code: REPLAY, BAD_SIGNATURE, OVERSIZED, … */
    code: Type.String(),
    error: Type.String(),
    message: Type.String(),
  },
  { $id: 'Error' },
);
export type ApiError = Static<typeof ErrorSchema>;

/** What a client needs to register for and upload to one (model, layout) at its preset. */
export const PlanInfoSchema = Type.Object({
  layout: LayoutSchema,
  presetId: Type.String(),
  /** Whether the setup must carry relinearization keys (the plan multiplies ciphertexts). */
  relinKeys: Type.Boolean(),
  /** The rotation steps the setup's Galois keys must cover (none: send no Galois keys). */
  galoisSteps: Type.Array(Type.Integer()),
  ciphertextsPerUpload: Type.Integer(),
  readingsPerUpload: Type.Integer(),
  /** log2 of the exact scale each ciphertext of an upload is encrypted at, in order. */
  inputScaleBits: Type.Array(Type.Integer()),
  /** Rescales the evaluation spends: fresh ciphertexts must be at least at this level. */
  depth: Type.Integer(),
});

export const CatalogueSchema = Type.Object({
  models: Type.Array(
    Type.Object({
      id: Type.String(),
      name: Type.String(),
      description: Type.String(),
      /** For each layout the model supports: the tuple template P the client must follow. */
      templates: Type.Array(TemplateSchema),
      /** For each layout, in the same order: the keys and ciphertexts it takes. */
      plans: Type.Array(PlanInfoSchema),
    }),
  ),
});
export type Catalogue = Static<typeof CatalogueSchema>;

/** POST /v1/users body (CBOR): the contract's setup request and the evaluation keys it names. */
export const RegisterBodySchema = Type.Object({
  setup: Type.Uint8Array({ maxByteLength: 64 * 1024 }),
  relinKeys: Type.Optional(Type.Uint8Array()),
  galoisKeys: Type.Optional(Type.Uint8Array()),
  /** An enrolment code from the operator: required for a new user when the server enrols. */
  enrolment: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
});
export type RegisterBody = Static<typeof RegisterBodySchema>;

/** POST /v1/enrolments (operator, JSON): how long the code stays valid, and a note for the operator. */
export const EnrolmentRequestSchema = Type.Object(
  {
    hours: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 24 * 366, default: 168 })),
    note: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const EnrolmentSchema = Type.Object({
  /** Shown once: only its hash is kept. */
  token: Type.String(),
  expiresAt: Type.String({ format: 'date-time' }),
});

export const UserSchema = Type.Object({
  userId: Type.String(),
  modelId: Type.String(),
  layout: LayoutSchema,
  presetId: Type.String(),
  template: TemplateSchema,
  txId: Type.String(),
});
export type RegisteredUser = Static<typeof UserSchema>;

/** One model a user registered (their subscription to it). */
export const SubscriptionSchema = Type.Object({
  modelId: Type.String(),
  layout: LayoutSchema,
  presetId: Type.String(),
  template: Type.Object({ id: Type.String(), version: Type.Integer({ minimum: 1 }) }),
  /** The setup transaction that registered its evaluation keys. */
  txId: Type.String(),
  subscribedAt: Type.String({ format: 'date-time' }),
});
export type Subscription = Static<typeof SubscriptionSchema>;

/** GET /v1/users/me: who the signed request's key belongs to, and their models. */
export const MeSchema = Type.Object({
  userId: Type.String(),
  subscriptions: Type.Array(SubscriptionSchema),
});
export type Me = Static<typeof MeSchema>;

/** POST /v1/users/me/unsubscribe body (CBOR): the signed request (op "unsubscribe", params modelId). */
export const UnsubscribeBodySchema = Type.Object({ request: Type.Uint8Array({ maxByteLength: 64 * 1024 }) });
export type UnsubscribeBody = Static<typeof UnsubscribeBodySchema>;

export const UnsubscribedSchema = Type.Object({
  userId: Type.String(),
  modelId: Type.String(),
  txId: Type.String(),
});
export type Unsubscribed = Static<typeof UnsubscribedSchema>;

/** A body (CBOR) that is one signed request: grants, revocations, consent reads, closing. */
export const RequestBodySchema = Type.Object({ request: Type.Uint8Array({ maxByteLength: 64 * 1024 }) });
export type RequestBody = Static<typeof RequestBodySchema>;

/** POST /v1/clinicians body (CBOR): the clinician's signed request (op "clinician"). */
export const ClinicianRegisterBodySchema = Type.Object({
  request: Type.Uint8Array({ maxByteLength: 64 * 1024 }),
  enrolment: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
});
export type ClinicianRegisterBody = Static<typeof ClinicianRegisterBodySchema>;

/** A registered clinician, as a person looks them up before granting. */
export const ClinicianSchema = Type.Object({
  clinicianId: Type.String(),
  name: Type.String(),
  /** Ed25519 (signing) and X25519 (receiving) keys, base64. */
  publicKey: Type.String(),
  boxKey: Type.String(),
  /** SHA-256 of the X25519 key, first 10 bytes in groups: to compare with the clinician's own. */
  fingerprint: Type.String(),
  txId: Type.String(),
});
export type Clinician = Static<typeof ClinicianSchema>;

export const GrantStateSchema = Type.Union([
  Type.Literal('active'),
  Type.Literal('revoked'),
  Type.Literal('expired'),
]);

/** A grant as the server knows it (the ledger's record, with its state now and what was shared). */
export const GrantSchema = Type.Object({
  userId: Type.String(),
  clinicianId: Type.String(),
  clinicianName: Type.String(),
  models: Type.Array(Type.String()),
  from: Type.String({ format: 'date-time' }),
  until: Type.String({ format: 'date-time' }),
  state: GrantStateSchema,
  txId: Type.String(),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revokeTx: Type.Union([Type.String(), Type.Null()]),
  /** Result ids shared under it, oldest first. */
  shared: Type.Array(Type.String()),
});
export type Grant = Static<typeof GrantSchema>;

export const GrantListSchema = Type.Object({
  role: Type.Union([Type.Literal('person'), Type.Literal('clinician')]),
  grants: Type.Array(GrantSchema),
});
export type GrantList = Static<typeof GrantListSchema>;

/** POST /v1/shares body (CBOR): the signed sealed item and the signed share request naming its hash. */
export const ShareBodySchema = Type.Object({
  request: Type.Uint8Array({ maxByteLength: 64 * 1024 }),
  item: Type.Uint8Array({ maxByteLength: 64 * 1024 }),
});
export type ShareBody = Static<typeof ShareBodySchema>;

export const ShareSchema = Type.Object({
  userId: Type.String(),
  clinicianId: Type.String(),
  resultId: Type.String(),
  modelId: Type.String(),
  /** SHA-256 of the item, hex: what the share transaction recorded. */
  itemHash: Type.String(),
  txId: Type.String(),
  sharedAt: Type.String({ format: 'date-time' }),
});
export type Share = Static<typeof ShareSchema>;

/** A shared item as its clinician fetches it: the record and the signed sealed bytes, base64. */
export const SharedItemSchema = Type.Composite([ShareSchema, Type.Object({ item: Type.String() })]);
export type SharedItem = Static<typeof SharedItemSchema>;

export const SharedItemListSchema = Type.Object({ items: Type.Array(SharedItemSchema) });

export const ShareParamsSchema = Type.Object({
  userId: Type.String({ minLength: 1, maxLength: 256 }),
  resultId: Type.String({ pattern: '^[0-9a-f]{64}$' }),
});

export const ClinicianParamsSchema = Type.Object({ id: Type.String({ minLength: 1, maxLength: 256 }) });

/** POST /v1/users/me/close: what closing removed. */
export const ClosedSchema = Type.Object({
  userId: Type.String(),
  /** The close transactions, in order (the last deleted the identity). */
  txIds: Type.Array(Type.String()),
  /** World-state entries deleted on the ledger, and the server's rows. */
  ledgerKeys: Type.Integer({ minimum: 0 }),
  serverRows: Type.Integer({ minimum: 0 }),
});
export type Closed = Static<typeof ClosedSchema>;

/** POST /v1/submissions body (CBOR): signed envelopes, each with the user's signed issue request. */
export const SubmitBodySchema = Type.Array(
  Type.Object({
    envelope: Type.Uint8Array(),
    /** A signed request (op "issue", submissions = [sha256(envelope)]): evaluate as soon as stored. */
    issue: Type.Optional(Type.Uint8Array({ maxByteLength: 64 * 1024 })),
  }),
  { minItems: 1, maxItems: 64 },
);
export type SubmitBody = Static<typeof SubmitBodySchema>;

/** POST /v1/submissions/:id/issue body (CBOR): the request to issue Z for a stored submission. */
export const LateIssueBodySchema = Type.Object({ issue: Type.Uint8Array({ maxByteLength: 64 * 1024 }) });
export type LateIssueBody = Static<typeof LateIssueBodySchema>;

export const SubmissionStateSchema = Type.Union([
  Type.Literal('accepted'),
  Type.Literal('received'),
  Type.Literal('issued'),
  Type.Literal('rejected'),
]);

export const SubmissionStatusSchema = Type.Object({
  id: Type.String(),
  state: SubmissionStateSchema,
  /** The receive transaction and its block, once committed. */
  txId: Type.Union([Type.String(), Type.Null()]),
  blockNumber: Type.Union([Type.Integer(), Type.Null()]),
  resultId: Type.Union([Type.String(), Type.Null()]),
  /** Why the contract refused it (state rejected). */
  error: Type.Union([Type.String(), Type.Null()]),
  acceptedAt: Type.String({ format: 'date-time' }),
});
export type SubmissionStatus = Static<typeof SubmissionStatusSchema>;

export const SubmitResponseSchema = Type.Object({ submissions: Type.Array(SubmissionStatusSchema) });

export const ResultSummarySchema = Type.Object({
  id: Type.String(),
  submissionId: Type.String(),
  txId: Type.String(),
  blockNumber: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
});
export type ResultSummary = Static<typeof ResultSummarySchema>;

export const ResultListSchema = Type.Object({ results: Type.Array(ResultSummarySchema) });

/**
 * Z with its record (the contract's own ResultRecord: result schema, outputs), which submission
 * it answers and the block that holds it.
 */
export const ResultSchema = Type.Composite([
  ResultRecordSchema,
  Type.Object({
    submissionId: Type.String(),
    blockNumber: Type.Integer(),
    /** Ciphertexts of Z by content hash, base64. */
    z: Type.Record(Type.String(), Type.String()),
  }),
]);
export type ApiResult = Static<typeof ResultSchema>;

export const HealthSchema = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  checks: Type.Record(Type.String(), Type.String()),
});

export const IdParamsSchema = Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{64}$' }) });
export const ResultQuerySchema = Type.Object({
  /** Only results created after this one (by id), for polling. */
  after: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
});

/**
 * A CBOR request body for the OpenAPI document: the schema as JSON Schema, byte strings (CBOR
 * major type 2) shown as binary strings.
 */
export function cborBody(schema: TSchema, description: string) {
  const doc: unknown = JSON.parse(
    JSON.stringify(schema, (_key, value: { type?: string; maxByteLength?: number }) =>
      value && typeof value === 'object' && value.type === 'Uint8Array'
        ? {
            type: 'string',
            format: 'binary',
            description: 'a CBOR byte string (major type 2)',
            ...(value.maxByteLength ? { maxLength: value.maxByteLength } : {}),
          }
        : value,
    ),
  );
  return { description, required: true, content: { [CBOR]: { schema: doc } } };
}

/** Decodes a CBOR body and checks it against its schema, naming the first problem. */
export function checkCbor<T extends TSchema>(schema: T, bytes: Uint8Array, what: string): Static<T> {
  let value: unknown;
  try {
    value = decode(bytes, { useMaps: false });
  } catch (error) {
    throw new ProtocolError('MALFORMED', `${what}: not CBOR (${(error as Error).message})`);
  }
  if (!Value.Check(schema, value)) {
    const first = Value.Errors(schema, value).First();
    throw new ProtocolError(
      'BAD_FIELD',
      `${what}${first?.path ?? ''}: ${first?.message ?? 'does not match'}`,
    );
  }
  return value as Static<T>;
}
