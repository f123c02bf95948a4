/**
 * `npm run bench:sharing`: what sharing with a clinician and closing an account cost (issue 17).
 * Client: sealing and opening one shared item, against signing one request (the same run's
 * baseline). Ledger (embedded, a temp folder): grant, share and the clinician's consent read,
 * against a receive of one envelope; closing a user with many submissions, against receiving
 * them. Prints Markdown for docs/benchmarks.md.
 */
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalUser } from '../src/client/user.ts';
import { FheContract } from '../src/contract/index.ts';
import { FheContractClient, signedRequest } from '../src/ledger/contract-client.ts';
import { EmbeddedLedger } from '../src/ledger/embedded.ts';
import { cohortUploads } from '../src/models/cohort.ts';
import { readAnswer } from '../src/protocol/contract.ts';
import { derivePublicKey, generateIdentity } from '../src/protocol/identity.ts';
import { boxKeyPair, itemHash, openItem, type SharedResult, sealItem } from '../src/protocol/shared-item.ts';
import { fmt, header, table } from './report.ts';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string' },
    reps: { type: 'string', default: '50' },
    submissions: { type: 'string', default: '600' },
  },
});
const REPS = Number(args.reps);
const SUBMISSIONS = Number(args.submissions);

/** Median and p95 of an async operation, ms, after 3 untimed runs. */
async function timeAsync(reps: number, fn: () => Promise<unknown>): Promise<{ median: number; p95: number }> {
  const samples: number[] = [];
  for (let i = 0; i < reps + 3; i++) {
    const start = performance.now();
    await fn();
    if (i >= 3) samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) =>
    samples[Math.min(samples.length - 1, Math.ceil(q * samples.length) - 1)] as number;
  return { median: at(0.5), p95: at(0.95) };
}

const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(2));

// Client side: one item.
const person = await generateIdentity();
const personKey = await derivePublicKey(person.privateKey);
const box = await boxKeyPair(crypto.getRandomValues(new Uint8Array(32)));
const shared: SharedResult = {
  v: 1,
  userId: 'bench-person',
  clinicianId: 'dr-bench',
  resultId: 'a'.repeat(64),
  txId: 'a'.repeat(64),
  blockNumber: 42,
  submissionId: 'b'.repeat(64),
  modelId: 'early-warning',
  layout: 'packed',
  readAt: Date.now(),
  recordedAt: Date.now(),
  values: { news2: 3, respiration: 1, spo2: 0, bp: 1, pulse: 1, consciousness: 0, temperature: 0 },
  diagnosis: {
    model: 'early-warning',
    label: 'NEWS2: low (3)',
    level: 'low',
    borderline: false,
    findings: ['NEWS2 total 3 (RCP 2017, Chart 2)', 'respiration 21–24: 2 points'],
  },
  guidance: { text: 'Your signs are a little outside the usual range.', source: 'RCP 2017, Chart 4' },
};
const signer = { userId: 'bench-person', privateKey: person.privateKey };
process.stderr.write('client: sign, seal, open…\n');
const sign = await timeAsync(REPS, () =>
  signedRequest(signer, 'share', {
    clinicianId: 'dr-bench',
    resultId: shared.resultId,
    item: 'c'.repeat(64),
  }),
);
const item = await sealItem(shared, box.publicKey, person.privateKey);
const seal = await timeAsync(REPS, () => sealItem(shared, box.publicKey, person.privateKey));
const open = await timeAsync(REPS, () =>
  openItem(item, { personKey, clinicianId: 'dr-bench', boxPrivateKey: box.privateKey }),
);
const clientRows = [
  ['sign one request (baseline)', ms(sign.median), ms(sign.p95), fmt.ratio(1)],
  ['seal one item (HPKE + sign)', ms(seal.median), ms(seal.p95), fmt.ratio(seal.median / sign.median)],
  [
    'open one item (verify + HPKE + schema)',
    ms(open.median),
    ms(open.p95),
    fmt.ratio(open.median / sign.median),
  ],
];

