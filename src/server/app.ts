/**
 * The HTTP API (Fastify 5). Every route declares its schemas (src/protocol/api.ts): they validate
 * requests, serialize responses and make the OpenAPI document at /docs. The server is untrusted by
 * design: it sees ciphertexts, signatures and ledger receipts, never a key or a reading.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { type ServerOptions, STATUS_CODES } from 'node:http';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Ledger } from '../ledger/ledger.ts';
import { CATALOGUE } from '../models/catalogue/index.ts';
import { compile } from '../models/compiler.ts';
import { inputScale } from '../models/runtime.ts';
import {
  API_PREFIX,
  AUTH_HEADER,
  CatalogueSchema,
  CBOR,
  cborBody,
  checkCbor,
  EnrolmentRequestSchema,
  EnrolmentSchema,
  ErrorSchema,
  HealthSchema,
  IdParamsSchema,
  LateIssueBodySchema,
  MeSchema,
  RegisterBodySchema,
  ResultListSchema,
  ResultQuerySchema,
  ResultSchema,
  SubmissionStatusSchema,
  SubmitBodySchema,
  SubmitResponseSchema,
  UnsubscribeBodySchema,
  UnsubscribedSchema,
  UserSchema,
} from '../protocol/api.ts';
import type { Layout } from '../protocol/schema.ts';
import type { WorkerPool } from '../workers/pool.ts';
import { authenticate } from './auth.ts';
import type { BackupManifest } from './backup.ts';
import type { Committer } from './committer.ts';
import type { Db } from './db/database.ts';
import type { Submission, User } from './db/schema.ts';
import { errorCatalogue, HttpError, toHttpError } from './errors.ts';
import { acceptLateIssue, acceptSubmissions } from './intake.ts';
import type { Metrics } from './metrics.ts';
import { DEFAULT_QUOTAS, issueEnrolment, type Quotas, type RegistrationMode } from './quotas.ts';
import { postgresRateStore } from './rate-store.ts';
import { register, subscriptionsOf, unsubscribe } from './register.ts';
import { sharingRoutes } from './sharing-routes.ts';
import type { CiphertextCheck } from './validation-worker.ts';
import { serveWebApp } from './web.ts';

export interface Limits extends Quotas {
  /** Largest request body, bytes (registration carries evaluation keys: megabytes). */
  bodyBytes: number;
  /** Requests per user per minute, counted once the request's signature verifies. */
  ratePerMinute: number;
  /**
   * Requests per client address per minute, counted before anything is checked (registration,
   * forged or unsigned requests included): a claimed user id never chooses the bucket.
   */
  addressRatePerMinute: number;
  /** A request (headers and body) must arrive within this time: slow clients are cut off (408). */
  requestTimeoutMs: number;
}

export const DEFAULT_SERVER_LIMITS: Readonly<Limits> = Object.freeze({
  bodyBytes: 12 * 1024 * 1024,
  ratePerMinute: 6000,
  addressRatePerMinute: 60_000,
  requestTimeoutMs: 30_000,
  ...DEFAULT_QUOTAS,
});

export interface AppContext {
  db: Db;
  ledger: Ledger;
  validator: WorkerPool<CiphertextCheck, true>;
  committer: Committer;
  metrics: Metrics;
  limits: Limits;
  /** Who may register: anyone (`open`), or holders of an operator's enrolment code. */
  registration: RegistrationMode;
  /** Bearer token of the operator's routes (enrolment codes); those routes are absent without one. */
  adminToken?: string;
  /** Count rate limits in the database (PostgreSQL, which several replicas may share). */
  sharedRateLimits?: boolean;
  /** Takes a backup into a folder on the server's host (src/server/backup.ts); the operator's route. */
  backup?: (dir: string) => Promise<BackupManifest>;
  /** Bearer token of /metrics; without one /metrics is not served here (it has an address of its own). */
  metricsToken?: string;
  logger: Logger | false;
  /** Folder of the built browser client served at `/` (src/server/web.ts); none when absent. */
  webDir?: string;
  /** A certificate (chain) and its private key, PEM: the API is served over TLS (HTTP/2 and 1.1). */
  tls?: { cert: Buffer; key: Buffer };
}

