/**
 * Seeded fuzzing of every route of a real `pmhe server start` process (sharing's too, but closing): valid requests of each
 * kind, mutated (bytes flipped, cut, spliced, CBOR garbage, headers and paths altered), signed
 * after mutation (so the body reaches the parsers) or before (so the signature check refuses it).
 * Nothing may answer 5xx, hang, or take the server down; every error body carries a `code`; the
 * server's memory stays bounded. The seed is printed: a failure replays with FUZZ_SEED.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encode } from 'cborg';
import { LocalUser } from '../../src/client/user.ts';
import { signedRequest, submissionId } from '../../src/ledger/contract-client.ts';
import { cohortUploads } from '../../src/models/cohort.ts';
import { fromBase64 } from '../../src/protocol/bytes.ts';
import { derivePublicKey, generateIdentity } from '../../src/protocol/identity.ts';
import type { Params } from '../../src/protocol/request.ts';
import { boxKeyPair } from '../../src/protocol/shared-item.ts';
import { freePort, scrapeMetrics, spawnServer } from '../../src/server/spawn.ts';
import { tempDir } from '../ledger/fixtures.ts';

const REQUESTS = 1200;
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed13);

/** xorshift32: the same sequence for the same seed. */
function random(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
  };
}
type Rng = ReturnType<typeof random>;

const NASTY_IDS = [
  '',
  '%00',
  '%F0%9F%98%80'.repeat(200),
  'a'.repeat(5000),
  '..%2F..%2Fetc%2Fpasswd',
  '%E2%80%AE',
  '0'.repeat(64),
  'z'.repeat(64),
  '%C3%28',
  '-1',
  '1e400',
];

function mutateBytes(rng: Rng, bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes);
  switch (rng.int(6)) {
    case 0: // flip a few bits
      for (let i = rng.int(8) + 1; i > 0 && out.length > 0; i--) {
        const at = rng.int(out.length);
        out[at] = (out[at] as number) ^ (1 << rng.int(8));
      }
      return out;
    case 1: // cut
      return out.subarray(0, rng.int(out.length + 1));
    case 2: // splice random bytes in the first kilobyte (CBOR heads live there)
      for (let i = 0; i < 16 && out.length > 0; i++) out[rng.int(Math.min(out.length, 1024))] = rng.int(256);
      return out;
    case 3: // random CBOR-looking garbage
      return Uint8Array.from({ length: rng.int(300) }, () =>
        rng.pick([0xa3, 0x9f, 0xff, 0x5b, 0x1b, 0xd9, 0x7f, rng.int(256)]),
      );
    case 4: // a CBOR value of the wrong shape
      return encode(
        rng.pick<unknown>([[], {}, 'x', 1, { setup: 'x' }, [{ envelope: 1 }], { issue: [] }, -1, null]),
      );
    default: // duplicated
      return Uint8Array.from([...out, ...out.subarray(0, rng.int(out.length))]);
  }
}