// Ledger side.
const dir = await mkdtemp(join(tmpdir(), 'pmhe-bench-sharing-'));
const ledger = await EmbeddedLedger.open(dir, { contracts: [FheContract] });
const contract = new FheContractClient(ledger);
try {
  using user = await LocalUser.create({ userId: 'bench-person', modelId: 'early-warning', layout: 'packed' });
  await ledger.submit('setup', await user.setup());
  const doctor = await generateIdentity();
  const clinician = { userId: 'dr-bench', privateKey: doctor.privateKey };
  await ledger.submit('clinician', {
    args: [
      await signedRequest(clinician, 'clinician', {
        publicKey: await derivePublicKey(doctor.privateKey),
        boxKey: box.publicKey,
        name: 'Dr Bench',
      }),
    ],
  });
  const uploads = cohortUploads(user.plan, { readings: SUBMISSIONS + 2 * (REPS + 3), seed: 9 });
  const envelopes = await Promise.all(uploads.map((u) => user.envelope(u.readings, u.profile)));
  let next = 0;
  process.stderr.write('ledger: receive, grant, share, consent…\n');
  const receive = await timeAsync(REPS, () =>
    ledger.submit('receive', user.receive([envelopes[next++] as Uint8Array])),
  );
  const grantOnce = async () =>
    ledger.submit(
      'grant',
      await user.request('grant', {
        clinicianId: 'dr-bench',
        boxKey: box.publicKey,
        models: ['early-warning'],
        from: 0,
        until: Date.now() + 86_400_000,
      }),
    );
  const grant = await timeAsync(REPS, grantOnce);
  // Results to share: one issue each.
  const results: string[] = [];
  for (let i = 0; i < REPS + 3; i++) {
    const received = readAnswer(
      'receive',
      (await ledger.submit('receive', user.receive([envelopes[next++] as Uint8Array]))).payload,
    );
    const issued = await contract.issue(
      await user.request('issue', { submissions: [received.submissions[0]?.id ?? ''] }),
    );
    results.push(issued.result.id);
  }
  let r = 0;
  const share = await timeAsync(REPS, async () =>
    ledger.submit(
      'share',
      await user.request('share', {
        clinicianId: 'dr-bench',
        resultId: results[r++] ?? '',
        item: itemHash(item),
      }),
    ),
  );
  const consent = await timeAsync(REPS, async () =>
    ledger.evaluate('consent', { args: [await signedRequest(clinician, 'consent', {})] }),
  );
  const ledgerRows = [
    ['receive one envelope (baseline)', ms(receive.median), ms(receive.p95), fmt.ratio(1)],
    ['grant', ms(grant.median), ms(grant.p95), fmt.ratio(grant.median / receive.median)],
    ['share (one item’s hash)', ms(share.median), ms(share.p95), fmt.ratio(share.median / receive.median)],
    [
      `consent query (clinician, ${REPS + 3} shares)`,
      ms(consent.median),
      ms(consent.p95),
      fmt.ratio(consent.median / receive.median),
    ],
  ];

  // Closing: a user with SUBMISSIONS more submissions, against receiving them.
  process.stderr.write(`ledger: ${SUBMISSIONS} submissions received, then closed…\n`);
  let start = performance.now();
  const rest = envelopes.slice(next, next + SUBMISSIONS);
  for (let i = 0; i < rest.length; i += 50)
    await ledger.submit('receive', user.receive(rest.slice(i, i + 50)));
  const receiveAll = performance.now() - start;
  const keysBefore = (await ledger.stateKeys()).length;
  const close = await user.request('close');
  start = performance.now();
  let transactions = 0;
  let deleted = 0;
  for (;;) {
    const answer = readAnswer('close', (await ledger.submit('close', close)).payload);
    transactions++;
    deleted += answer.deleted;
    if (answer.done) break;
  }
  const closeAll = performance.now() - start;
  const closeRows = [
    [`receive ${rest.length} envelopes, 50 per transaction (baseline)`, ms(receiveAll), '', fmt.ratio(1)],
    [
      `close: ${deleted + 1} keys of ${keysBefore} deleted in ${transactions} transactions`,
      ms(closeAll),
      `${Math.round((deleted + 1) / (closeAll / 1000))} keys/s`,
      fmt.ratio(closeAll / receiveAll),
    ],
  ];

  const report = `${header(`npm run bench:sharing -- --reps ${REPS} --submissions ${SUBMISSIONS}`)}

### Client: one shared item (${item.length} bytes signed and sealed; median and p95 of ${REPS}, ms)

${table(['operation', 'median', 'p95', 'vs baseline'], clientRows)}

### Ledger: consent transactions on the embedded ledger (median and p95 of ${REPS}, ms, commit included)

${table(['transaction', 'median', 'p95', 'vs baseline'], ledgerRows)}

### Closing an account (early-warning packed; ms)

${table(['work', 'ms', 'rate', 'vs baseline'], closeRows)}
`;
  console.log(report);
  if (args.out) writeFileSync(args.out, report);
} finally {
  await ledger.close();
  await rm(dir, { recursive: true, force: true });
}