declare module 'fastify' {
  interface FastifyRequest {
    user?: User;
  }
}

const ERROR_CODES = errorCatalogue();
/** Every refusal's body, by status, each saying which codes it carries. */
const errors = Object.fromEntries(
  [...new Set(ERROR_CODES.map((e) => e.status))].map((status) => [
    status,
    Type.Object(ErrorSchema.properties, {
      description: `Refused: ${ERROR_CODES.filter((e) => e.status === status)
        .map((e) => e.code)
        .join(', ')}`,
    }),
  ]),
);
const ERROR_TABLE = [
  '| code | status | meaning |',
  '| --- | --- | --- |',
  ...ERROR_CODES.map((e) => `| ${e.code} | ${e.status} | ${e.meaning} |`),
].join('\n');
const secured = [{ pmhe: [] }];
const BackupManifestSchema = Type.Object({
  format: Type.Literal(1),
  createdAt: Type.String({ format: 'date-time' }),
  database: Type.Union([Type.Literal('pglite'), Type.Literal('postgresql')]),
  ledger: Type.Union([Type.Literal('embedded'), Type.Literal('fabric')]),
  height: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  files: Type.Array(Type.Object({ path: Type.String(), bytes: Type.Integer(), sha256: Type.String() })),
});
/** An X-Request-Id taken from a proxy: short, and nothing a log reader could mistake. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A preHandler that lets through only `Authorization: Bearer <token>` (compared in constant time). */
function bearer(token: string, whose: 'operator' | 'metrics') {
  const expected = createHash('sha256').update(token).digest();
  return async (request: FastifyRequest) => {
    const given = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
    if (!timingSafeEqual(createHash('sha256').update(given).digest(), expected)) {
      throw new HttpError(401, 'UNAUTHENTICATED', `the ${whose} bearer token is missing or wrong`);
    }
  };
}

/**
 * Plain HTTP/1.1, or TLS with HTTP/2 and HTTP/1.1 (ALPN) when the operator gives a certificate.
 * Typed as the plain server's options: the routes use only what both servers' requests share.
 */
function serverOptions(ctx: AppContext): { http: ServerOptions } {
  if (ctx.tls) {
    // An idle HTTP/2 session or TLS socket is closed after this long (Node's HTTP/1.1 request and
    // header timeouts have no HTTP/2 counterpart).
    return {
      http2: true,
      https: { allowHTTP1: true, key: ctx.tls.key, cert: ctx.tls.cert },
      http2SessionTimeout: ctx.limits.requestTimeoutMs,
    } as unknown as { http: ServerOptions };
  }
  // Set on Node's server at creation: set afterwards (Fastify's requestTimeout), a slow client
  // kept its socket for 60 s (headersTimeout) plus up to 30 s (the default checking interval).
  return {
    http: {
      requestTimeout: ctx.limits.requestTimeoutMs,
      headersTimeout: Math.min(60_000, ctx.limits.requestTimeoutMs),
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, ctx.limits.requestTimeoutMs / 4)),
    },
  };
}

