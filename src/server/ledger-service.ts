/**
 * The embedded ledger served to the other replicas (src/ledger/remote.ts): one POST route taking
 * a CBOR call and answering CBOR, behind the ledger token. Prepared transactions wait here for
 * their submit for 10 minutes (a replica that died between the two leaves one behind).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { decode, encode } from 'cborg';
import type { FastifyInstance } from 'fastify';
import { LedgerError } from '../ledger/errors.ts';
import type { Ledger, Prepared } from '../ledger/ledger.ts';
import { LEDGER_PATH, type LedgerCall, type LedgerReply } from '../ledger/remote.ts';

const PREPARED_FOR_MS = 10 * 60_000;

export async function serveLedger(app: FastifyInstance, ledger: Ledger, token: string): Promise<void> {
  const expected = createHash('sha256').update(token).digest();
  const prepared = new Map<string, Prepared>();
  app.post(LEDGER_PATH, { schema: { hide: true } }, async (request, reply) => {
    const given = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
    if (!timingSafeEqual(createHash('sha256').update(given).digest(), expected)) {
      return reply.code(401).send({
        statusCode: 401,
        code: 'UNAUTHENTICATED',
        error: 'Request refused',
        message: 'the ledger token is missing or wrong',
      });
    }
    let answer: LedgerReply;
    try {
      const call = decode(request.body as Buffer) as LedgerCall;
      answer = { ok: await perform(call) };
    } catch (error) {
      const e =
        error instanceof LedgerError ? error : new LedgerError('BAD_ARGUMENT', (error as Error).message);
      answer = {
        error: {
          code: e.code,
          message: e.message,
          ...(e.validationCode === undefined ? {} : { validationCode: e.validationCode }),
          ...(e.txId === undefined ? {} : { txId: e.txId }),
        },
      };
    }
    return reply.type('application/cbor').send(Buffer.from(encode(answer)));
  });

  async function perform(call: LedgerCall): Promise<unknown> {
    switch (call.op) {
      case 'prepare': {
        const p = await ledger.prepare(call.name, call.proposal);
        prepared.set(p.txId, p);
        setTimeout(() => prepared.delete(p.txId), PREPARED_FOR_MS).unref();
        return { txId: p.txId };
      }
      case 'submit': {
        const p = prepared.get(call.txId);
        if (!p)
          throw new LedgerError(
            'BAD_ARGUMENT',
            `no prepared transaction ${call.txId} (it expired, or the owner restarted)`,
          );
        prepared.delete(call.txId);
        return p.submit();
      }
      case 'evaluate':
        return ledger.evaluate(call.name, call.proposal);
      case 'getTransaction':
        return ledger.getTransaction(call.txId);
      case 'getBlock':
        return ledger.getBlock(call.number);
      case 'height':
        return ledger.height();
      default:
        throw new LedgerError('BAD_ARGUMENT', `no ledger call "${(call as { op?: unknown }).op}"`);
    }
  }
}
