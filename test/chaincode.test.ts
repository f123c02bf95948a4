/**
 * The chaincode package: the contract bundles into chaincode/dist's layout, node-seal's
 * WebAssembly loads from the bundle, `fabric-chaincode-node server` (chaincode/package.json's
 * start script) serves it on a loopback port and answers a peer's handshake and a metadata
 * query over the chaincode protocol, and the package tarball has the layout
 * `peer lifecycle chaincode install` expects. No Fabric network runs here.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { on, once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { common, msp, peer } from '@hyperledger/fabric-protos';
import { type BuildResult, buildChaincode } from '../scripts/build-chaincode.ts';
import { packageChaincode } from '../scripts/package-chaincode.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NODE = join(ROOT, 'node_modules', '.bin', 'node');
const SHIM_CLI = join(ROOT, 'node_modules', 'fabric-shim', 'cli.js');
/** The image installs the externals next to the bundle; here the repository's node_modules stand in. */
const ENV = { ...process.env, NODE_PATH: join(ROOT, 'node_modules') };
const HAVE_OPENSSL = spawnSync('openssl', ['version']).status === 0;
const HAVE_TAR = spawnSync('tar', ['--version']).status === 0;
/** The paper's transactions (§4.3), which the contract must expose by these names. */
const EXPECTED_TRANSACTIONS = ['setup', 'receive', 'issue', 'add', 'mult'];

let dir = '';
let built: BuildResult;
const children: ChildProcess[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pmhe-chaincode-'));
  built = await buildChaincode({ outDir: join(dir, 'cc') });
});

after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createServer();
  const port = await new Promise<number>((done) => {
    server.listen(0, '127.0.0.1', () => done((server.address() as { port: number }).port));
  });
  await new Promise((done) => server.close(done));
  return port;
}