export async function buildApp(ctx: AppContext): Promise<FastifyInstance> {
  const app = Fastify({
    ...(ctx.logger === false ? { logger: false } : { loggerInstance: ctx.logger as FastifyBaseLogger }),
    // Bodies are never logged; the Authorization header holds a signature, not a secret, but
    // there is no reason to keep it either.
    bodyLimit: ctx.limits.bodyBytes,
    requestTimeout: ctx.limits.requestTimeoutMs,
    ...serverOptions(ctx),
    ajv: { customOptions: { removeAdditional: false } },
    // Every log line of a request carries its id (reqId): the proxy's X-Request-Id when it is a sane
    // token, else a new UUID; the answer carries it back, so a person's report finds the lines.
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Refusals Node makes before Fastify sees a request (408 slow client, 431 huge headers, 400
    // unparsable HTTP) carry a code too.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket) => {
      const [statusCode, code, message] =
        error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'REQUEST_TIMEOUT', `the request did not arrive within ${ctx.limits.requestTimeoutMs} ms`]
          : error.code === 'HPE_HEADER_OVERFLOW'
            ? [431, 'HEADERS_TOO_LARGE', 'the request headers are too large']
            : [400, 'BAD_HTTP', 'the request is not valid HTTP/1.1'];
      if (!socket.writable) return socket.destroy();
      const body = JSON.stringify({ statusCode, code, error: 'Request refused', message });
      socket.end(
        `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addContentTypeParser(CBOR, { parseAs: 'buffer', bodyLimit: ctx.limits.bodyBytes }, (_req, body, done) =>
    done(null, body),
  );
  app.setErrorHandler((error: unknown, request, reply) => {
    // Fastify's own schema failures carry `validation`: they are the client's fault.
    const validation = (error as { validation?: unknown }).validation !== undefined;
    const http = toHttpError(
      validation ? Object.assign(error as Error, { statusCode: 400, code: 'BAD_FIELD' }) : error,
    );
    if (http.statusCode >= 500) request.log.error({ err: error }, 'request failed');
    void reply.code(http.statusCode).send({
      statusCode: http.statusCode,
      code: http.code,
      error: http.statusCode >= 500 ? 'Internal Server Error' : 'Request refused',
      message: http.statusCode === 500 ? `${http.message} (request ${request.id})` : http.message,
    });
  });
  // Unknown routes and methods answer like every other refusal: with a code.
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({
      statusCode: 404,
      code: 'NOT_FOUND',
      error: 'Request refused',
      message: `no route ${request.method} ${request.url.split('?')[0]?.slice(0, 200)}`,
    });
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    ctx.metrics.requests.observe(
      { route: request.routeOptions.url ?? 'unknown', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  const rateLimited =
    (who: string) => (_request: FastifyRequest, context: { max: number; after: string }) => ({
      statusCode: 429,
      code: 'RATE_LIMITED',
      error: 'Request refused',
      message: `more than ${context.max} requests per minute ${who}; retry in ${context.after}`,
    });
  await app.register(fastifyRateLimit, {
    // Counted in PostgreSQL when replicas may share it; in memory for PGlite (one process).
    ...(ctx.sharedRateLimits ? { store: postgresRateStore(ctx.db) } : {}),
    max: ctx.limits.addressRatePerMinute,
    timeWindow: '1 minute',
    keyGenerator: (request) => `address:${request.ip}`,
    errorResponseBuilder: rateLimited('from this address'),
  });
  // Per user only after the signature verified: nobody can spend another person's allowance.
  const userCount = app.createRateLimit({
    max: ctx.limits.ratePerMinute,
    timeWindow: '1 minute',
    keyGenerator: (request) => `user:${(request.user as User).user_id}`,
  });
  const userLimit = async (request: FastifyRequest) => {
    const counted = await userCount(request);
    if (!counted.isAllowed && counted.isExceeded) {
      throw new HttpError(
        429,
        'RATE_LIMITED',
        `more than ${counted.max} requests per minute for this user; retry in ${counted.ttlInSeconds} s`,
      );
    }
  };
  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'PMHE server',
        version: '1',
        description: `Untrusted cloud server of PMHE: accepts, orders and delivers ciphertexts. The wire format (canonical CBOR, Ed25519-signed requests and envelopes, the PMHC ciphertext header, test vectors) is specified in docs/protocol.md. Every refusal is JSON { statusCode, code, error, message }:\n\n${ERROR_TABLE}`,
      },
      components: {
        securitySchemes: {
          pmhe: {
            type: 'apiKey',
            in: 'header',
            name: 'Authorization',
            description: 'PMHE-Ed25519 <base64 signed request (op http)>',
          },
          operator: { type: 'http', scheme: 'bearer', description: "the server's admin token" },
        },
      },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  const authenticated = async (request: FastifyRequest) => {
    const body = Buffer.isBuffer(request.body) ? request.body : new Uint8Array(0);
    request.user = await authenticate(ctx.db, request.headers[AUTH_HEADER], {
      method: request.method,
      path: request.url,
      body,
    });
  };
  const auth = [authenticated, userLimit];
  const me = (request: FastifyRequest): User => request.user as User;

  app.get(
    '/health',
    {
      schema: {
        operationId: 'health',
        summary: 'Liveness; checks.registration says "open" or "enrolment"',
        response: { 200: HealthSchema },
      },
    },
    async () => ({
      status: 'ok' as const,
      // Clients read this to know whether to ask the person for an enrolment code.
      checks: { registration: ctx.registration },
    }),
  );
  app.get(
    '/ready',
    {
      schema: {
        operationId: 'ready',
        summary: 'Readiness: the database and the ledger answer (503 while either does not)',
        response: { 200: HealthSchema, 503: HealthSchema },
      },
    },
    async (_request, reply) => {
      const checks: Record<string, string> = {};
      try {
        await ctx.db.selectFrom('users').select('user_id').limit(1).execute();
        checks.database = 'ok';
      } catch (error) {
        checks.database = (error as Error).message;
      }
      try {
        checks.ledger = `ok (height ${await ctx.ledger.height()})`;
      } catch (error) {
        checks.ledger = (error as Error).message;
      }
      const ok = Object.values(checks).every((c) => c.startsWith('ok'));
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks });
    },
  );
  // The operator's only: behind the metrics token here, or on an address of its own (then not here).
  if (ctx.metricsToken) {
    app.get(
      '/metrics',
      { schema: { hide: true }, preHandler: bearer(ctx.metricsToken, 'metrics') },
      async (_request, reply) =>
        reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.scrape()),
    );
  }

  app.get(
    `${API_PREFIX}/catalogue`,
    {
      schema: {
        operationId: 'catalogue',
        summary: 'Models, their tuple templates (P, eq. 2) and what each layout needs',
        description:
          'For each model and layout: the template a client follows, the preset, the evaluation keys the setup must carry (relinearization keys, Galois steps), ciphertexts and readings per upload, and the exact input scale of each ciphertext.',
        response: { 200: CatalogueSchema },
      },
    },
    async () => catalogue,
  );

  app.post(
    `${API_PREFIX}/users`,
    {
      schema: {
        operationId: 'register',
        summary: 'Register: Ed25519 key, evaluation keys and model choice (the contract’s setup)',
        description:
          'The body is CBOR: the signed setup request (op "setup"), the evaluation keys the catalogue lists for the plan, and, on a server that enrols, the enrolment code. One user may register several models, each with its own setup and evaluation keys (a subscription per model), all signed by the one key of the first setup; registering a model again replaces its keys. Another key for the same id is 409 USER_EXISTS.',
        consumes: [CBOR],
        body: cborBody(RegisterBodySchema, 'CBOR map { setup, relinKeys?, galoisKeys?, enrolment? }'),
        response: { 201: UserSchema, ...errors },
      },
      validatorCompiler: () => () => true,
    },
    async (request, reply) => {
      const body = checkCbor(RegisterBodySchema, request.body as Buffer, 'body');
      const user = await register(
        { db: ctx.db, ledger: ctx.ledger, mode: ctx.registration, quotas: ctx.limits, address: request.ip },
        body,
      );
      return reply.code(201).send(user);
    },
  );

  app.get(
    `${API_PREFIX}/users/me`,
    {
      schema: {
        operationId: 'me',
        summary: 'You: your user id and the models you registered (your subscriptions)',
        security: secured,
        response: { 200: MeSchema, ...errors },
      },
      preHandler: auth,
    },
    async (request) => subscriptionsOf(ctx.db, me(request)),
  );

  app.post(
    `${API_PREFIX}/users/me/unsubscribe`,
    {
      schema: {
        operationId: 'unsubscribe',
        summary: 'End your subscription to one model (the contract’s unsubscribe)',
        description:
          'The body is CBOR { request }: your signed request (op "unsubscribe", params modelId). The contract deletes the subscription’s record (its setup stays in the blocks); uploads for the model not yet on the ledger are then rejected (NOT_SUBSCRIBED), and results already made stay yours. Registering the model again (POST /v1/users) subscribes anew, with new keys. 409 NOT_SUBSCRIBED if you have no subscription to it.',
        consumes: [CBOR],
        body: cborBody(UnsubscribeBodySchema, 'CBOR map { request }'),
        security: secured,
        response: { 200: UnsubscribedSchema, ...errors },
      },
      validatorCompiler: () => () => true,
      preHandler: auth,
    },
    async (request) => {
      const body = checkCbor(UnsubscribeBodySchema, request.body as Buffer, 'body');
      return unsubscribe({ db: ctx.db, ledger: ctx.ledger }, me(request), body);
    },
  );

  if (ctx.adminToken) {
    const operator = bearer(ctx.adminToken, 'operator');
    const backup = ctx.backup;
    if (backup) {
      app.post(
        `${API_PREFIX}/admin/backup`,
        {
          schema: {
            operationId: 'backup',
            summary:
              'Operator: a consistent backup of the database and embedded ledger, taken while the server runs',
            description:
              'Authorization: Bearer <admin token>. JSON { dir }: an absolute path on the server’s host, absent or empty. The committer pauses between transactions and the server’s own ledger writes wait while the database is dumped (PGlite, or pg_dump) and the blocks copied; uploads are still accepted. `pmhe server restore` brings it back (docs/operations.md).',
            body: Type.Object(
              { dir: Type.String({ minLength: 1, maxLength: 4096 }) },
              { additionalProperties: false },
            ),
            security: [{ operator: [] }],
            response: { 201: BackupManifestSchema, ...errors },
          },
          preHandler: operator,
        },
        async (request, reply) => reply.code(201).send(await backup(request.body.dir)),
      );
    }
    app.post(
      `${API_PREFIX}/enrolments`,
      {
        schema: {
          operationId: 'issueEnrolment',
          description:
            'Only on a server started with an admin token (enrolment mode makes one). Authorization: Bearer <admin token>. The code is shown once; only its SHA-256 is kept.',
          summary: "Operator: a single-use enrolment code for one new user (the server's admin token)",
          body: EnrolmentRequestSchema,
          security: [{ operator: [] }],
          response: { 201: EnrolmentSchema, ...errors },
        },
        preHandler: operator,
      },
      async (request, reply) =>
        reply.code(201).send(
          await issueEnrolment(ctx.db, {
            hours: request.body.hours ?? 168,
            ...(request.body.note ? { note: request.body.note } : {}),
          }),
        ),
    );
  }

  app.post(
    `${API_PREFIX}/submissions`,
    {
      schema: {
        operationId: 'submit',
        summary: 'Upload signed envelopes (CBOR), each optionally with its signed issue request',
        description:
          'Each item is admitted with the contract’s own check (signature, template, timestamp window, nonce, sizes, ciphertexts against the plan, exact input scale) and the user’s quotas; the request is stored whole or refused whole, naming the item ("submissions[i]: …"). 202 is the acknowledgement: what is acknowledged is committed to the ledger. The submission id is the SHA-256 of the envelope bytes, hex.',
        consumes: [CBOR],
        body: cborBody(SubmitBodySchema, 'CBOR array of maps { envelope, issue? }'),
        security: secured,
        response: { 202: SubmitResponseSchema, ...errors },
      },
      validatorCompiler: () => () => true,
      preHandler: auth,
    },
    async (request, reply) => {
      const body = checkCbor(SubmitBodySchema, request.body as Buffer, 'body');
      const rows = await acceptSubmissions(
        { db: ctx.db, validator: ctx.validator, quotas: ctx.limits },
        me(request),
        body,
      );
      ctx.metrics.accepted.inc(rows.length);
      ctx.committer.wake();
      return reply.code(202).send({ submissions: rows.map(status) });
    },
  );

  app.post(
    `${API_PREFIX}/submissions/:id/issue`,
    {
      schema: {
        operationId: 'issueLater',
        summary: 'Ask for Z of a submission uploaded without its issue request',
        description:
          'The body is CBOR { issue }: a signed issue request (op "issue", params submissions = [this id]) with a nonce of its own.',
        params: IdParamsSchema,
        consumes: [CBOR],
        body: cborBody(LateIssueBodySchema, 'CBOR map { issue }'),
        security: secured,
        response: { 202: SubmissionStatusSchema, ...errors },
      },
      // The body is CBOR, checked below with its schema; the id is checked by acceptLateIssue.
      validatorCompiler: () => () => true,
      preHandler: auth,
    },
    async (request, reply) => {
      const { issue } = checkCbor(LateIssueBodySchema, request.body as Buffer, 'body');
      const row = await acceptLateIssue(
        { db: ctx.db, validator: ctx.validator, quotas: ctx.limits },
        me(request),
        request.params.id,
        issue,
      );
      ctx.committer.wake();
      return reply.code(202).send(status(row));
    },
  );

  app.get(
    `${API_PREFIX}/submissions/:id`,
    {
      schema: {
        operationId: 'submissionStatus',
        summary: 'One of your submissions: accepted → received → issued, or rejected (with why)',
        params: IdParamsSchema,
        security: secured,
        response: { 200: SubmissionStatusSchema, ...errors },
      },
      preHandler: auth,
    },
    async (request) => {
      const row = await ctx.db
        .selectFrom('submissions')
        .selectAll()
        .where('id', '=', request.params.id)
        .where('user_id', '=', me(request).user_id)
        .executeTakeFirst();
      if (!row)
        throw Object.assign(new Error(`no submission ${request.params.id} of yours`), {
          statusCode: 404,
          code: 'NOT_FOUND',
        });
      return status(row);
    },
  );

  app.get(
    `${API_PREFIX}/results`,
    {
      schema: {
        operationId: 'listResults',
        summary: 'Your results, oldest first; `after` a result id to poll for newer ones',
        querystring: ResultQuerySchema,
        security: secured,
        response: { 200: ResultListSchema, ...errors },
      },
      preHandler: auth,
    },
    async (request) => {
      const user = me(request);
      let query = ctx.db
        .selectFrom('results')
        .select(['id', 'submission_id', 'tx_id', 'block_number', 'created_at', 'seq'])
        .where('user_id', '=', user.user_id)
        .orderBy('seq')
        .limit(request.query.limit ?? 100);
      if (request.query.after) {
        const after = request.query.after;
        const known = await ctx.db
          .selectFrom('results')
          .select('id')
          .where('id', '=', after)
          .where('user_id', '=', user.user_id)
          .executeTakeFirst();
        // An unknown id would list nothing, silently, for ever: say so.
        if (!known) throw new HttpError(404, 'NOT_FOUND', `after: no result ${after} of yours`);
        query = query.where('seq', '>', (eb) =>
          eb.selectFrom('results').select('seq').where('id', '=', after).where('user_id', '=', user.user_id),
        );
      }
      const rows = await query.execute();
      return {
        results: rows.map((r) => ({
          id: r.id,
          submissionId: r.submission_id,
          txId: r.tx_id,
          blockNumber: Number(r.block_number),
          createdAt: new Date(r.created_at).toISOString(),
        })),
      };
    },
  );

  app.get(
    `${API_PREFIX}/results/:id`,
    {
      schema: {
        operationId: 'getResult',
        summary: 'One result: its record (outputs, slots, the evaluation transaction) and Z, base64',
        params: IdParamsSchema,
        security: secured,
        response: { 200: ResultSchema, ...errors },
      },
      preHandler: auth,
    },
    async (request) => {
      const row = await ctx.db
        .selectFrom('results')
        .innerJoin('submissions', 'submissions.id', 'results.submission_id')
        .select(['results.id', 'results.submission_id', 'results.block_number', 'submissions.issue_request'])
        .where('results.id', '=', request.params.id)
        .where('results.user_id', '=', me(request).user_id)
        .executeTakeFirst();
      if (!row?.issue_request)
        throw Object.assign(new Error(`no result ${request.params.id} of yours`), {
          statusCode: 404,
          code: 'NOT_FOUND',
        });
      // From the ledger, the system of record (the server keeps no copy of Z).
      const { result, z } = await ctx.committer.results.read(row.id, row.issue_request);
      return { ...result, submissionId: row.submission_id, blockNumber: Number(row.block_number), z };
    },
  );

  // Open event streams never end by themselves: closing the server ends them, or it would wait
  // for every listening client to leave.
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of streams) end();
  });

  app.get(
    `${API_PREFIX}/events`,
    {
      schema: {
        operationId: 'events',
        summary: 'Server-sent events: "result" when a result of yours is ready',
        description:
          'text/event-stream. Each event is `event: result` with `data: {"resultId": "<hex>", "submissionId": "<hex>"}`; comment lines (": keep-alive") every 15 s. Events are not replayed: after (re)connecting, list results with `after` the last id seen.',
        security: secured,
      },
      preHandler: auth,
    },
    async (request, reply) => {
      const userId = me(request).user_id;
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      reply.raw.write(': connected\n\n');
      const send = (event: { userId: string; resultId: string; submissionId: string }) => {
        if (event.userId !== userId) return;
        reply.raw.write(
          `event: result\ndata: ${JSON.stringify({ resultId: event.resultId, submissionId: event.submissionId })}\n\n`,
        );
      };
      const heartbeat = setInterval(() => reply.raw.write(': keep-alive\n\n'), 15_000);
      ctx.committer.events.on('result', send);
      const end = () => {
        clearInterval(heartbeat);
        ctx.committer.events.off('result', send);
        streams.delete(end);
        if (!reply.raw.writableEnded) reply.raw.end();
      };
      streams.add(end);
      request.raw.on('close', end);
    },
  );

  await sharingRoutes(app, {
    db: ctx.db,
    ledger: ctx.ledger,
    registration: ctx.registration,
    quotas: ctx.limits,
    auth,
    errors,
  });

  if (ctx.webDir !== undefined) await serveWebApp(app, ctx.webDir);
  return app;
}

const catalogue = {
  models: CATALOGUE.map((model) => {
    const plans = (Object.keys(model.layouts) as Layout[]).map((layout) => compile(model, { layout }));
    return {
      id: model.id,
      name: model.name,
      description: model.description,
      templates: plans.map((p) => p.template),
      plans: plans.map((p) => ({
        layout: p.layout,
        presetId: p.preset.id,
        relinKeys: p.multiplications.ciphertext > 0,
        galoisSteps: p.galoisSteps,
        ciphertextsPerUpload: p.ciphertextsPerUpload,
        readingsPerUpload: p.readingsPerUpload,
        inputScaleBits: Array.from({ length: p.ciphertextsPerUpload }, (_, i) => Math.log2(inputScale(p, i))),
        depth: p.depth,
      })),
    };
  }),
};

function status(row: Submission) {
  return {
    id: row.id,
    state: row.state,
    txId: row.receive_tx,
    blockNumber: row.receive_block === null ? null : Number(row.receive_block),
    resultId: row.result_id,
    error: row.error,
    acceptedAt: new Date(row.accepted_at).toISOString(),
  };
}
