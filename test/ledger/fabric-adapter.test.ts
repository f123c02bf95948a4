/**
 * The Fabric adapter at its seams: Fabric itself cannot run here, so a loopback gRPC server
 * speaking the peer's Gateway service (gateway.Gateway from @hyperledger/fabric-protos), over
 * TLS, records what the adapter sends and answers as a peer would, including its error
 * details. Keys and certificates are made at test time (node:crypto and openssl).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, verify as verifySignature, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { common, gateway, google, msp, peer } from '@hyperledger/fabric-protos';
import { LedgerError } from '../../src/ledger/errors.ts';
import { FabricLedger } from '../../src/ledger/fabric/adapter.ts';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  type FabricConnectionConfig,
  loadConnectionFile,
  parseConnectionFile,
} from '../../src/ledger/fabric/connection.ts';
import { blockHeaderBytes } from '../../src/ledger/fabric/qscc.ts';
import { verifyChannel } from '../../src/ledger/fabric/verify.ts';

const require = createRequire(import.meta.url);
const HAVE_OPENSSL = spawnSync('openssl', ['version']).status === 0;
const skip = HAVE_OPENSSL ? false : 'openssl is not installed';

const CHANNEL = 'mychannel';
const CHAINCODE = 'pmhe';
const MSP_ID = 'Org1MSP';
const PEER_NAME = 'peer0.org1.example.com';
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const utf8 = (b: Uint8Array): string => new TextDecoder().decode(b);

/** google.protobuf.Timestamp: fabric-protos needs one for channel headers but does not type it. */
interface Timestamp {
  setSeconds(value: number): void;
  setNanos(value: number): void;
}
const { Timestamp: TimestampClass } = require('google-protobuf/google/protobuf/timestamp_pb.js') as {
  Timestamp: new () => Timestamp;
};

// ---------------------------------------------------------------------------------------------
// Files: a TLS CA/server certificate, an identity in Fabric's MSP folder layout, a connection file.

let dir = '';
let connectionPath = '';
let tlsKey = Buffer.alloc(0);
let tlsCert = Buffer.alloc(0);
let identityCert = Buffer.alloc(0);

/** Runs openssl with space-separated options, then file arguments (which may hold spaces). */
function openssl(options: string, ...files: string[]): void {
  execFileSync('openssl', [...options.split(' '), ...files], { stdio: ['ignore', 'ignore', 'pipe'] });
}

async function makeFiles(): Promise<void> {
  dir = await mkdtemp(join(tmpdir(), 'pmhe-fabric-'));
  await mkdir(join(dir, 'tls'));
  await mkdir(join(dir, 'msp', 'signcerts'), { recursive: true });
  await mkdir(join(dir, 'msp', 'keystore'));
  // Self-signed, so it is its own CA; the name differs from 127.0.0.1, which tests hostnameOverride.
  openssl(
    `req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=${PEER_NAME} -addext subjectAltName=DNS:${PEER_NAME}`,
    '-keyout',
    join(dir, 'tls', 'server.key'),
    '-out',
    join(dir, 'tls', 'ca.crt'),
  );
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyFile = join(dir, 'msp', 'keystore', 'a1b2c3_sk');
  await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const certFile = join(dir, 'msp', 'signcerts', 'cert.pem');
  openssl('req -x509 -days 1 -subj /O=Org1/CN=User1', '-key', keyFile, '-out', certFile);
  tlsKey = await readFile(join(dir, 'tls', 'server.key'));
  tlsCert = await readFile(join(dir, 'tls', 'ca.crt'));
  identityCert = await readFile(certFile);
  connectionPath = join(dir, 'connection.json');
  await writeFile(connectionPath, JSON.stringify(connectionJson(7051)));
}

