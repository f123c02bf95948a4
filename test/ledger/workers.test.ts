import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalUser } from '../../src/client/user.ts';
import { FheContractClient } from '../../src/ledger/contract-client.ts';
import { EmbeddedLedger } from '../../src/ledger/embedded.ts';
import { LedgerError } from '../../src/ledger/errors.ts';
import { cohortUploads } from '../../src/models/cohort.ts';
import { runClear, tupleVectors } from '../../src/models/runtime.ts';
import { readAnswer } from '../../src/protocol/contract.ts';
import { CounterContract, tempDir } from './fixtures.ts';

test('simulation in two worker threads: users endorsed side by side, results as in-process', async () => {
  const ledger = await EmbeddedLedger.open(await tempDir(), { workers: 2 });
  const users = await Promise.all(
    ['erin', 'frank', 'grace'].map((userId) =>
      LocalUser.create({ userId, modelId: 'early-warning', layout: 'packed' }),
    ),
  );
  await Promise.all(users.map(async (user) => ledger.submit('setup', await user.setup())));
  await Promise.all(
    users.map(async (user, u) => {
      const uploads = cohortUploads(user.plan, { readings: 3, seed: u });
      for (const upload of uploads) {
        const envelope = await user.envelope(upload.readings, upload.profile);
        const [sub] = readAnswer(
          'receive',
          (await ledger.submit('receive', user.receive([envelope]))).payload,
        ).submissions;
        const issued = await new FheContractClient(ledger).issue(
          await user.request('issue', { submissions: [sub?.id as string] }),
        );
        const want = runClear(user.plan, tupleVectors(user.plan, upload.readings, upload.profile))
          .total?.[0] as number;
        const got = user.decrypt(issued).total?.[0] as number;
        assert.ok(Math.abs(got - want) < 0.05, `${user.userId}: ${got} vs ${want}`);
      }
    }),
  );
  // A refusal inside a worker comes back as the same ENDORSEMENT error.
  await assert.rejects(
    ledger.submit('receive', {}),
    (e: unknown) =>
      e instanceof LedgerError &&
      e.code === 'ENDORSEMENT' &&
      /^BAD_REQUEST: transient envelopes: missing/.test(e.message),
  );
  assert.ok((await ledger.verify()).ok);
  await ledger.close();
  for (const u of users) u[Symbol.dispose]();
});

test('workers need a module to load custom contracts from', async () => {
  await assert.rejects(
    EmbeddedLedger.open(await tempDir(), { workers: 1, contracts: [CounterContract] }),
    (e: unknown) =>
      e instanceof LedgerError && e.code === 'BAD_ARGUMENT' && /contractsModule/.test(e.message),
  );
});
