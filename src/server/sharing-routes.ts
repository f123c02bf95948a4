/**
 * The routes of sharing with clinicians and of closing an account (docs/protocol.md §12.13–12.20);
 * their work is in sharing.ts and closure.ts.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { type TSchema, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { Ledger } from '../ledger/ledger.ts';
import {
  API_PREFIX,
  CBOR,
  ClinicianParamsSchema,
  ClinicianRegisterBodySchema,
  ClinicianSchema,
  ClosedSchema,
  cborBody,
  checkCbor,
  GrantListSchema,
  GrantSchema,
  RequestBodySchema,
  ShareBodySchema,
  SharedItemListSchema,
  SharedItemSchema,
  ShareParamsSchema,
  ShareSchema,
} from '../protocol/api.ts';
import { ANSWERS } from '../protocol/contract.ts';
import { closeAccount } from './closure.ts';
import type { Db } from './db/database.ts';
import type { User } from './db/schema.ts';
import type { Quotas, RegistrationMode } from './quotas.ts';
import {
  clinicianById,
  consentOf,
  grant,
  grantsOf,
  itemFor,
  itemsFor,
  registerClinician,
  revoke,
  share,
} from './sharing.ts';

export interface SharingRouteOptions {
  db: Db;
  ledger: Ledger;
  registration: RegistrationMode;
  quotas: Quotas;
  /** Authentication and the per-user rate limit, as every signed route has them. */
  auth: preHandlerAsyncHookHandler[];
  /** Each refusal status's body schema, for the OpenAPI document. */
  errors: Record<string, TSchema>;
}

const secured = [{ pmhe: [] }];
const me = (request: FastifyRequest): User => request.user as User;
/** Bodies are CBOR, checked with their schema in the handler (naming the bad field). */
const cbor = () => () => true;