function connectionJson(port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    peer: { endpoint: `127.0.0.1:${port}`, tlsCaCertPath: 'tls/ca.crt', hostnameOverride: PEER_NAME },
    identity: { mspId: MSP_ID, certPath: 'msp/signcerts', keyPath: 'msp/keystore' },
    channel: CHANNEL,
    chaincode: CHAINCODE,
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------
// What a proposal says, decoded independently of the adapter.

interface Decoded {
  txId: string;
  channel: string;
  type: number;
  chaincode: string;
  fn: string;
  args: string[];
  transient: Map<string, Uint8Array>;
  creatorMsp: string;
  creatorCert: string;
  proposalBytes: Uint8Array;
  signature: Uint8Array;
  header: common.Header;
  payloadBytes: Uint8Array;
}

function decodeProposal(signed: peer.SignedProposal | undefined): Decoded {
  assert.ok(signed, 'a signed proposal');
  const proposal = peer.Proposal.deserializeBinary(signed.getProposalBytes_asU8());
  const header = common.Header.deserializeBinary(proposal.getHeader_asU8());
  const channelHeader = common.ChannelHeader.deserializeBinary(header.getChannelHeader_asU8());
  const signatureHeader = common.SignatureHeader.deserializeBinary(header.getSignatureHeader_asU8());
  const creator = msp.SerializedIdentity.deserializeBinary(signatureHeader.getCreator_asU8());
  const extension = peer.ChaincodeHeaderExtension.deserializeBinary(channelHeader.getExtension_asU8());
  const payload = peer.ChaincodeProposalPayload.deserializeBinary(proposal.getPayload_asU8());
  const spec = peer.ChaincodeInvocationSpec.deserializeBinary(payload.getInput_asU8());
  const [fn = new Uint8Array(), ...args] = spec.getChaincodeSpec()?.getInput()?.getArgsList_asU8() ?? [];
  const transient = new Map<string, Uint8Array>();
  payload.getTransientmapMap().forEach((value: Uint8Array | string, key: string) => {
    transient.set(key, typeof value === 'string' ? Buffer.from(value, 'base64') : value);
  });
  return {
    txId: channelHeader.getTxId(),
    channel: channelHeader.getChannelId(),
    type: channelHeader.getType(),
    chaincode: extension.getChaincodeId()?.getName() ?? '',
    fn: utf8(fn),
    args: args.map(utf8),
    transient,
    creatorMsp: creator.getMspid(),
    creatorCert: utf8(creator.getIdBytes_asU8()),
    proposalBytes: signed.getProposalBytes_asU8(),
    signature: signed.getSignature_asU8(),
    header,
    payloadBytes: proposal.getPayload_asU8(),
  };
}

/** A transaction envelope as a peer's gateway assembles it after endorsement. */
function preparedEnvelope(decoded: Decoded, result: Uint8Array): common.Envelope {
  const response = new peer.Response();
  response.setStatus(200);
  response.setPayload(result);
  const action = new peer.ChaincodeAction();
  action.setResponse(response);
  const responsePayload = new peer.ProposalResponsePayload();
  responsePayload.setExtension$(action.serializeBinary());
  const endorsed = new peer.ChaincodeEndorsedAction();
  endorsed.setProposalResponsePayload(responsePayload.serializeBinary());
  const actionPayload = new peer.ChaincodeActionPayload();
  actionPayload.setAction(endorsed);
  actionPayload.setChaincodeProposalPayload(decoded.payloadBytes);
  const txAction = new peer.TransactionAction();
  txAction.setPayload(actionPayload.serializeBinary());
  const transaction = new peer.Transaction();
  transaction.setActionsList([txAction]);
  const payload = new common.Payload();
  payload.setHeader(decoded.header);
  payload.setData(transaction.serializeBinary());
  const envelope = new common.Envelope();
  envelope.setPayload(payload.serializeBinary());
  return envelope;
}

/** A peer's error: a gRPC status with gateway.ErrorDetail entries, as fabric's gateway sends them. */
/** A gateway error; each detail is an endorser's message, from our organisation unless named. */
function peerError(
  code: grpc.status,
  message: string,
  details: (string | { mspId: string; message: string })[] = [],
): Partial<grpc.StatusObject> {
  const status = new google.rpc.Status();
  status.setCode(code);
  status.setMessage(message);
  for (const item of details) {
    const { mspId, message: text } = typeof item === 'string' ? { mspId: MSP_ID, message: item } : item;
    const detail = new gateway.ErrorDetail();
    detail.setAddress(`${PEER_NAME}:7051`);
    detail.setMspId(mspId);
    detail.setMessage(text);
    const any = status.addDetails();
    any.setTypeUrl('type.googleapis.com/gateway.ErrorDetail');
    any.setValue(detail.serializeBinary());
  }
  const metadata = new grpc.Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(status.serializeBinary()));
  return { code, details: message, metadata };
}

// ---------------------------------------------------------------------------------------------
// A block as qscc returns it: three transactions (valid, MVCC conflict, configuration).

const PREVIOUS_HASH = new Uint8Array(32).fill(0x11);
const DATA_HASH = new Uint8Array(32).fill(0x22);

function txEnvelope(txId: string, type: number, fn: string, seconds: number): Uint8Array {
  const channelHeader = new common.ChannelHeader();
  channelHeader.setType(type);
  channelHeader.setTxId(txId);
  channelHeader.setChannelId(CHANNEL);
  const time = new TimestampClass();
  time.setSeconds(seconds);
  time.setNanos(250_000_000);
  channelHeader.setTimestamp(time);
  const header = new common.Header();
  header.setChannelHeader(channelHeader.serializeBinary());
  const input = new peer.ChaincodeInput();
  input.setArgsList([text(fn), text('arg')]);
  const spec = new peer.ChaincodeSpec();
  spec.setInput(input);
  const invocation = new peer.ChaincodeInvocationSpec();
  invocation.setChaincodeSpec(spec);
  const proposalPayload = new peer.ChaincodeProposalPayload();
  proposalPayload.setInput(invocation.serializeBinary());
  const response = new peer.Response();
  response.setStatus(200);
  response.setPayload(text(`returned by ${txId}`));
  const chaincodeAction = new peer.ChaincodeAction();
  chaincodeAction.setResponse(response);
  const responsePayload = new peer.ProposalResponsePayload();
  responsePayload.setExtension$(chaincodeAction.serializeBinary());
  const endorsed = new peer.ChaincodeEndorsedAction();
  endorsed.setProposalResponsePayload(responsePayload.serializeBinary());
  const actionPayload = new peer.ChaincodeActionPayload();
  actionPayload.setAction(endorsed);
  actionPayload.setChaincodeProposalPayload(proposalPayload.serializeBinary());
  const action = new peer.TransactionAction();
  action.setPayload(actionPayload.serializeBinary());
  const transaction = new peer.Transaction();
  transaction.setActionsList([action]);
  const payload = new common.Payload();
  payload.setHeader(header);
  payload.setData(transaction.serializeBinary());
  const envelope = new common.Envelope();
  envelope.setPayload(payload.serializeBinary());
  return envelope.serializeBinary();
}

