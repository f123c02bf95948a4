/**
 * `pmhe` as a person runs it, each command a real process against a real server on loopback:
 * init → register → device simulate → device replay → submit → results → diagnose → export →
 * keys export/import, and the exit codes for a vault that exists, a wrong passphrase and a
 * server that is away.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EXIT } from '../../src/cli/client.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { tempDir } from '../ledger/fixtures.ts';
import { json, pmhe } from './run.ts';

let server: RunningServer;
before(async () => {
  server = await startServer({ dataDir: await tempDir('cli-server'), port: 0, log: false });
});
after(() => server.close());

test('pmhe: a user from init to an exported FHIR bundle, with meaningful exit codes', async () => {
  const dir = await tempDir('cli-client');
  const home = ['--home', join(dir, 'home'), '--server', server.url];
  const init = json<{ presetId: string }>(
    await pmhe([
      'init',
      '--user',
      'cli-user',
      '--model',
      'early-warning',
      '--layout',
      'packed',
      '--json',
      ...home,
    ]),
  );
  assert.equal(init.presetId, 'secure-4096');
  const again = await pmhe(['init', '--user', 'cli-user', '--model', 'early-warning', ...home]);
  assert.equal(again.code, EXIT.vault);
  assert.match(again.stderr, /already/i);
  // Every missing profile flag at once; a missing vault says how to make one.
  const chd = await pmhe(['init', '--user', 'x', '--model', 'chd-risk', '--home', join(dir, 'chd')]);
  assert.equal(chd.code, EXIT.usage);
  assert.match(chd.stderr, /--age .*--bmi .*--cholesterol .*--smoker /);
  const none = await pmhe(['diagnose', '--home', join(dir, 'nowhere')]);
  assert.equal(none.code, EXIT.vault);
  assert.match(none.stderr, /run `pmhe init`/);

  assert.match(
    json<{ registered: { txId: string }[] }>(await pmhe(['register', '--json', ...home])).registered[0]
      ?.txId ?? '',
    /^[0-9a-f]{64}$/,
  );

  const csv = join(dir, 'day.csv');
  const simulated = await pmhe([
    'device',
    'simulate',
    '--persona',
    'sepsis',
    '--days',
    '0.25',
    '--interval',
    '60',
    '--out',
    csv,
  ]);
  assert.equal(simulated.code, 0, simulated.stderr);
  const queued = json<{ queued: number; report: { received: number; kept: number } }>(
    await pmhe(['device', 'replay', csv, '--json', ...home]),
  );
  assert.ok(queued.queued >= 4 && queued.queued === queued.report.kept, JSON.stringify(queued));

  const sent = json<{ sent: number; waiting: number }>(await pmhe(['submit', '--json', ...home]));
  assert.deepEqual([sent.sent, sent.waiting], [queued.queued, 0]);
  // Asked at once, some results are usually still awaited: then the exit code says so (5).
  const early = await pmhe(['results', '--wait', '0', '--json', ...home]);
  const { waiting: earlyWaiting, results: earlyResults } = JSON.parse(early.stdout) as {
    waiting: number;
    results: unknown[];
  };
  assert.equal(early.code, earlyWaiting > 0 ? 5 : 0, `${earlyWaiting} awaited, exit ${early.code}`);
  const results = json<{ results: { diagnosis: string; txId: string }[]; waiting: number }>(
    await pmhe(['results', '--wait', '60', '--json', ...home]),
  );
  assert.deepEqual([earlyResults.length + results.results.length, results.waiting], [queued.queued, 0]);
  const diagnosed = json<{ results: unknown[] }>(await pmhe(['diagnose', '--json', ...home]));
  assert.equal(diagnosed.results.length, queued.queued);
  // In a pipe (and with NO_COLOR): no colour codes; 80 columns; oldest reading first, local time.
  const table = await pmhe(['diagnose', ...home], { NO_COLOR: '1' });
  assert.match(table.stdout, /clinical risk/);
  assert.ok(!table.stdout.includes('\u001b['), 'colour codes in a pipe');
  const lines = table.stdout.trimEnd().split('\n');
  assert.ok(Math.max(...lines.map((l) => [...l].length)) <= 80, `wider than 80 columns:\n${table.stdout}`);
  const times = [...table.stdout.matchAll(/(\d{4}-\d{2}-\d{2} \d{2}:\d{2})/g)].map((m) => m[1] as string);
  assert.equal(times.length, queued.queued);
  assert.deepEqual(times, [...times].sort(), 'results out of reading order');
  assert.match(table.stdout, /HR \d+, BP \d+\/\d+, RR \d+/, 'the measured vitals beside each result');
  assert.match(table.stdout, /What the latest result means: /);
  assert.match(table.stdout, /Royal College of Physicians/);
  assert.match(table.stdout.replace(/\n/g, ' '), /not a medical device/);
  assert.doesNotMatch(table.stdout, /[0-9a-f]{12}/, 'transaction ids only with --verbose');
  assert.match((await pmhe(['diagnose', '--verbose', ...home])).stdout, /[0-9a-f]{12}/);
  // A user's mistake is one line, never a stack trace.
  const bad = await pmhe(['diagnose', '--last', 'abc', ...home]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--last <n>.*not a number: "abc"/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'a stack trace');
  assert.match((await pmhe(['--version'])).stdout, /^\d+\.\d+\.\d+\n$/);

  const bundlePath = join(dir, 'bundle.json');
  assert.equal((await pmhe(['export', '--out', bundlePath, ...home])).code, 0);
  const bundle = JSON.parse(await readFile(bundlePath, 'utf8')) as { resourceType: string; entry: unknown[] };
  assert.equal(bundle.resourceType, 'Bundle');
  assert.ok(bundle.entry.length > queued.queued);

  // An encrypted backup under another passphrase, restored into another folder.
  const backup = join(dir, 'backup.pmhv');
  const exported = await pmhe(['keys', 'export', backup, ...home], {
    PMHE_BACKUP_PASSPHRASE: 'the backup passphrase',
  });
  assert.equal(exported.code, 0, exported.stderr);
  const other = ['--home', join(dir, 'restored'), '--server', server.url];
  const imported = await pmhe(['keys', 'import', backup, ...other], {
    PMHE_PASSPHRASE: 'the backup passphrase',
  });
  assert.equal(imported.code, 0, imported.stderr);
  // The history follows the keys: rebuilt from the server's results, checked and decrypted here.
  assert.match(imported.stdout, new RegExp(`${queued.queued} result\\(s\\) rebuilt from the server`));
  const restored = json<{ results: { diagnosis: string; txId: string; restored?: boolean }[] }>(
    await pmhe(['diagnose', '--json', ...other], { PMHE_PASSPHRASE: 'the backup passphrase' }),
  );
  const original = json<{ results: { diagnosis: string; txId: string }[] }>(
    await pmhe(['diagnose', '--json', ...home]),
  );
  assert.deepEqual(
    restored.results.map((r) => [r.txId, r.restored]).sort(),
    original.results.map((r) => [r.txId, true]).sort(),
  );
  // The same NEWS2 risk (qSOFA needs the clear reading, which stayed on the first device).
  for (const r of restored.results) {
    const o = original.results.find((x) => x.txId === r.txId);
    assert.ok(o?.diagnosis.startsWith(r.diagnosis), `${r.diagnosis} / ${o?.diagnosis}`);
  }
  const restoredAgain = await pmhe(['history', 'restore', ...other], {
    PMHE_PASSPHRASE: 'the backup passphrase',
  });
  assert.match(restoredAgain.stdout, /^0 result\(s\) rebuilt/);

  const wrong = await pmhe(['diagnose', ...home], { PMHE_PASSPHRASE: 'not the passphrase' });
  assert.equal(wrong.code, EXIT.vault);
  assert.match(wrong.stderr, /passphrase/i);

  // The server away: the reading waits in the outbox, exit code "try again later".
  const one = await pmhe(['device', 'simulate', '--days', '0.01', '--interval', '5', '--json', ...home]);
  assert.equal(one.code, 0, one.stderr);
  const away = await pmhe([
    'submit',
    '--json',
    '--home',
    join(dir, 'home'),
    '--server',
    'http://127.0.0.1:9',
  ]);
  assert.equal(away.code, EXIT.unavailable, away.stdout);
  assert.ok(JSON.parse(away.stdout).waiting >= 1);
});

test('pmhe server enrol issues a code an operator hands out; pmhe register --enrolment uses it', async (t) => {
  const dataDir = await tempDir('cli-enrol-server');
  const enrolling = await startServer({ dataDir, port: 0, log: false, registration: 'enrolment' });
  t.after(() => enrolling.close());
  const dir = await tempDir('cli-enrol');
  const home = ['--home', join(dir, 'home'), '--server', enrolling.url];
  json(await pmhe(['init', '--user', 'enrolled', '--model', 'early-warning', '--json', ...home]));
  const refused = await pmhe(['register', ...home]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr + refused.stdout, /enrolment code/);
  // The operator's token is the file the server made beside its data (mode 0600).
  const issued = await pmhe([
    'server',
    'enrol',
    '--url',
    enrolling.url,
    '--data-dir',
    dataDir,
    '--hours',
    '1',
  ]);
  assert.equal(issued.code, 0, issued.stderr);
  const code = issued.stdout.split('\n')[0] ?? '';
  assert.match(code, /^pmhe-enrol-[A-Za-z0-9_-]{32}$/);
  assert.match(issued.stdout, /valid until \d{4}-/);
  const wrongToken = await pmhe(['server', 'enrol', '--url', enrolling.url], { PMHE_ADMIN_TOKEN: 'guess' });
  assert.equal(wrongToken.code, 1);
  assert.match(wrongToken.stderr, /401/);
  assert.match(
    json<{ registered: { txId: string }[] }>(await pmhe(['register', '--enrolment', code, '--json', ...home]))
      .registered[0]?.txId ?? '',
    /^[0-9a-f]{64}$/,
  );
  const reused = await pmhe(['register', '--enrolment', code, ...home]);
  assert.equal(reused.code, 0, 'the same user registering again needs no new code');
});

test('pmhe device replay: observations kept on the device, and a respiratory rate of 0 is an ALERT line', async () => {
  const dir = await tempDir('cli-news2');
  const home = ['--home', join(dir, 'home'), '--server', server.url];
  const wrong = await pmhe([
    'init',
    '--user',
    'x',
    '--model',
    'blood-pressure',
    '--layout',
    'batch',
    '--spo2-scale',
    '2',
    ...home,
  ]);
  assert.equal(wrong.code, EXIT.usage);
  assert.match(wrong.stderr, /--spo2-scale is for early-warning only/);
  const three = await pmhe(['init', '--user', 'x', '--model', 'early-warning', '--spo2-scale', '3', ...home]);
  assert.equal(three.code, EXIT.usage);
  assert.match(three.stderr, /--spo2-scale must be 1 or 2/);
  const init = await pmhe([
    'init',
    '--user',
    'news2-user',
    '--model',
    'early-warning',
    '--spo2-scale',
    '2',
    ...home,
  ]);
  assert.equal(init.code, 0, init.stderr);
  const csv = join(dir, 'observed.csv');
  await writeFile(
    csv,
    [
      'time,heart_rate,diastolic,systolic,respiratory_rate,spo2,temperature,supplemental_oxygen,consciousness',
      '2026-11-25T08:00:00Z,72,78,121,15,97,36.8,no,A',
      '2026-11-25T08:15:00Z,118,60,96,26,93,39.3,yes,C',
      '2026-11-25T08:30:00Z,120,60,95,0,,,,',
    ].join('\n'),
  );
  const replay = await pmhe(['device', 'replay', csv, ...home]);
  assert.equal(replay.code, 0, replay.stderr);
  assert.match(replay.stdout, /^3 received, 2 kept, 1 rejected: no breathing detected 1\./m);
  assert.match(
    replay.stdout,
    /^ALERT: reading 2 at 2026-11-25T08:30:00\.000Z: no breathing detected: check the sensor \(respiratory rate 0 breaths\/min\)\.$/m,
  );
  assert.match(replay.stdout, /2 upload\(s\) encrypted, signed and queued/);
});

test('pmhe: readings queued before registration wait for it, are listed with the reason, and all go once registered', async () => {
  const dir = await tempDir('cli-early');
  const home = ['--home', join(dir, 'home'), '--server', server.url];
  json(await pmhe(['init', '--user', 'cli-early', '--model', 'early-warning', '--json', ...home]));
  const { queued } = json<{ queued: number }>(
    await pmhe(['device', 'simulate', '--days', '0.05', '--interval', '30', '--json', ...home]),
  );
  assert.ok(queued >= 2, `${queued} queued`);
  const early = await pmhe(['submit', ...home]);
  assert.equal(early.code, EXIT.usage, early.stdout + early.stderr);
  assert.match(early.stdout, new RegExp(`0 sent, 0 refused, ${queued} waiting`));
  assert.match(early.stdout, /run `pmhe register`, then `pmhe submit`/);
  const listed = json<{ items: { state: string; readings: number }[] }>(
    await pmhe(['outbox', '--json', ...home]),
  );
  assert.deepEqual(
    listed.items.map((i) => i.state),
    Array(queued).fill('waiting'),
  );
  json(await pmhe(['register', '--json', ...home]));
  const sent = json<{ sent: number; failed: number; waiting: number }>(
    await pmhe(['submit', '--json', ...home]),
  );
  assert.deepEqual([sent.sent, sent.failed, sent.waiting], [queued, 0, 0]);
  const retry = await pmhe(['outbox', 'retry', ...home]);
  assert.equal(retry.code, 0, retry.stderr);
  assert.match(retry.stdout, /no refused uploads/);
  const unknown = await pmhe(['outbox', 'discard', 'abcdef0123', ...home]);
  assert.equal(unknown.code, EXIT.usage);
  assert.match(unknown.stderr, /no upload abcdef0123 in the outbox/);
});

test('pmhe device: a CSV keeps its good lines and names every bad one; replays and second simulations queue nothing twice', async () => {
  const dir = await tempDir('cli-replay');
  const home = ['--home', join(dir, 'home'), '--server', server.url];
  json(await pmhe(['init', '--user', 'cli-replay', '--model', 'early-warning', '--json', ...home]));
  const csv = join(dir, 'watch.csv');
  await writeFile(
    csv,
    [
      'time,heart_rate,diastolic,systolic,respiratory_rate',
      '2026-11-30T08:00,72,78,121,15', // no zone: this device's local time
      '2026-11-30T08:15,73,79,abc,15', // line 3
      '2026-11-30T08:30,74,80,122,16',
      '2026-11-30T08:45,75,80,999,16', // line 5
      '2026-11-30T09:00,76,81,123,16',
      '',
    ].join('\n'),
  );
  const first = await pmhe(['device', 'replay', csv, '--json', ...home]);
  assert.equal(first.code, EXIT.failed, first.stderr);
  assert.match(first.stderr, /line 3.*systolic.*not a number/);
  assert.match(first.stderr, /line 5.*systolic.*outside/);
  assert.match(first.stderr, /2 line\(s\) skipped, 3 read/);
  const queued = JSON.parse(first.stdout) as { queued: number; known: number; report: { received: number } };
  assert.deepEqual([queued.report.received, queued.known], [3, 0]);
  const listed = json<{ items: { firstReading: string }[] }>(await pmhe(['outbox', '--json', ...home]));
  assert.equal(listed.items[0]?.firstReading, '2026-11-30 08:00', 'a zone-less time is local time');

  // The same file again: its bad lines are named again, and nothing is queued twice.
  const replayed = await pmhe(['device', 'replay', csv, '--json', ...home]);
  assert.equal(replayed.code, EXIT.failed, replayed.stderr);
  const again = JSON.parse(replayed.stdout) as { queued: number; known: number };
  assert.deepEqual([again.queued, again.known], [0, 3]);

  // Simulated readings start now (on the interval's grid), then after the newest on the device.
  const before = Date.now();
  const sim1 = json<{ queued: number }>(
    await pmhe(['device', 'simulate', '--days', '0.05', '--interval', '30', '--json', ...home]),
  );
  const sim2 = json<{ queued: number; known: number }>(
    await pmhe(['device', 'simulate', '--days', '0.05', '--interval', '30', '--json', ...home]),
  );
  assert.ok(sim1.queued > 0 && sim2.queued > 0 && sim2.known === 0, JSON.stringify([sim1, sim2]));
  const times = json<{ items: { firstReading: string }[] }>(
    await pmhe(['outbox', '--json', ...home]),
  ).items.map((i) => i.firstReading);
  assert.equal(new Set(times).size, times.length, `a reading time queued twice: ${times}`);
  assert.ok(
    Date.parse(times.at(-1)?.replace(' ', 'T') ?? '') >= before - 60_000,
    `the simulation did not start now: ${times}`,
  );
});

test('pmhe profile: shown, edited with its ranges checked, kept in the vault', async () => {
  const dir = await tempDir('cli-profile');
  const home = ['--home', join(dir, 'home'), '--server', server.url];
  json(
    await pmhe([
      'init',
      '--user',
      'cli-profile',
      '--model',
      'chd-risk',
      '--age',
      '47',
      '--bmi',
      '24',
      '--cholesterol',
      '210',
      '--smoker',
      '0',
      '--json',
      ...home,
    ]),
  );
  const shown = json<{ profile: Record<string, number> }>(await pmhe(['profile', '--json', ...home]));
  assert.deepEqual(shown.profile, { age: 47, bmi: 24, cholesterol: 210, smoker: 0 });
  const set = await pmhe(['profile', 'set', '--age', '48', '--smoker', '1', ...home]);
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /profile saved in the vault: age 48, bmi 24, smoker 1, cholesterol 210/);
  // Out of range: refused, naming the field and the range; the vault keeps what it had.
  const bad = await pmhe(['profile', 'set', '--age', '500', ...home]);
  assert.equal(bad.code, EXIT.usage);
  assert.match(bad.stderr, /profile\.age .* = 500 .* is outside \[/);
  const nothing = await pmhe(['profile', 'set', ...home]);
  assert.equal(nothing.code, EXIT.usage);
  assert.match(nothing.stderr, /nothing to set/);
  const wrongModel = await pmhe(['profile', 'set', '--spo2-scale', '2', ...home]);
  assert.equal(wrongModel.code, EXIT.usage);
  assert.match(wrongModel.stderr, /chd-risk has no profile field/);
  const after = json<{ profile: Record<string, number> }>(await pmhe(['profile', '--json', ...home]));
  assert.deepEqual(after.profile, { age: 48, bmi: 24, cholesterol: 210, smoker: 1 });
  // The edited profile goes with the next upload: a reading queues with it.
  const queued = json<{ queued: number }>(
    await pmhe(['device', 'simulate', '--days', '0.05', '--interval', '30', '--json', ...home]),
  );
  assert.ok(queued.queued >= 1);
});

test('pmhe models: a second model under the same keys, results for each, then removed', async () => {
  const dir = await tempDir('cli-models');
  const home = ['--home', join(dir, 'home'), '--server', server.url];
  json(await pmhe(['init', '--user', 'cli-two', '--model', 'early-warning', '--json', ...home]));
  json(await pmhe(['register', '--json', ...home]));
  const missing = await pmhe(['models', 'add', 'chd-risk', ...home]);
  assert.equal(missing.code, EXIT.usage);
  assert.match(missing.stderr, /chd-risk needs your profile: --age .*--bmi .*--cholesterol .*--smoker /);
  const layout = await pmhe(['models', 'add', 'blood-pressure', '--layout', 'packed', ...home]);
  assert.equal(layout.code, EXIT.usage);
  assert.match(layout.stderr, /blood-pressure has no packed layout; it has batch/);
  const added = await pmhe([
    'models',
    'add',
    'chd-risk',
    '--age',
    '61',
    '--bmi',
    '29',
    '--cholesterol',
    '240',
    '--smoker',
    '1',
    ...home,
  ]);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /you now follow chd-risk\/packed/);
  assert.match(added.stdout, /registered for chd-risk: setup transaction [0-9a-f]{64}/);
  const listed = json<{ models: { modelId: string }[] }>(await pmhe(['models', '--json', ...home]));
  assert.deepEqual(
    listed.models.map((m) => m.modelId),
    ['early-warning', 'chd-risk'],
  );
  const queued = json<{ queued: number }>(
    await pmhe(['device', 'simulate', '--days', '0.05', '--interval', '30', '--json', ...home]),
  );
  assert.equal(queued.queued % 2, 0, 'each reading once per model');
  assert.equal(json<{ sent: number }>(await pmhe(['submit', '--json', ...home])).sent, queued.queued);
  const results = json<{ results: { modelId: string }[] }>(
    await pmhe(['results', '--wait', '60', '--json', ...home]),
  );
  assert.deepEqual([...new Set(results.results.map((r) => r.modelId))].sort(), ['chd-risk', 'early-warning']);
  const table = await pmhe(['diagnose', ...home], { NO_COLOR: '1' });
  assert.match(table.stdout, /model/);
  assert.match(table.stdout, /What the latest chd-risk result means: /);
  assert.match(table.stdout, /What the latest early-warning result means: /);
  const removed = await pmhe(['models', 'remove', 'chd-risk', ...home]);
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, /you no longer follow chd-risk \(unsubscribe transaction [0-9a-f]{64}\)/);
  const last = await pmhe(['models', 'remove', 'early-warning', ...home]);
  assert.equal(last.code, EXIT.usage);
  assert.match(last.stderr, /only model this device follows: add another first/);
  const left = json<{ models: { modelId: string }[] }>(await pmhe(['models', '--json', ...home]));
  assert.deepEqual(
    left.models.map((m) => m.modelId),
    ['early-warning'],
  );
});