export async function sharingRoutes(base: FastifyInstance, o: SharingRouteOptions): Promise<void> {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { db, ledger, errors, auth } = o;

  app.post(
    `${API_PREFIX}/clinicians`,
    {
      schema: {
        operationId: 'registerClinician',
        summary: 'Register a clinician: Ed25519 and X25519 keys and a name (the contract’s clinician)',
        description:
          'The body is CBOR { request, enrolment? }: the clinician’s signed request (op "clinician", params publicKey, boxKey (32-byte X25519), name). A server that enrols asks for an enrolment code as for people.',
        consumes: [CBOR],
        body: cborBody(ClinicianRegisterBodySchema, 'CBOR map { request, enrolment? }'),
        response: { 201: ClinicianSchema, ...errors },
      },
      validatorCompiler: cbor,
    },
    async (request, reply) => {
      const body = checkCbor(ClinicianRegisterBodySchema, request.body as Buffer, 'body');
      const ctx = { db, ledger, mode: o.registration, quotas: o.quotas, address: request.ip };
      return reply.code(201).send(await registerClinician(ctx, body));
    },
  );

  app.get(
    `${API_PREFIX}/clinicians/:id`,
    {
      schema: {
        operationId: 'clinician',
        summary: 'A registered clinician’s keys and fingerprint (compare it with theirs before granting)',
        params: ClinicianParamsSchema,
        security: secured,
        response: { 200: ClinicianSchema, ...errors },
      },
      preHandler: auth,
    },
    async (request) => clinicianById(db, request.params.id),
  );

  app.get(
    `${API_PREFIX}/grants`,
    {
      schema: {
        operationId: 'grants',
        summary: 'Grants you gave (a person) or received (a clinician), with what was shared under each',
        security: secured,
        response: { 200: GrantListSchema, ...errors },
      },
      preHandler: auth,
    },
    async (request) => grantsOf(db, me(request)),
  );

  app.post(
    `${API_PREFIX}/grants`,
    {
      schema: {
        operationId: 'grant',
        summary: 'Grant a clinician your results of chosen models, from a date until an expiry',
        description:
          'The body is CBOR { request }: your signed request (op "grant", params clinicianId, boxKey (the clinician’s X25519 key you checked), models, from, until (ms)). The contract records it; a grant to the same clinician replaces the older one.',
        consumes: [CBOR],
        body: cborBody(RequestBodySchema, 'CBOR map { request }'),
        security: secured,
        response: { 201: GrantSchema, ...errors },
      },
      validatorCompiler: cbor,
      preHandler: auth,
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await grant(
            { db, ledger },
            me(request),
            checkCbor(RequestBodySchema, request.body as Buffer, 'body'),
          ),
        ),
  );

  app.post(
    `${API_PREFIX}/grants/revoke`,
    {
      schema: {
        operationId: 'revoke',
        summary: 'Revoke a grant: nothing more is shared, and the clinician is refused what was',
        description: 'The body is CBOR { request }: your signed request (op "revoke", params clinicianId).',
        consumes: [CBOR],
        body: cborBody(RequestBodySchema, 'CBOR map { request }'),
        security: secured,
        response: { 200: GrantSchema, ...errors },
      },
      validatorCompiler: cbor,
      preHandler: auth,
    },
    async (request) =>
      revoke({ db, ledger }, me(request), checkCbor(RequestBodySchema, request.body as Buffer, 'body')),
  );

  app.post(
    `${API_PREFIX}/shares`,
    {
      schema: {
        operationId: 'share',
        summary:
          'Share one result: its sealed item (which this server cannot open) and the signed share request',
        description:
          'The body is CBOR { request, item }: the signed sealed item (docs/sharing.md) and your signed request (op "share", params clinicianId, resultId, item = SHA-256 of the item, hex). Refused with NO_GRANT unless a grant to the clinician is in force and covers the result’s model and time.',
        consumes: [CBOR],
        body: cborBody(ShareBodySchema, 'CBOR map { request, item }'),
        security: secured,
        response: { 201: ShareSchema, ...errors },
      },
      validatorCompiler: cbor,
      preHandler: auth,
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await share(
            { db, ledger },
            me(request),
            checkCbor(ShareBodySchema, request.body as Buffer, 'body'),
          ),
        ),
  );

  app.get(
    `${API_PREFIX}/shares`,
    {
      schema: {
        operationId: 'sharedItems',
        summary: 'Clinicians: the items shared with you under grants in force, oldest first',
        querystring: Type.Object({ userId: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })) }),
        security: secured,
        response: { 200: SharedItemListSchema, ...errors },
      },
      preHandler: auth,
    },
    async (request) => ({ items: await itemsFor(db, me(request), request.query.userId) }),
  );

  app.get(
    `${API_PREFIX}/shares/:userId/:resultId`,
    {
      schema: {
        operationId: 'sharedItem',
        summary: 'Clinicians: one shared item (403 NO_GRANT once the grant is revoked or expired)',
        params: ShareParamsSchema,
        security: secured,
        response: { 200: SharedItemSchema, ...errors },
      },
      preHandler: auth,
    },
    async (request) => itemFor(db, me(request), request.params.userId, request.params.resultId),
  );

  app.post(
    `${API_PREFIX}/consent`,
    {
      schema: {
        operationId: 'consent',
        summary: 'Your consent records as the ledger holds them: grants and the hash of every shared item',
        description:
          'The body is CBOR { request }: your signed request (op "consent"). The contract’s answer, relayed: a clinician checks each item’s SHA-256 against it before showing anything.',
        consumes: [CBOR],
        body: cborBody(RequestBodySchema, 'CBOR map { request }'),
        security: secured,
        response: { 200: ANSWERS.consent, ...errors },
      },
      validatorCompiler: cbor,
      preHandler: auth,
    },
    async (request) =>
      consentOf({ db, ledger }, me(request), checkCbor(RequestBodySchema, request.body as Buffer, 'body')),
  );

  app.post(
    `${API_PREFIX}/users/me/close`,
    {
      schema: {
        operationId: 'close',
        summary: 'Close your account for good: the ledger’s state entries and this server’s rows are deleted',
        description:
          'The body is CBOR { request }: your signed request (op "close"). The contract deletes your world-state entries a batch per transaction (the blocks keep the history, unreadable without your keys) and marks the id closed; then every row of yours here is deleted and your key authenticates nothing. Sending it again after a failure finishes the closing.',
        consumes: [CBOR],
        body: cborBody(RequestBodySchema, 'CBOR map { request }'),
        security: secured,
        response: { 200: ClosedSchema, ...errors },
      },
      validatorCompiler: cbor,
      preHandler: auth,
    },
    async (request) =>
      closeAccount({ db, ledger }, me(request), checkCbor(RequestBodySchema, request.body as Buffer, 'body')),
  );
}