function blockBytes(): Uint8Array {
  const header = new common.BlockHeader();
  header.setNumber(5);
  header.setPreviousHash(PREVIOUS_HASH);
  header.setDataHash(DATA_HASH);
  const data = new common.BlockData();
  const ENDORSER = common.HeaderType.ENDORSER_TRANSACTION;
  data.setDataList([
    txEnvelope('tx-a', ENDORSER, 'receive', 1_700_000_000),
    txEnvelope('tx-b', ENDORSER, 'issue', 1_700_000_001),
    txEnvelope('tx-c', common.HeaderType.CONFIG, 'ignored', 1_700_000_002),
  ]);
  const metadata = new common.BlockMetadata();
  const empty = new Uint8Array(0);
  metadata.setMetadataList([empty, empty, Uint8Array.of(0, 11, 0), empty, empty]);
  const block = new common.Block();
  block.setHeader(header);
  block.setData(data);
  block.setMetadata(metadata);
  return block.serializeBinary();
}

// ---------------------------------------------------------------------------------------------
// The fake peer.

type Reply = { payload: Uint8Array } | { error: Partial<grpc.StatusObject> };

interface Behaviour {
  endorse: (d: Decoded) => Reply;
  commit: { code: number; block: number } | 'hang';
  evaluate: (d: Decoded) => Reply;
  events: gateway.ChaincodeEventsResponse[];
}

const recorded = {
  endorse: [] as gateway.EndorseRequest[],
  submit: [] as gateway.SubmitRequest[],
  commitStatus: [] as gateway.SignedCommitStatusRequest[],
  evaluate: [] as gateway.EvaluateRequest[],
  events: [] as gateway.SignedChaincodeEventsRequest[],
};
let behaviour: Behaviour;
let eventStreamsCancelled = 0;

function defaults(): Behaviour {
  return {
    endorse: (d) => ({ payload: text(JSON.stringify({ fn: d.fn, args: d.args })) }),
    commit: { code: 0, block: 7 },
    evaluate: qsccOr(() => ({ payload: text('evaluated') })),
    events: [],
  };
}

/** Answers qscc calls as a peer would; other chaincodes go to `other`. */
function qsccOr(other: (d: Decoded) => Reply): (d: Decoded) => Reply {
  return (d) => {
    if (d.chaincode !== 'qscc') return other(d);
    assert.equal(d.args[0], CHANNEL);
    if (d.fn === 'GetChainInfo') {
      const info = new common.BlockchainInfo();
      info.setHeight(8);
      return { payload: info.serializeBinary() };
    }
    const known =
      (d.fn === 'GetBlockByNumber' && d.args[1] === '5') ||
      (d.fn === 'GetBlockByTxID' && d.args[1] === 'tx-b');
    if (known) return { payload: blockBytes() };
    const why =
      d.fn === 'GetBlockByNumber'
        ? `no such block number [${d.args[1]}] in index`
        : 'Entry not found in index';
    return {
      error: peerError(grpc.status.UNKNOWN, 'evaluate call to endorser returned error', [
        `chaincode response 500, Failed to get ${d.args[1]}, error ${why}`,
      ]),
    };
  };
}

function reply<T>(r: Reply, make: (payload: Uint8Array) => T, callback: grpc.sendUnaryData<T>): void {
  if ('error' in r) callback(r.error, null);
  else callback(null, make(r.payload));
}

const service: gateway.IGatewayServer = {
  endorse(call, callback) {
    recorded.endorse.push(call.request);
    const decoded = decodeProposal(call.request.getProposedTransaction());
    reply(
      behaviour.endorse(decoded),
      (payload) => {
        const response = new gateway.EndorseResponse();
        response.setPreparedTransaction(preparedEnvelope(decoded, payload));
        return response;
      },
      callback,
    );
  },
  submit(call, callback) {
    recorded.submit.push(call.request);
    callback(null, new gateway.SubmitResponse());
  },
  commitStatus(call, callback) {
    recorded.commitStatus.push(call.request);
    const commit = behaviour.commit;
    if (commit === 'hang') return; // the client's deadline ends the call
    const response = new gateway.CommitStatusResponse();
    response.setResult(commit.code as peer.TxValidationCodeMap[keyof peer.TxValidationCodeMap]);
    response.setBlockNumber(commit.block);
    callback(null, response);
  },
  evaluate(call, callback) {
    recorded.evaluate.push(call.request);
    reply(
      behaviour.evaluate(decodeProposal(call.request.getProposedTransaction())),
      (payload) => {
        const result = new peer.Response();
        result.setStatus(200);
        result.setPayload(payload);
        const response = new gateway.EvaluateResponse();
        response.setResult(result);
        return response;
      },
      callback,
    );
  },
  chaincodeEvents(call) {
    recorded.events.push(call.request);
    for (const response of behaviour.events) call.write(response);
    // Stays open like a peer waiting for the next block, until the client cancels.
    call.on('cancelled', () => {
      eventStreamsCancelled += 1;
    });
  },
};

