/**
 * TLS (issue 18): `pmhe server start --tls-cert --tls-key` serves HTTPS with HTTP/2 and
 * HTTP/1.1, with a certificate made in the test by openssl; clients trust it with a CA file
 * (`fetchTrusting`, the CLI's --ca-file) and refuse it without; a certificate that does not match
 * its key stops the start with one line naming both files.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EXIT } from '../../src/cli/client.ts';
import { PmheClient } from '../../src/client/app.ts';
import { fetchTrusting } from '../../src/client/node/ca-fetch.ts';
import { FolderStore } from '../../src/client/node/folder-store.ts';
import { FAST_KDF_FOR_TESTS } from '../../src/client/vault.ts';
import { simulatePerson } from '../../src/device/index.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { pmhe } from '../cli/run.ts';
import { tempDir } from '../ledger/fixtures.ts';

/** A self-signed certificate for 127.0.0.1 and localhost, valid one day: its own CA. */
function certificate(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      `/CN=pmhe test ${name}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

let server: RunningServer;
let dir: string;
let files: { cert: string; key: string };

before(async () => {
  dir = await tempDir('tls');
  files = certificate(dir, 'server');
  server = await startServer({
    dataDir: join(dir, 'server'),
    port: 0,
    log: false,
    webDir: false,
    tls: { certFile: files.cert, keyFile: files.key },
  });
});
after(() => server.close());

test('HTTPS: HTTP/1.1 and HTTP/2 with a CA file; refused without it', async () => {
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  await assert.rejects(fetch(`${server.url}/health`), 'the built-in roots do not know this certificate');
  const trusting = fetchTrusting(files.cert);
  const health = await trusting(`${server.url}/health`);
  assert.equal(health.status, 200);
  assert.equal(((await health.json()) as { status: string }).status, 'ok');

  const session = http2.connect(server.url, {
    ca: await import('node:fs').then((fs) => fs.readFileSync(files.cert)),
  });
  try {
    assert.equal(
      await new Promise((resolve) => session.once('connect', () => resolve(session.alpnProtocol))),
      'h2',
    );
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const stream = session.request({ ':path': '/v1/catalogue' });
      let status = 0;
      let body = '';
      stream.on('response', (headers) => (status = Number(headers[':status'])));
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => (body += d));
      stream.on('end', () => resolve({ status, body }));
      stream.on('error', reject);
    });
    assert.equal(status, 200);
    assert.ok((JSON.parse(body) as { models: unknown[] }).models.length >= 3);
  } finally {
    session.close();
  }
  const other = certificate(dir, 'other');
  await assert.rejects(fetchTrusting(other.cert)(`${server.url}/health`), 'another CA is not this server’s');
  assert.throws(() => fetchTrusting(join(dir, 'missing.pem')), /CA file .*missing\.pem/);
  await writeFile(join(dir, 'not-a-cert.pem'), 'hello');
  assert.throws(() => fetchTrusting(join(dir, 'not-a-cert.pem')), /no PEM certificate/);
});

test('a person’s client end to end over HTTPS (register, upload, result by server-sent events)', async () => {
  using client = await PmheClient.init(new FolderStore(join(dir, 'client')), {
    userId: 'tls-person',
    modelId: 'early-warning',
    layout: 'packed',
    passphrase: 'a passphrase over tls',
    server: server.url,
    kdf: FAST_KDF_FOR_TESTS,
    fetch: fetchTrusting(files.cert),
  });
  await client.register();
  await client.queue(simulatePerson({ persona: 'healthy', seed: 5, days: 1 }).slice(-2));
  assert.equal((await client.flush()).sent, 2);
  assert.equal((await client.collect({ timeoutMs: 60_000 })).length, 2);
});

test('pmhe over HTTPS: --ca-file trusts the server; without it the CLI says so and nothing is lost', async () => {
  const home = ['--home', join(dir, 'cli'), '--server', server.url];
  assert.equal((await pmhe(['init', '--user', 'tls-cli', '--model', 'early-warning', ...home])).code, 0);
  const untrusted = await pmhe(['register', ...home]);
  assert.equal(untrusted.code, EXIT.unavailable, untrusted.stderr);
  assert.match(untrusted.stderr, /NETWORK: .*certificate/);
  const trusted = await pmhe(['register', '--ca-file', files.cert, ...home]);
  assert.equal(trusted.code, 0, trusted.stderr);
  assert.match(trusted.stdout, /registered tls-cli for early-warning/);
});

test('a certificate that does not match its key stops the start, naming both files', async () => {
  const other = certificate(dir, 'mismatch');
  const run = await pmhe([
    'server',
    'start',
    '--port',
    '0',
    '--data-dir',
    join(dir, 'mismatch-server'),
    '--no-web',
    '--tls-cert',
    files.cert,
    '--tls-key',
    other.key,
  ]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, new RegExp(`TLS: ${files.cert} and ${other.key}: .*`));
  const half = await pmhe([
    'server',
    'start',
    '--port',
    '0',
    '--data-dir',
    join(dir, 'half'),
    '--tls-cert',
    files.cert,
  ]);
  assert.equal(half.code, 2);
  assert.match(half.stderr, /--tls-cert and --tls-key go together/);
});
