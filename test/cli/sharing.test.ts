/**
 * `pmhe share`, `pmhe clinician` and `pmhe account close` as real processes against a real server
 * on loopback: a clinician's vault and registration, a grant refused for a wrong fingerprint and
 * made with the right one, results shared as they arrive and read (checked) by the clinician, a
 * FHIR export, revocation, and closing the account.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EXIT } from '../../src/cli/client.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { tempDir } from '../ledger/fixtures.ts';
import { json, pmhe } from './run.ts';

let server: RunningServer;
before(async () => {
  server = await startServer({ dataDir: await tempDir('cli-sharing-server'), port: 0, log: false });
});
after(() => server.close());

test('pmhe share / clinician / account close: grant after comparing fingerprints, read, export, revoke, close', async () => {
  const dir = await tempDir('cli-sharing');
  const person = ['--home', join(dir, 'person'), '--server', server.url];
  const doctor = ['--home', join(dir, 'doctor'), '--server', server.url];
  json(await pmhe(['init', '--user', 'kai', '--model', 'early-warning', '--json', ...person]));
  json(await pmhe(['register', '--json', ...person]));
  const made = json<{ fingerprint: string }>(
    await pmhe(['clinician', 'init', '--id', 'dr-ng', '--name', 'Dr A. Ng', '--json', ...doctor]),
  );
  const registered = json<{ fingerprint: string; txId: string }>(
    await pmhe(['clinician', 'register', '--json', ...doctor]),
  );
  assert.equal(registered.fingerprint, made.fingerprint);
  assert.match((await pmhe(['clinician', 'show', ...doctor])).stdout, new RegExp(made.fingerprint));

  // Without a terminal to ask on, a grant needs the fingerprint; a wrong one is refused, naming both.
  const unasked = await pmhe(['share', 'grant', 'dr-ng', ...person]);
  assert.equal(unasked.code, EXIT.usage);
  assert.match(unasked.stderr, /compare the fingerprint .* with your clinician, then pass --fingerprint/);
  const wrong = await pmhe([
    'share',
    'grant',
    'dr-ng',
    '--fingerprint',
    '0000 0000 0000 0000 0000',
    ...person,
  ]);
  assert.equal(wrong.code, EXIT.usage);
  assert.match(
    wrong.stderr,
    new RegExp(`is "${made.fingerprint}", not "0000 0000 0000 0000 0000": do not grant`),
  );
  const granted = await pmhe([
    'share',
    'grant',
    'dr-ng',
    '--fingerprint',
    made.fingerprint,
    '--days',
    '7',
    ...person,
  ]);
  assert.equal(granted.code, 0, granted.stderr);
  assert.match(granted.stdout, /granted: Dr A\. Ng \(dr-ng\): early-warning from .*0 result\(s\) shared/);

  const csv = join(dir, 'day.csv');
  const simulated = await pmhe([
    'device',
    'simulate',
    '--persona',
    'healthy',
    '--days',
    '0.05',
    '--interval',
    '60',
    '--out',
    csv,
  ]);
  assert.equal(simulated.code, 0, simulated.stderr);
  const queued = json<{ queued: number }>(await pmhe(['device', 'replay', csv, '--json', ...person])).queued;
  json(await pmhe(['submit', '--json', ...person]));
  const results = json<{ results: unknown[] }>(await pmhe(['results', '--wait', '60', '--json', ...person]));
  assert.equal(results.results.length, queued);
  const listed = json<{ grants: { shared: string[]; state: string }[] }>(
    await pmhe(['share', 'list', '--json', ...person]),
  );
  assert.equal(listed.grants[0]?.shared.length, queued, 'each result shared as it arrived');

  const inbox = json<{ items: { userId: string; txId: string }[]; refused: unknown[] }>(
    await pmhe(['clinician', 'inbox', '--json', ...doctor]),
  );
  assert.equal(inbox.items.length, queued);
  assert.deepEqual(inbox.refused, []);
  const text = await pmhe(['clinician', 'inbox', ...doctor]);
  assert.match(text.stdout, new RegExp(`kai \\(active; ${queued} result\\(s\\)\\):`));
  assert.match(text.stdout, /early-warning: latest .*evaluation [0-9a-f]{16}…/);
  const fhir = join(dir, 'kai.json');
  assert.equal((await pmhe(['clinician', 'export', '--person', 'kai', '--out', fhir, ...doctor])).code, 0);
  const bundle = JSON.parse(await readFile(fhir, 'utf8')) as { resourceType: string; entry: unknown[] };
  assert.equal(bundle.resourceType, 'Bundle');

  const revoked = await pmhe(['share', 'revoke', 'dr-ng', ...person]);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, /revoked: .*revoke transaction [0-9a-f]{64}/);
  const after = json<{ items: unknown[] }>(await pmhe(['clinician', 'inbox', '--json', ...doctor]));
  assert.deepEqual(after.items, []);

  const unconfirmed = await pmhe(['account', 'close', ...person]);
  assert.equal(unconfirmed.code, EXIT.usage);
  const closed = await pmhe(['account', 'close', '--yes', ...person]);
  assert.equal(closed.code, 0, closed.stderr);
  assert.match(
    closed.stdout,
    /closed kai: \d+ ledger entries in \d+ transaction\(s\), \d+ server rows, and this device's vault deleted/,
  );
  const gone = await pmhe(['results', ...person]);
  assert.equal(gone.code, EXIT.vault);
});