async function waitForListening(port: number, child: ChildProcess, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the chaincode server exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((done) => {
      const socket = tcpConnect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => done(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${port} after ${ms} ms`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

/** Entries of a gzipped ustar archive, read independently of the writer. */
function untar(gz: Uint8Array): Array<{ name: string; type: string; data: Buffer }> {
  const bytes = gunzipSync(gz);
  const entries: Array<{ name: string; type: string; data: Buffer }> = [];
  for (let at = 0; at + 512 <= bytes.length; ) {
    const header = bytes.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const field = (from: number, length: number): string =>
      header
        .subarray(from, from + length)
        .toString('latin1')
        .replace(/\0.*$/s, '');
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (header[i] as number);
    assert.equal(Number.parseInt(field(148, 8).trim(), 8), sum, 'header checksum');
    assert.equal(field(257, 6), 'ustar');
    const size = Number.parseInt(field(124, 12), 8);
    entries.push({
      name: field(0, 100),
      type: field(156, 1),
      data: bytes.subarray(at + 512, at + 512 + size),
    });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}

test('the contract bundles into one CommonJS file with node-seal’s WebAssembly beside it', async () => {
  assert.equal(built.bundle, join(dir, 'cc', 'dist', 'index.cjs'));
  assert.deepEqual(
    built.wasm.map((f) => f.slice(dirname(built.bundle).length + 1)),
    ['seal_throws.wasm'],
  );
  assert.ok(built.externals.includes('fabric-contract-api'));
  const manifest = JSON.parse(await readFile(join(dir, 'cc', 'package.json'), 'utf8')) as {
    main: string;
    dependencies: Record<string, string>;
    overrides: Record<string, string>;
  };
  assert.equal(resolve(dir, 'cc', manifest.main), built.bundle);
  const root = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as typeof manifest;
  for (const name of ['fabric-contract-api', 'fabric-shim']) {
    assert.equal(manifest.dependencies[name], root.dependencies[name], `${name} as in package.json`);
  }
  // fabric-contract-api 2.5.8 fails on objects without it (FABRIC-NOTES).
  assert.equal(manifest.overrides['class-transformer'], '0.4.0');
  const source = await readFile(built.bundle, 'utf8');
  assert.ok(!/require\("node-seal"\)/.test(source), 'node-seal is bundled, not required');
});

test('node-seal loads its WebAssembly from a CommonJS bundle', async () => {
  const entry = join(dir, 'probe.ts');
  await writeFile(
    entry,
    `export { loadSeal } from ${JSON.stringify(join(ROOT, 'src', 'ckks', 'seal.ts'))};\nexport const contracts = [];\n`,
  );
  const probe = await buildChaincode({ entry, outDir: join(dir, 'probe') });
  const script =
    `require(${JSON.stringify(probe.bundle)}).loadSeal()` +
    '.then(({ seal }) => console.log(typeof seal.SEALContext, typeof seal.CKKSEncoder))';
  const out = execFileSync(NODE, ['-e', script], { cwd: join(dir, 'probe'), env: ENV, encoding: 'utf8' });
  assert.equal(out.trim(), 'function function');
});

test('the package tarball has the ccaas layout and a reproducible package ID', async () => {
  const path = join(dir, 'pmhe.tgz');
  const result = await packageChaincode({ out: path, address: 'pmhe-chaincode.example.com:9999' });
  const bytes = await readFile(path);
  assert.equal(result.packageId, `pmhe:${createHash('sha256').update(bytes).digest('hex')}`);

  const outer = untar(bytes);
  assert.deepEqual(
    outer.map((e) => [e.name, e.type]),
    [
      ['metadata.json', '0'],
      ['code.tar.gz', '0'],
    ],
  );
  const [metadata, code] = outer as [(typeof outer)[0], (typeof outer)[0]];
  assert.deepEqual(JSON.parse(metadata.data.toString()), { type: 'ccaas', label: 'pmhe' });
  const inner = untar(code.data);
  assert.deepEqual(
    inner.map((e) => e.name),
    ['connection.json'],
  );
  const connection = JSON.parse((inner[0] as (typeof inner)[0]).data.toString()) as Record<string, unknown>;
  assert.deepEqual(connection, {
    address: 'pmhe-chaincode.example.com:9999',
    dial_timeout: '10s',
    tls_required: false,
  });
  const defaults = JSON.parse(await readFile(join(ROOT, 'chaincode', 'connection.json'), 'utf8'));
  assert.equal(defaults.address, '{{.peername}}_pmhe:9999', 'each peer dials its own chaincode server');

  const again = await packageChaincode({
    out: join(dir, 'again.tgz'),
    address: 'pmhe-chaincode.example.com:9999',
  });
  assert.equal(again.packageId, result.packageId);
  if (HAVE_TAR) {
    const listed = execFileSync('tar', ['-tzf', path], { encoding: 'utf8' });
    assert.deepEqual(listed.trim().split('\n'), ['metadata.json', 'code.tar.gz']);
  }
});

/** Parameter counts (including the context) of the bundled contract's methods, read in a child process. */
function methodArity(bundle: string): Record<string, number> {
  const script = `const [C] = require(${JSON.stringify(bundle)}).contracts; const p = C.prototype;
    const names = Object.getOwnPropertyNames(p).filter((n) => n !== 'constructor' && typeof p[n] === 'function');
    process.stdout.write('\\n' + JSON.stringify(Object.fromEntries(names.map((n) => [n, p[n].length]))));`;
  const out = execFileSync(NODE, ['-e', script], { cwd: dirname(bundle), env: ENV, encoding: 'utf8' });
  return JSON.parse(out.slice(out.lastIndexOf('\n') + 1)) as Record<string, number>;
}

/** A signed proposal as a peer forwards it; the shim decodes it but does not check the signature. */
async function proposalFor(txId: string): Promise<peer.SignedProposal> {
  const key = join(dir, 'client.key');
  const cert = join(dir, 'client.pem');
  const options =
    'req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /O=Org1/CN=User1';
  execFileSync('openssl', [...options.split(' '), '-keyout', key, '-out', cert], { stdio: 'ignore' });
  const creator = new msp.SerializedIdentity();
  creator.setMspid('Org1MSP');
  creator.setIdBytes(await readFile(cert));
  const signatureHeader = new common.SignatureHeader();
  signatureHeader.setCreator(creator.serializeBinary());
  signatureHeader.setNonce(new Uint8Array(24).fill(1));
  const channelHeader = new common.ChannelHeader();
  channelHeader.setType(common.HeaderType.ENDORSER_TRANSACTION);
  channelHeader.setChannelId('mychannel');
  channelHeader.setTxId(txId);
  const header = new common.Header();
  header.setChannelHeader(channelHeader.serializeBinary());
  header.setSignatureHeader(signatureHeader.serializeBinary());
  const payload = new peer.ChaincodeProposalPayload();
  payload.setInput(new Uint8Array([0]));
  const proposal = new peer.Proposal();
  proposal.setHeader(header.serializeBinary());
  proposal.setPayload(payload.serializeBinary());
  const signed = new peer.SignedProposal();
  signed.setProposalBytes(proposal.serializeBinary());
  signed.setSignature(new Uint8Array([1]));
  return signed;
}

test('the start script serves the bundle: it listens and answers a peer', async (t) => {
  const port = await freePort();
  const { packageId } = await packageChaincode({ out: join(dir, 'serve.tgz'), address: `127.0.0.1:${port}` });
  const manifest = JSON.parse(await readFile(join(dir, 'cc', 'package.json'), 'utf8')) as {
    scripts: { start: string };
  };
  // Run the start script's own arguments, with this repository's Node rather than the PATH's.
  const variables: Record<string, string> = {
    CHAINCODE_SERVER_ADDRESS: `127.0.0.1:${port}`,
    CHAINCODE_ID: packageId,
  };
  const [bin, ...args] = manifest.scripts.start
    .split(/\s+/)
    .map((word) => word.replace(/^\$(\w+)$/, (_, name: string) => variables[name] ?? word));
  assert.equal(bin, 'fabric-chaincode-node');
  const server = spawn(NODE, [SHIM_CLI, ...args], {
    cwd: join(dir, 'cc'),
    env: ENV,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(server);
  let stderr = '';
  server.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  try {
    await waitForListening(port, server, 8000);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${stderr}`);
  }

  // The peer's side of the chaincode protocol: REGISTER ← , REGISTERED → , READY → , TRANSACTION → , COMPLETED ←.
  if (!HAVE_OPENSSL) t.diagnostic('openssl not found: stopping after the listen check');
  else {
    const client = new peer.ChaincodeClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const stream = client.connect();
    stream.on('error', () => {}); // cancelled at the end
    const incoming = on(stream, 'data', { signal: AbortSignal.timeout(5000) });
    const next = async (): Promise<peer.ChaincodeMessage> => {
      const { value } = (await incoming.next()) as { value: [peer.ChaincodeMessage] };
      return value[0];
    };
    const send = (type: number, fill?: (m: peer.ChaincodeMessage) => void): void => {
      const message = new peer.ChaincodeMessage();
      message.setType(type as peer.ChaincodeMessage.TypeMap[keyof peer.ChaincodeMessage.TypeMap]);
      fill?.(message);
      stream.write(message);
    };
    const Type = peer.ChaincodeMessage.Type;
    try {
      const register = await next();
      assert.equal(register.getType(), Type.REGISTER);
      assert.equal(peer.ChaincodeID.deserializeBinary(register.getPayload_asU8()).getName(), packageId);
      send(Type.REGISTERED);
      send(Type.READY);
      const input = new peer.ChaincodeInput();
      input.setArgsList([Buffer.from('org.hyperledger.fabric:GetMetadata')]);
      const proposal = await proposalFor('tx-metadata');
      send(Type.TRANSACTION, (m) => {
        m.setTxid('tx-metadata');
        m.setChannelId('mychannel');
        m.setPayload(input.serializeBinary());
        m.setProposal(proposal);
      });
      const completed = await next();
      const response = peer.Response.deserializeBinary(completed.getPayload_asU8());
      assert.equal(completed.getType(), Type.COMPLETED, response.getMessage());
      assert.equal(response.getStatus(), 200, response.getMessage());
      const metadata = JSON.parse(Buffer.from(response.getPayload_asU8()).toString()) as {
        contracts: Record<
          string,
          { name: string; transactions: Array<{ name: string; parameters?: unknown[] }> }
        >;
      };
      const contracts = Object.values(metadata.contracts).filter((c) => c.name !== 'org.hyperledger.fabric');
      assert.equal(contracts.length, 1, `one contract, found ${Object.keys(metadata.contracts).join(', ')}`);
      const transactions = contracts[0]?.transactions ?? [];
      const names = transactions.map((tx) => tx.name);
      for (const expected of EXPECTED_TRANSACTIONS) {
        assert.ok(names.includes(expected), `transaction ${expected} in ${names.join(', ')}`);
      }
      // Without design:paramtypes (esbuild emits none) fabric-contract-api refuses arguments it
      // was not told about: every parameter after the context must be declared with @Param.
      const arity = methodArity(built.bundle);
      for (const tx of transactions) {
        const declared = tx.parameters?.length ?? 0;
        const expected = Math.max(0, (arity[tx.name] ?? 1) - 1);
        assert.equal(
          declared,
          expected,
          `${tx.name}: ${expected} parameters, ${declared} declared with @Param`,
        );
      }
    } finally {
      stream.cancel();
      client.close();
    }
  }

  const exited = once(server, 'exit');
  server.kill('SIGTERM');
  const [exitCode, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  assert.ok(exitCode === 0 || signal === 'SIGTERM', `stopped: ${exitCode ?? signal}`);
});