let server: grpc.Server | undefined;
let port = 0;
const ledgers: FabricLedger[] = [];

async function open(extra: Record<string, unknown> = {}): Promise<FabricLedger> {
  const path = join(dir, `connection-${ledgers.length}.json`);
  await writeFile(path, JSON.stringify(connectionJson(port, extra)));
  const ledger = await FabricLedger.connect(path);
  ledgers.push(ledger);
  return ledger;
}

async function rejectsWith(
  promise: Promise<unknown>,
  expected: { code: string; message?: RegExp | string; validationCode?: number; txId?: string },
): Promise<LedgerError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof LedgerError, `a LedgerError, got ${String(error)}`);
    assert.equal(error.code, expected.code, error.message);
    if (typeof expected.message === 'string') assert.equal(error.message, expected.message);
    else if (expected.message) assert.match(error.message, expected.message);
    if (expected.validationCode !== undefined) assert.equal(error.validationCode, expected.validationCode);
    if (expected.txId !== undefined) assert.equal(error.txId, expected.txId);
    return error;
  }
  assert.fail('expected a rejection');
}

before(async () => {
  if (!HAVE_OPENSSL) return;
  await makeFiles();
  server = new grpc.Server();
  server.addService(gateway.GatewayService, service);
  const credentials = grpc.ServerCredentials.createSsl(null, [{ private_key: tlsKey, cert_chain: tlsCert }]);
  port = await new Promise<number>((resolve, reject) => {
    server?.bindAsync('127.0.0.1:0', credentials, (error, bound) => (error ? reject(error) : resolve(bound)));
  });
});

beforeEach(() => {
  behaviour = defaults();
  for (const list of Object.values(recorded)) list.length = 0;
});

