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