test(`FUZZ: ${REQUESTS} seeded mutated requests over every route (seed ${SEED}): no 5xx, no hang, every error has a code, memory bounded`, async (t) => {
  const port = await freePort();
  const dataDir = await tempDir('fuzz');
  const child = await spawnServer(dataDir, port, ['--validation-workers', '1']);
  t.after(() => child.kill('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;
  using user = await LocalUser.create({ userId: 'fuzzy', modelId: 'early-warning', layout: 'packed' });
  const registration = await user.registration();
  const registered = await fetch(`${base}/v1/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/cbor' },
    body: registration as BodyInit,
  });
  assert.equal(registered.status, 201);
  const uploads = cohortUploads(user.plan, { readings: 3, seed: 37 });
  const items = await Promise.all(uploads.map((u) => user.upload(u.readings, u.profile)));
  const id = submissionId((items[0] as { envelope: Uint8Array }).envelope);
  const lateIssue = encode({
    issue: fromBase64((await user.request('issue', { submissions: [id] })).args?.[0] ?? ''),
  });
  // A clinician, and the person's consent requests (valid before mutation).
  const doctor = await generateIdentity();
  const box = await boxKeyPair(new Uint8Array(32).fill(7));
  const clinicianRequest = await signedRequest(
    { userId: 'dr-fuzz', privateKey: doctor.privateKey },
    'clinician',
    {
      publicKey: await derivePublicKey(doctor.privateKey),
      boxKey: box.publicKey,
      name: 'Dr Fuzz',
    },
  );
  const asked = async (op: 'grant' | 'revoke' | 'share' | 'consent', params: Params = {}) =>
    fromBase64((await user.request(op, params)).args?.[0] ?? '');
  const grant = await asked('grant', {
    clinicianId: 'dr-fuzz',
    boxKey: box.publicKey,
    models: ['early-warning'],
    from: 0,
    until: Date.now() + 3_600_000,
  });
  const junkItem = new Uint8Array(300).fill(0xa3);
  const bodies = {
    register: registration,
    submit: encode(items),
    issue: lateIssue,
    clinician: encode({ request: fromBase64(clinicianRequest) }),
    grant: encode({ request: grant }),
    revoke: encode({ request: await asked('revoke', { clinicianId: 'dr-fuzz' }) }),
    share: encode({
      request: await asked('share', { clinicianId: 'dr-fuzz', resultId: id, item: 'ab'.repeat(32) }),
      item: junkItem,
    }),
    consent: encode({ request: await asked('consent') }),
  };
  const routes: { method: string; path: (rng: Rng) => string; body?: keyof typeof bodies }[] = [
    { method: 'POST', path: () => '/v1/users', body: 'register' },
    { method: 'POST', path: () => '/v1/submissions', body: 'submit' },
    {
      method: 'POST',
      path: (r) => `/v1/submissions/${r.next() < 0.5 ? id : r.pick(NASTY_IDS)}/issue`,
      body: 'issue',
    },
    { method: 'GET', path: (r) => `/v1/submissions/${r.next() < 0.5 ? id : r.pick(NASTY_IDS)}` },
    { method: 'GET', path: (r) => `/v1/results?limit=${r.pick(['1', '0', '-5', '99999', 'x', '1e9', ''])}` },
    { method: 'GET', path: (r) => `/v1/results?after=${r.pick(NASTY_IDS)}` },
    { method: 'GET', path: (r) => `/v1/results/${r.pick(NASTY_IDS)}` },
    { method: 'GET', path: (r) => `/v1/events?after=${r.pick(NASTY_IDS)}` },
    { method: 'GET', path: () => '/v1/catalogue' },
    { method: 'GET', path: () => '/health' },
    { method: 'GET', path: () => '/ready' },
    { method: 'GET', path: () => '/docs/json' },
    { method: 'POST', path: () => '/v1/enrolments' },
    { method: 'DELETE', path: (r) => `/v1/users/${r.pick(NASTY_IDS)}` },
    { method: 'POST', path: () => '/v1/clinicians', body: 'clinician' },
    { method: 'GET', path: (r) => `/v1/clinicians/${r.next() < 0.5 ? 'dr-fuzz' : r.pick(NASTY_IDS)}` },
    { method: 'GET', path: () => '/v1/grants' },
    { method: 'POST', path: () => '/v1/grants', body: 'grant' },
    { method: 'POST', path: () => '/v1/grants/revoke', body: 'revoke' },
    { method: 'POST', path: () => '/v1/shares', body: 'share' },
    { method: 'GET', path: (r) => `/v1/shares?userId=${r.pick(NASTY_IDS)}` },
    { method: 'GET', path: (r) => `/v1/shares/${r.pick(NASTY_IDS)}/${r.pick(NASTY_IDS)}` },
    { method: 'POST', path: () => '/v1/consent', body: 'consent' },
    // Closing is tested in hostile.test.ts: here it would end the user the fuzzing signs as.
  ];
  const rng = random(SEED);
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const route = rng.pick(routes);
    const path = route.path(rng);
    const original = route.body ? bodies[route.body] : undefined;
    const body = original && rng.next() < 0.9 ? mutateBytes(rng, original) : original;
    const headers: Record<string, string> = {};
    if (body)
      headers['content-type'] =
        rng.next() < 0.9
          ? 'application/cbor'
          : rng.pick(['application/json', 'text/plain', 'application/cbor; charset=x', '']);
    const signing = rng.next();
    if (signing < 0.6) {
      // Signed over what is sent: the body reaches the parsers.
      headers.authorization = await user.authorization(route.method, path, body);
    } else if (signing < 0.8) {
      // Signed, then the header mutated: the authentication refuses it.
      const header = await user.authorization(route.method, path, original);
      const at = rng.int(header.length);
      headers.authorization = `${header.slice(0, at)}${rng.pick(['', '!', ' ', '=', '\u00e9', 'A'])}${header.slice(at + 1)}`;
    } else if (signing < 0.9) {
      headers.authorization = rng.pick([
        '',
        'Bearer x',
        'PMHE-Ed25519',
        `PMHE-Ed25519 ${'A'.repeat(rng.int(5000))}`,
      ]);
    }
    if (headers.authorization === '') delete headers.authorization;
    const started = Date.now();
    let status = 0;
    let text = '';
    try {
      const reply = await fetch(`${base}${path}`, {
        method: route.method,
        headers,
        ...(body ? { body: body as BodyInit } : {}),
        signal: AbortSignal.timeout(15_000),
      });
      status = reply.status;
      // An event stream that opened stays open: do not wait for its end.
      if (path.startsWith('/v1/events') && status === 200) await reply.body?.cancel();
      else text = await reply.text();
    } catch (error) {
      failures.push(
        `#${i} ${route.method} ${path.slice(0, 80)}: ${(error as Error).message} after ${Date.now() - started} ms`,
      );
      continue;
    }
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (status >= 500)
      failures.push(`#${i} ${route.method} ${path.slice(0, 80)}: ${status} ${text.slice(0, 200)}`);
    if (status >= 400 && path.startsWith('/v1')) {
      let code: unknown;
      try {
        code = (JSON.parse(text) as { code?: unknown }).code;
      } catch {
        code = undefined;
      }
      if (typeof code !== 'string')
        failures.push(
          `#${i} ${route.method} ${path.slice(0, 80)}: ${status} without a code: ${text.slice(0, 200)}`,
        );
    }
  }
  t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
  assert.deepEqual(failures, [], `seed ${SEED}`);
  assert.equal(child.exitCode, null, 'the server is still running');
  const metrics = await scrapeMetrics(base, dataDir);
  const rss = Number(/^process_resident_memory_bytes (\S+)$/m.exec(metrics)?.[1]);
  t.diagnostic(`server RSS after fuzzing: ${(rss / 2 ** 20).toFixed(0)} MiB`);
  assert.ok(rss < 1.5 * 2 ** 30, `server RSS ${rss} bytes`);
  // Still serving its user: a fresh, valid upload is accepted.
  const [fresh] = cohortUploads(user.plan, { readings: 1, seed: 41 });
  const item = await user.upload(fresh?.readings ?? [], fresh?.profile);
  const ok = await fetch(`${base}/v1/submissions`, {
    method: 'POST',
    headers: {
      'content-type': 'application/cbor',
      authorization: await user.authorization('POST', '/v1/submissions', encode([item])),
    },
    body: encode([item]) as BodyInit,
  });
  assert.equal(ok.status, 202, await ok.text());
});