after(async () => {
  for (const ledger of ledgers) await ledger.close();
  server?.forceShutdown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe('connection file', { skip }, () => {
  const file = '/etc/pmhe/connection.json';
  const valid = (): Record<string, unknown> => connectionJson(7051);

  test('a valid file passes; each mistake names the file and the field', () => {
    assert.doesNotThrow(() => parseConnectionFile(valid(), file));
    const cases: Array<[(c: Record<string, unknown>) => void, RegExp]> = [
      [(c) => delete c.channel, /connection file \/etc\/pmhe\/connection\.json: channel: is required/],
      [
        (c) => Object.assign(c.peer as object, { endpoint: 'localhost' }),
        /peer\.endpoint: must be host:port/,
      ],
      [(c) => Object.assign(c.peer as object, { endpoint: 'localhost:99999' }), /peer\.endpoint: port 99999/],
      [(c) => delete (c.identity as Record<string, unknown>).mspId, /identity\.mspId: is required/],
      [(c) => Object.assign(c, { chanel: 'typo' }), /chanel: is not a known field/],
      [(c) => Object.assign(c, { timeouts: { endorseMs: '5s' } }), /timeouts\.endorseMs: Expected integer/],
      [(c) => Object.assign(c, { timeouts: { waitMs: 5 } }), /timeouts\.waitMs: is not a known field/],
      [(c) => Object.assign(c, { maxMessageBytes: 1024 }), /maxMessageBytes: .*4194304/],
      [(c) => Object.assign(c, { endorsingOrganizations: [] }), /endorsingOrganizations: /],
      [(c) => Object.assign(c, { channel: 'My Channel' }), /channel: /],
    ];
    for (const [mutate, message] of cases) {
      const c = valid();
      mutate(c);
      assert.throws(
        () => parseConnectionFile(c, file),
        (e: unknown) => e instanceof LedgerError && e.code === 'BAD_ARGUMENT' && message.test(e.message),
      );
    }
  });

  test('paths resolve against the file; MSP folders with one file work; defaults fill in', async () => {
    const config = await loadConnectionFile(connectionPath);
    assert.equal(config.source, connectionPath);
    assert.equal(config.mspId, MSP_ID);
    assert.equal(config.hostnameOverride, PEER_NAME);
    assert.deepEqual(Buffer.from(config.certificate), identityCert);
    assert.equal(config.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES);
    assert.ok(config.maxMessageBytes > 4 * 1024 * 1024);
    assert.ok(config.timeouts.endorseMs >= 60_000, 'two sequential endorsements of up to 30 s');
    assert.equal(config.endorsingOrganizations, undefined);
  });

  test('unreadable, ambiguous or mismatched files are named', async () => {
    await mkdir(join(dir, 'two-keys'));
    await writeFile(join(dir, 'two-keys', 'a_sk'), 'x');
    await writeFile(join(dir, 'two-keys', 'b_sk'), 'y');
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await writeFile(join(dir, 'other.key'), other.export({ type: 'pkcs8', format: 'pem' }));
    const identity = (keyPath: string) => ({
      identity: { mspId: MSP_ID, certPath: 'msp/signcerts', keyPath },
    });
    const cases: Array<[string, string | Record<string, unknown>, RegExp]> = [
      [
        'c-missing.json',
        identity('nowhere/key.pem'),
        /c-missing\.json: identity\.keyPath: cannot read \/.*\/key\.pem/,
      ],
      ['c-two.json', identity('two-keys'), /identity\.keyPath: folder .* exactly one file, it holds 2/],
      ['c-mismatch.json', identity('other.key'), /identity\.keyPath: does not match the public key/],
      [
        'c-notcert.json',
        { peer: { endpoint: 'h:1', tlsCaCertPath: 'other.key' } },
        /peer\.tlsCaCertPath: is not a PEM X\.509/,
      ],
      ['c-bad.json', '{ "peer": ', /c-bad\.json: not valid JSON/],
    ];
    for (const [name, content, message] of cases) {
      const path = join(dir, name);
      await writeFile(
        path,
        typeof content === 'string' ? content : JSON.stringify({ ...valid(), ...content }),
      );
      await rejectsWith(loadConnectionFile(path), { code: 'BAD_ARGUMENT', message });
    }
    await rejectsWith(loadConnectionFile(join(dir, 'absent.json')), {
      code: 'BAD_ARGUMENT',
      message: /absent\.json: cannot read/,
    });
  });
});

describe('FabricLedger against a loopback Gateway service', { skip }, () => {
  test('submit sends a signed proposal for the right channel, chaincode, function, args and transient data', async () => {
    const ledger = await open({ endorsingOrganizations: ['Org1MSP', 'Org2MSP'] });
    const blob = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256);
    const committed = await ledger.submit('receive', {
      args: ['alice', 'ünïcødé ✓'],
      transient: { tuples: blob },
    });

    assert.equal(recorded.endorse.length, 1);
    const request = recorded.endorse[0] as gateway.EndorseRequest;
    const d = decodeProposal(request.getProposedTransaction());
    assert.equal(request.getChannelId(), CHANNEL);
    assert.equal(d.channel, CHANNEL);
    assert.equal(d.type, common.HeaderType.ENDORSER_TRANSACTION);
    assert.equal(d.chaincode, CHAINCODE);
    assert.equal(d.fn, 'receive');
    assert.deepEqual(d.args, ['alice', 'ünïcødé ✓']);
    assert.deepEqual([...d.transient.keys()], ['tuples']);
    assert.deepEqual(Buffer.from(d.transient.get('tuples') as Uint8Array), Buffer.from(blob));
    assert.deepEqual(request.getEndorsingOrganizationsList(), ['Org1MSP', 'Org2MSP']);
    assert.equal(request.getTransactionId(), d.txId);
    assert.equal(d.creatorMsp, MSP_ID);
    assert.equal(d.creatorCert, identityCert.toString());

    // Signatures verify with the public key of the identity's certificate: proposal, transaction, commit request.
    const publicKey = new X509Certificate(identityCert).publicKey;
    assert.ok(verifySignature('sha256', d.proposalBytes, publicKey, d.signature), 'proposal signature');
    const submitted = recorded.submit[0] as gateway.SubmitRequest;
    const envelope = submitted.getPreparedTransaction() as common.Envelope;
    assert.equal(submitted.getTransactionId(), d.txId);
    assert.equal(submitted.getChannelId(), CHANNEL);
    assert.ok(verifySignature('sha256', envelope.getPayload_asU8(), publicKey, envelope.getSignature_asU8()));
    const status = recorded.commitStatus[0] as gateway.SignedCommitStatusRequest;
    assert.ok(verifySignature('sha256', status.getRequest_asU8(), publicKey, status.getSignature_asU8()));
    const statusRequest = gateway.CommitStatusRequest.deserializeBinary(status.getRequest_asU8());
    assert.equal(statusRequest.getTransactionId(), d.txId);

    assert.equal(committed.txId, d.txId);
    assert.equal(committed.blockNumber, 7);
    assert.deepEqual(JSON.parse(utf8(committed.payload)), { fn: 'receive', args: ['alice', 'ünïcødé ✓'] });
  });

  test("the chaincode's refusal is ENDORSEMENT with its own message and the transaction id", async () => {
    const ledger = await open();
    behaviour.endorse = () => ({
      error: peerError(
        grpc.status.ABORTED,
        'failed to endorse transaction, see attached details for more info',
        ['chaincode response 500, receive: nonce 42 was already used'],
      ),
    });
    const error = await rejectsWith(ledger.submit('receive', { args: ['x'] }), {
      code: 'ENDORSEMENT',
      message: 'receive: nonce 42 was already used',
    });
    const d = decodeProposal((recorded.endorse[0] as gateway.EndorseRequest).getProposedTransaction());
    assert.equal(error.txId, d.txId);
    assert.equal(recorded.submit.length, 0, 'nothing is ordered after a refusal');
  });

  test('a peer-side refusal without a chaincode message is UNAVAILABLE (kept, retried) naming the peer', async () => {
    const ledger = await open();
    behaviour.endorse = () => ({
      error: peerError(grpc.status.FAILED_PRECONDITION, 'failed to endorse', [
        'access denied: creator org unknown',
      ]),
    });
    await rejectsWith(ledger.submit('receive'), { code: 'UNAVAILABLE', message: /Org1MSP .*access denied/ });
  });

  test("LAGGING PEER: a refusal by another organisation only is MISMATCH, not the contract's answer", async () => {
    const ledger = await open({ endorsingOrganizations: ['Org1MSP', 'Org2MSP'] });
    behaviour.endorse = () => ({
      error: peerError(
        grpc.status.ABORTED,
        'failed to collect enough transaction endorsements, see attached details for more info',
        [
          {
            mspId: 'Org2MSP',
            message: 'chaincode response 500, NOT_FOUND: params.submissions[0]: no submission',
          },
        ],
      ),
    });
    await rejectsWith(ledger.submit('issue', { args: ['r'] }), {
      code: 'MISMATCH',
      message: /Org2MSP.*NOT_FOUND/,
    });
    // Both organisations refusing: ours is the contract's answer.
    behaviour.endorse = () => ({
      error: peerError(grpc.status.ABORTED, 'failed to collect enough transaction endorsements', [
        { mspId: 'Org2MSP', message: 'chaincode response 500, REPLAY: nonce: already used' },
        { mspId: MSP_ID, message: 'chaincode response 500, REPLAY: nonce: already used' },
      ]),
    });
    await rejectsWith(ledger.submit('issue', { args: ['r'] }), { code: 'ENDORSEMENT', message: /^REPLAY: / });
  });

  test('MISMATCH: ABORTED without a chaincode message (responses differ, chaincode unreachable)', async () => {
    const ledger = await open();
    behaviour.endorse = () => ({
      error: peerError(grpc.status.ABORTED, 'failed to collect enough transaction endorsements', [
        { mspId: 'Org2MSP', message: 'ProposalResponsePayloads do not match' },
      ]),
    });
    await rejectsWith(ledger.submit('issue'), { code: 'MISMATCH', message: /do not match/ });
    behaviour.endorse = () => ({
      error: peerError(grpc.status.ABORTED, 'failed to endorse transaction', [
        'could not launch chaincode pmhe:1: connection refused 127.0.0.1:9999',
      ]),
    });
    await rejectsWith(ledger.submit('issue'), { code: 'MISMATCH', message: /could not launch chaincode/ });
  });

  test('discovery not settled ("failed to find any endorsing peers") is UNAVAILABLE', async () => {
    const ledger = await open();
    behaviour.endorse = () => ({
      error: peerError(
        grpc.status.FAILED_PRECONDITION,
        'failed to find any endorsing peers for org(s): Org2MSP',
      ),
    });
    await rejectsWith(ledger.submit('setup'), { code: 'UNAVAILABLE', message: /discovery/ });
  });

  test('an invalidated transaction (MVCC_READ_CONFLICT) is INVALID with validationCode 11', async () => {
    const ledger = await open();
    behaviour.commit = { code: 11, block: 9 };
    const error = await rejectsWith(ledger.submit('issue', { args: ['r1'] }), {
      code: 'INVALID',
      validationCode: 11,
      message: /MVCC_READ_CONFLICT \(11\)/,
    });
    const d = decodeProposal((recorded.endorse[0] as gateway.EndorseRequest).getProposedTransaction());
    assert.equal(error.txId, d.txId);
  });

  test('a commit status that does not come in time is UNAVAILABLE and says the outcome is unknown', async () => {
    const ledger = await open({ timeouts: { commitStatusMs: 200 } });
    behaviour.commit = 'hang';
    const error = await rejectsWith(ledger.submit('receive'), {
      code: 'UNAVAILABLE',
      message: /may still commit/,
    });
    assert.ok(error.txId);
  });

  test('evaluate returns the bytes; a refusal is ENDORSEMENT; nothing is ordered', async () => {
    const ledger = await open({ endorsingOrganizations: ['Org1MSP', 'Org2MSP'] });
    const bytes = await ledger.evaluate('history', {
      args: ['alice'],
      transient: { key: Uint8Array.of(1, 2) },
    });
    assert.equal(utf8(bytes), 'evaluated');
    const d = decodeProposal((recorded.evaluate[0] as gateway.EvaluateRequest).getProposedTransaction());
    assert.equal(d.fn, 'history');
    assert.deepEqual(d.args, ['alice']);
    assert.deepEqual([...(d.transient.get('key') ?? [])], [1, 2]);
    assert.ok(
      verifySignature('sha256', d.proposalBytes, new X509Certificate(identityCert).publicKey, d.signature),
    );
    assert.equal(recorded.endorse.length + recorded.submit.length, 0);

    behaviour.evaluate = () => ({
      error: peerError(
        grpc.status.UNKNOWN,
        'evaluate call to endorser returned error: chaincode response 500, no such user',
        ['chaincode response 500, no such user'],
      ),
    });
    await rejectsWith(ledger.evaluate('history', { args: ['bob'] }), {
      code: 'ENDORSEMENT',
      message: 'no such user',
    });
  });

  test('results above 4 MiB arrive by default; above maxMessageBytes they are BAD_ARGUMENT', async () => {
    const big = new Uint8Array(5 * 1024 * 1024).fill(7);
    behaviour.evaluate = () => ({ payload: big });
    const roomy = await open();
    assert.equal((await roomy.evaluate('result')).length, big.length);
    const tight = await open({ maxMessageBytes: 4 * 1024 * 1024 });
    await rejectsWith(tight.evaluate('result'), { code: 'BAD_ARGUMENT', message: /maxMessageBytes/ });
  });

  test('arguments Fabric would alter or cannot carry are refused before anything is sent', async () => {
    const ledger = await open();
    await rejectsWith(ledger.submit('receive', { args: ['ok', 'half \ud800'] }), {
      code: 'BAD_ARGUMENT',
      message: /argument 1/,
    });
    await rejectsWith(ledger.submit('receive', { args: [42 as unknown as string] }), {
      code: 'BAD_ARGUMENT',
      message: /argument 0 must be a string/,
    });
    await rejectsWith(ledger.submit(''), { code: 'BAD_ARGUMENT' });
    assert.equal(recorded.endorse.length, 0);
  });

  test('events come from the chaincode event stream from startBlock, and stop when aborted', async () => {
    const ledger = await open();
    const event = (txId: string, name: string, payload: string): peer.ChaincodeEvent => {
      const e = new peer.ChaincodeEvent();
      e.setChaincodeId(CHAINCODE);
      e.setTxId(txId);
      e.setEventName(name);
      e.setPayload(text(payload));
      return e;
    };
    const block = (number: number, events: peer.ChaincodeEvent[]): gateway.ChaincodeEventsResponse => {
      const r = new gateway.ChaincodeEventsResponse();
      r.setBlockNumber(number);
      r.setEventsList(events);
      return r;
    };
    behaviour.events = [
      block(3, [event('t1', 'received', 'a'), event('t2', 'issued', 'b')]),
      block(4, [event('t3', 'received', 'c')]),
    ];
    const controller = new AbortController();
    const seen: Array<[string, number, string, string]> = [];
    const cancelledBefore = eventStreamsCancelled;
    for await (const e of ledger.events({ startBlock: 3, signal: controller.signal })) {
      seen.push([e.txId, e.blockNumber, e.name, utf8(e.payload)]);
      if (seen.length === 3) controller.abort();
    }
    assert.deepEqual(seen, [
      ['t1', 3, 'received', 'a'],
      ['t2', 3, 'issued', 'b'],
      ['t3', 4, 'received', 'c'],
    ]);
    const signed = recorded.events[0] as gateway.SignedChaincodeEventsRequest;
    const request = gateway.ChaincodeEventsRequest.deserializeBinary(signed.getRequest_asU8());
    assert.equal(request.getChannelId(), CHANNEL);
    assert.equal(request.getChaincodeId(), CHAINCODE);
    assert.equal(request.getStartPosition()?.getSpecified()?.getNumber(), 3);
    const publicKey = new X509Certificate(identityCert).publicKey;
    assert.ok(verifySignature('sha256', signed.getRequest_asU8(), publicKey, signed.getSignature_asU8()));
    // The cancellation reaches the server.
    for (let i = 0; i < 50 && eventStreamsCancelled === cancelledBefore; i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(eventStreamsCancelled, cancelledBefore + 1);

    // An abort while waiting for the next event ends the loop too; so does closing the ledger.
    behaviour.events = [];
    const waiting = new AbortController();
    setTimeout(() => waiting.abort(), 50);
    for await (const _ of ledger.events({ signal: waiting.signal })) assert.fail('no events were sent');
    const closing = await open();
    setTimeout(() => void closing.close(), 50);
    for await (const _ of closing.events()) assert.fail('no events were sent');
  });

  test('getBlock, getTransaction and height read qscc and decode what it returns', async () => {
    const ledger = await open();
    const block = await ledger.getBlock(5);
    // Fabric's header hash: SHA-256 of DER SEQUENCE { INTEGER 5, OCTET STRING prev, OCTET STRING data }.
    const der = Uint8Array.from([
      0x30,
      0x47,
      0x02,
      0x01,
      0x05,
      0x04,
      0x20,
      ...PREVIOUS_HASH,
      0x04,
      0x20,
      ...DATA_HASH,
    ]);
    assert.equal(block.hash, createHash('sha256').update(der).digest('hex'));
    assert.equal(block.number, 5);
    assert.equal(block.previousHash, '11'.repeat(32));
    assert.equal(block.dataHash, '22'.repeat(32));
    assert.deepEqual(block.transactions, [
      {
        txId: 'tx-a',
        blockNumber: 5,
        validationCode: 0,
        function: 'receive',
        timestamp: 1_700_000_000_250,
        payload: text('returned by tx-a'),
      },
      {
        txId: 'tx-b',
        blockNumber: 5,
        validationCode: 11,
        function: 'issue',
        timestamp: 1_700_000_001_250,
        payload: text('returned by tx-b'),
      },
      {
        txId: 'tx-c',
        blockNumber: 5,
        validationCode: 0,
        function: '',
        timestamp: 1_700_000_002_250,
        payload: new Uint8Array(0),
      },
    ]);
    assert.deepEqual(await ledger.getTransaction('tx-b'), block.transactions[1]);
    assert.equal(await ledger.height(), 8);
    const d = decodeProposal((recorded.evaluate[0] as gateway.EvaluateRequest).getProposedTransaction());
    assert.deepEqual([d.chaincode, d.fn, d.args], ['qscc', 'GetBlockByNumber', [CHANNEL, '5']]);

    await rejectsWith(ledger.getBlock(99), { code: 'NOT_FOUND', message: /no such block number \[99\]/ });
    await rejectsWith(ledger.getTransaction('nope'), { code: 'NOT_FOUND' });
    await rejectsWith(ledger.getBlock(-1), { code: 'BAD_ARGUMENT' });
  });

  test('DER header encoding: integer sign byte, long lengths, empty previous hash', () => {
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
    const empty = new Uint8Array(0);
    assert.equal(hex(blockHeaderBytes(0n, empty, empty)), '300702010004000400');
    assert.equal(hex(blockHeaderBytes(128n, empty, empty)), '30080202008004000400');
    assert.equal(hex(blockHeaderBytes(256n, empty, empty)), '30080202010004000400');
    // 208 content bytes (3 + 203 + 2) and a 200-byte hash both need the long length form.
    const long = blockHeaderBytes(1n, new Uint8Array(200), empty);
    assert.equal(hex(long.subarray(0, 9)), '3081d00201010481c8');
    assert.equal(long.length, 211);
  });

  test('a peer that is not there is UNAVAILABLE; a closed ledger is UNAVAILABLE', async () => {
    const idle = createServer();
    const freePort = await new Promise<number>((resolve) => {
      idle.listen(0, '127.0.0.1', () => resolve((idle.address() as { port: number }).port));
    });
    await new Promise((resolve) => idle.close(resolve));
    const config: FabricConnectionConfig = {
      ...(await loadConnectionFile(connectionPath)),
      peerEndpoint: `127.0.0.1:${freePort}`,
    };
    const down = await FabricLedger.connect(config);
    ledgers.push(down);
    await rejectsWith(down.submit('receive'), { code: 'UNAVAILABLE', message: /unavailable during endorse/ });
    await rejectsWith(down.evaluate('history'), { code: 'UNAVAILABLE' });
    await rejectsWith(down.height(), { code: 'UNAVAILABLE' });

    const ledger = await open();
    await ledger.close();
    await ledger.close();
    await rejectsWith(ledger.submit('receive'), { code: 'UNAVAILABLE', message: /closed/ });
    await rejectsWith(ledger.getBlock(5), { code: 'UNAVAILABLE', message: /closed/ });
  });

  test('verifyChannel: hash chain and data hashes of every block; every committed claim valid on the channel', async () => {
    const ENDORSER = common.HeaderType.ENDORSER_TRANSACTION;
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest();
    const chain = (tamper?: number) => {
      const blocks: Uint8Array[] = [];
      let previous = new Uint8Array(32);
      for (let n = 0; n < 3; n++) {
        const envelopes = [txEnvelope(`tx-${n}`, ENDORSER, 'issue', 1_700_000_000 + n)];
        const header = new common.BlockHeader();
        header.setNumber(n);
        header.setPreviousHash(previous);
        const dataHash = sha(Buffer.concat(envelopes));
        header.setDataHash(dataHash);
        previous = sha(blockHeaderBytes(BigInt(n), previous, dataHash));
        const data = new common.BlockData();
        // A peer that altered a transaction after the header was made.
        data.setDataList(n === tamper ? [txEnvelope('tx-forged', ENDORSER, 'issue', 1)] : envelopes);
        const metadata = new common.BlockMetadata();
        const empty = new Uint8Array(0);
        metadata.setMetadataList([empty, empty, Uint8Array.of(n === 2 ? 11 : 0), empty, empty]);
        const block = new common.Block();
        block.setHeader(header);
        block.setData(data);
        block.setMetadata(metadata);
        blocks.push(block.serializeBinary());
      }
      return blocks;
    };
    const serve = (blocks: Uint8Array[]) => {
      behaviour.evaluate = (d) => {
        if (d.fn === 'GetChainInfo') {
          const info = new common.BlockchainInfo();
          info.setHeight(blocks.length);
          return { payload: info.serializeBinary() };
        }
        return { payload: blocks[Number(d.args[1])] as Uint8Array };
      };
    };
    const ledger = await open();
    serve(chain());
    const sound = await verifyChannel(ledger, [{ what: 'the result of submission s0', txId: 'tx-0' }]);
    assert.deepEqual([sound.ok, sound.height, sound.transactions, sound.problems], [true, 3, 3, []]);
    const claims = await verifyChannel(ledger, [
      { what: 'submission s2 received', txId: 'tx-2' },
      { what: 'the result of submission s9', txId: 'tx-9' },
    ]);
    assert.equal(claims.ok, false);
    assert.match(
      claims.problems[0] as string,
      /s2 received: transaction tx-2 is on the channel but MVCC_READ_CONFLICT/,
    );
    assert.match(claims.problems[1] as string, /s9: transaction tx-9 is not on the channel/);
    serve(chain(1));
    const tampered = await verifyChannel(ledger, []);
    assert.equal(tampered.firstBadBlock, 1);
    assert.match(
      tampered.problems[0] as string,
      /^block 1: data hash [0-9a-f]{64} in the header, [0-9a-f]{64} from its transactions/,
    );
  });

  test('the HSM signer (pkcs11js) is never loaded', () => {
    const loaded = Object.keys(require.cache);
    assert.ok(
      loaded.some((path) => path.includes('@hyperledger/fabric-gateway')),
      'the cache is the one in use',
    );
    assert.ok(!loaded.some((path) => path.includes('pkcs11js')));
  });
});
