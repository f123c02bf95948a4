/**
 * `npm run fabric:up`: PMHE's own Fabric 2.5 dev network on 127.0.0.1 (like fabric-samples'
 * test-network, adapted from ../shared/fabric-kit): Org1MSP and Org2MSP with one peer each, one
 * Raft orderer, TLS on, channel `pmhe`; then PMHE's contract deployed as chaincode-as-a-service
 * with one chaincode server per organisation (peer0.org1 → 127.0.0.1:9990, peer0.org2 →
 * 127.0.0.1:9991; one package per organisation, each approving its own package id) under the
 * endorsement policy AND('Org1MSP.peer','Org2MSP.peer').
 *
 * Writes $PMHE_FABRIC_DIR/connection.json (for `pmhe server start --fabric`) and network.json
 * (pids and ports; scripts/fabric/network.ts). Settings: scripts/fabric/config.ts. A failed up
 * stops what it started and keeps the logs in $PMHE_FABRIC_DIR/logs.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildChaincode } from '../build-chaincode.ts';
import { packageChaincode } from '../package-chaincode.ts';
import {
  BATCH_TIMEOUT,
  BUILDER_DIR,
  bin,
  CHAINCODE,
  CHAINCODE_DIR,
  CHAINCODE_PORTS,
  CHANNEL,
  DIR,
  ENDORSEMENT_POLICY,
  FABRIC_CONFIG,
  HOST,
  isOurs,
  LOG_SPEC,
  missingPrerequisites,
  NODE22,
  ORDERER_PORTS,
  ORGS,
  type Org,
  orderer,
  ordererFlags,
  org,
  PEER_PORTS,
  PEER_TUNING,
  type Proc,
  paths,
  peerAsAdmin,
  portOpen,
  run,
  say,
  sleep,
  step,
  stopProc,
  waitPort,
} from './config.ts';
import { gatewayErrorMessage, probeGateway } from './gateway.ts';
import {
  isUp,
  type NetworkState,
  type OrgInfo,
  readNetwork,
  startChaincodeServer,
  startDetached,
  writeNetwork,
} from './network.ts';

export class UpError extends Error {}

function cryptoConfig(): string {
  const peers = ORGS.map(
    (n) => `  - Name: Org${n}
    Domain: org${n}.example.com
    EnableNodeOUs: true
    Template: { Count: 1, SANS: [${HOST}, localhost] }
    Users: { Count: 1 }
`,
  ).join('');
  return `OrdererOrgs:
  - Name: Orderer
    Domain: example.com
    EnableNodeOUs: true
    Specs:
      - Hostname: orderer
        SANS: [${HOST}, localhost]
PeerOrgs:
${peers}`;
}

function configtx(): string {
  const orgs = ORGS.map((n) => {
    const o = org(n);
    return `  - &Org${n}
    Name: ${o.mspId}
    ID: ${o.mspId}
    MSPDir: ${paths.crypto}/peerOrganizations/org${n}.example.com/msp
    Policies:
      Readers:     { Type: Signature, Rule: "OR('${o.mspId}.admin', '${o.mspId}.peer', '${o.mspId}.client')" }
      Writers:     { Type: Signature, Rule: "OR('${o.mspId}.admin', '${o.mspId}.client')" }
      Admins:      { Type: Signature, Rule: "OR('${o.mspId}.admin')" }
      Endorsement: { Type: Signature, Rule: "OR('${o.mspId}.peer')" }
    AnchorPeers:
      - { Host: ${HOST}, Port: ${o.ports.listen} }
`;
  }).join('');
  const policies = (indent: string, extra = '') =>
    [
      'Readers: { Type: ImplicitMeta, Rule: "ANY Readers" }',
      'Writers: { Type: ImplicitMeta, Rule: "ANY Writers" }',
      'Admins:  { Type: ImplicitMeta, Rule: "MAJORITY Admins" }',
      ...(extra ? [extra] : []),
    ]
      .map((line) => `${indent}${line}`)
      .join('\n');
  return `Organizations:
  - &OrdererOrg
    Name: OrdererOrg
    ID: OrdererMSP
    MSPDir: ${paths.crypto}/ordererOrganizations/example.com/msp
    Policies:
      Readers: { Type: Signature, Rule: "OR('OrdererMSP.member')" }
      Writers: { Type: Signature, Rule: "OR('OrdererMSP.member')" }
      Admins:  { Type: Signature, Rule: "OR('OrdererMSP.admin')" }
    OrdererEndpoints: [ "${HOST}:${ORDERER_PORTS.listen}" ]
${orgs}
Profiles:
  PMHE:
    Capabilities: { V2_0: true }
    Policies:
${policies('      ')}
    Orderer:
      OrdererType: etcdraft
      BatchTimeout: ${BATCH_TIMEOUT}
      BatchSize:
        MaxMessageCount: 10
        AbsoluteMaxBytes: 99 MB
        PreferredMaxBytes: 2 MB
      EtcdRaft:
        Consenters:
          - Host: ${HOST}
            Port: ${ORDERER_PORTS.listen}
            ClientTLSCert: ${orderer.dir}/tls/server.crt
            ServerTLSCert: ${orderer.dir}/tls/server.crt
        Options:
          TickInterval: 500ms
          ElectionTick: 10
          HeartbeatTick: 1
          MaxInflightBlocks: 5
          SnapshotIntervalSize: 16 MB
      Organizations: [ *OrdererOrg ]
      Capabilities: { V2_0: true }
      Policies:
${policies('        ', 'BlockValidation: { Type: ImplicitMeta, Rule: "ANY Writers" }')}
    Application:
      Organizations: [ ${ORGS.map((n) => `*Org${n}`).join(', ')} ]
      Capabilities: { V2_5: true }
      Policies:
${policies(
  '        ',
  'LifecycleEndorsement: { Type: ImplicitMeta, Rule: "MAJORITY Endorsement" }\n        Endorsement: { Type: ImplicitMeta, Rule: "MAJORITY Endorsement" }',
)}
`;
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

const logFile = (name: string) => join(paths.logs, `${name}.log`);

function startOrderer(): Proc {
  const d = orderer.dir;
  return startDetached(bin('orderer'), [], {
    log: logFile('orderer'),
    env: {
      FABRIC_CFG_PATH: paths.config,
      FABRIC_LOGGING_SPEC: LOG_SPEC,
      ORDERER_GENERAL_LISTENADDRESS: HOST,
      ORDERER_GENERAL_LISTENPORT: String(ORDERER_PORTS.listen),
      ORDERER_GENERAL_LOCALMSPID: 'OrdererMSP',
      ORDERER_GENERAL_LOCALMSPDIR: join(d, 'msp'),
      ORDERER_GENERAL_TLS_ENABLED: 'true',
      ORDERER_GENERAL_TLS_PRIVATEKEY: join(d, 'tls/server.key'),
      ORDERER_GENERAL_TLS_CERTIFICATE: join(d, 'tls/server.crt'),
      ORDERER_GENERAL_TLS_ROOTCAS: join(d, 'tls/ca.crt'),
      ORDERER_GENERAL_BOOTSTRAPMETHOD: 'none',
      ORDERER_CHANNELPARTICIPATION_ENABLED: 'true',
      ORDERER_FILELEDGER_LOCATION: join(paths.data, 'orderer'),
      ORDERER_CONSENSUS_WALDIR: join(paths.data, 'orderer/etcdraft/wal'),
      ORDERER_CONSENSUS_SNAPDIR: join(paths.data, 'orderer/etcdraft/snapshot'),
      ORDERER_OPERATIONS_LISTENADDRESS: `${HOST}:${ORDERER_PORTS.operations}`,
      ORDERER_ADMIN_LISTENADDRESS: `${HOST}:${ORDERER_PORTS.admin}`,
    },
  });
}

function startPeer(n: Org): Proc {
  const o = org(n);
  const address = `${HOST}:${o.ports.listen}`;
  return startDetached(bin('peer'), ['node', 'start'], {
    log: logFile(`peer0.org${n}`),
    env: {
      FABRIC_CFG_PATH: paths.config,
      FABRIC_LOGGING_SPEC: LOG_SPEC,
      CORE_PEER_ID: o.peerName,
      CORE_PEER_ADDRESS: address,
      CORE_PEER_LISTENADDRESS: address,
      CORE_PEER_CHAINCODEADDRESS: `${HOST}:${o.ports.chaincode}`,
      CORE_PEER_CHAINCODELISTENADDRESS: `${HOST}:${o.ports.chaincode}`,
      CORE_PEER_GOSSIP_BOOTSTRAP: address,
      CORE_PEER_GOSSIP_EXTERNALENDPOINT: address,
      CORE_PEER_LOCALMSPID: o.mspId,
      CORE_PEER_MSPCONFIGPATH: join(o.peerDir, 'msp'),
      CORE_PEER_TLS_ENABLED: 'true',
      CORE_PEER_TLS_CERT_FILE: join(o.peerDir, 'tls/server.crt'),
      CORE_PEER_TLS_KEY_FILE: join(o.peerDir, 'tls/server.key'),
      CORE_PEER_TLS_ROOTCERT_FILE: o.peerTlsCa,
      CORE_PEER_FILESYSTEMPATH: join(paths.data, `peer0.org${n}`),
      CORE_LEDGER_SNAPSHOTS_ROOTDIR: join(paths.data, `peer0.org${n}/snapshots`),
      CORE_OPERATIONS_LISTENADDRESS: `${HOST}:${o.ports.operations}`,
      // Chaincode runs only as a service, found through the ccaas external builder.
      CORE_CHAINCODE_EXTERNALBUILDERS: `[{name: ccaas, path: ${BUILDER_DIR}, propagateEnvironment: [HOME]}]`,
      ...PEER_TUNING,
      // A peer that joins the channel first cannot reach the other's anchor (not yet a member)
      // and retries only after reconnectInterval (25 s by default): discovery would lag behind.
      CORE_PEER_GOSSIP_RECONNECTINTERVAL: '2s',
    },
  });
}

async function retry<T>(what: string, attempts: number, delayMs: number, f: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await f();
    } catch (error) {
      if (i >= attempts) throw new UpError(`${what}: ${error instanceof Error ? error.message : error}`);
      await sleep(delayMs);
    }
  }
}

/** chaincode/node_modules (fabric-shim, fabric-contract-api) installed from its lock file, Node 22. */
async function ensureChaincodeDeps(): Promise<string> {
  if (existsSync(join(CHAINCODE_DIR, 'node_modules', '.bin', 'fabric-chaincode-node'))) {
    return 'chaincode/node_modules present';
  }
  const nodeBin = resolve(NODE22, '..');
  const npmCli = join(nodeBin, '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
  const npm = existsSync(npmCli) ? [NODE22, npmCli] : ['npm'];
  await run(npm[0] as string, [...npm.slice(1), 'ci', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: CHAINCODE_DIR,
    env: { PATH: `${nodeBin}:${process.env.PATH}` },
    timeoutMs: 300_000,
  });
  return 'npm ci in chaincode/';
}

function assertNotUp(): void {
  if (existsSync(paths.network)) {
    const state = readNetwork();
    if (isUp(state)) {
      throw new UpError(
        `a network is already up in ${DIR} (orderer pid ${state.orderer.pid}); run npm run fabric:down first`,
      );
    }
  }
}

export interface UpResult {
  state: NetworkState;
  /** Seconds per step. */
  times: Record<string, number>;
}

/** Brings the network up and deploys the chaincode; on failure stops what it started. */
export async function up(): Promise<UpResult> {
  const missing = missingPrerequisites();
  if (missing.length > 0) {
    throw new UpError(`fabric:up: missing ${missing.join('; ')} (see docs/deploy-fabric.md)`);
  }
  assertNotUp();
  const ports = [
    ...Object.values(ORDERER_PORTS),
    ...ORGS.flatMap((n) => Object.values(PEER_PORTS[n])),
    ...ORGS.map((n) => CHAINCODE_PORTS[n]),
  ];
  for (const port of ports) {
    if (await portOpen(port)) throw new UpError(`port ${port} on ${HOST} is already in use`);
  }

  const times: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const result = await step(name, f);
    times[name] = Math.round((performance.now() - t) / 100) / 10;
    return result;
  };
  const started: Proc[] = [];
  const t0 = performance.now();
  say(`fabric:up: ${DIR}, binaries ${resolve(bin('peer'), '..')}, BatchTimeout ${BATCH_TIMEOUT}`);
  try {
    await Promise.all([
      // In parallel with the network: npm (network-bound) and esbuild (a second of CPU).
      timed('chaincode: dependencies and build', async () => {
        const deps = await ensureChaincodeDeps();
        const built = await buildChaincode();
        say(`  ${deps}; ${relative(process.cwd(), built.bundle)} ${(built.bytes / 2 ** 20).toFixed(2)} MiB`);
      }),
      bootNetwork(timed, started),
    ]);
    const state = await timed('chaincode: package, install, start servers, approve, commit', () =>
      deployChaincode(started),
    );
    await timed('chaincode: ready on both peers', () => waitChaincodeReady());
    await timed('gateways: endorsing on both organisations (service discovery)', () =>
      Promise.all(
        ORGS.map((n) =>
          retry(`peer0.org${n}'s gateway endorsing with both organisations`, 120, 500, () =>
            probeGateway(n).catch((error: unknown) => {
              throw new Error(gatewayErrorMessage(error));
            }),
          ),
        ),
      ),
    );
    const connection = writeConnectionFile();
    say(`fabric:up: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    say(`  network: ${paths.network}`);
    say(`  server connection file: ${connection}`);
    say(`  logs: ${paths.logs}`);
    return { state, times };
  } catch (error) {
    say(`fabric:up failed: stopping what was started; logs kept in ${paths.logs}`);
    const state = existsSync(paths.network) ? readNetwork() : undefined;
    const procs = [
      ...started,
      ...(state?.orgs.flatMap((o) => (o.chaincode.proc ? [o.chaincode.proc] : [])) ?? []),
    ];
    await Promise.all(procs.map((p) => stopProc(p, 5_000)));
    throw error;
  }
}

async function bootNetwork(
  timed: <T>(name: string, f: () => Promise<T>) => Promise<T>,
  started: Proc[],
): Promise<void> {
  await timed('crypto material and channel genesis block', async () => {
    rmSync(DIR, { recursive: true, force: true });
    for (const d of [paths.config, paths.logs, paths.data, paths.artifacts, paths.chaincode])
      mkdirSync(d, { recursive: true });
    copyFileSync(join(FABRIC_CONFIG, 'orderer.yaml'), join(paths.config, 'orderer.yaml'));
    // No Docker: vm.endpoint blanked (an empty CORE_VM_ENDPOINT would count as unset).
    const core = readFileSync(join(FABRIC_CONFIG, 'core.yaml'), 'utf8');
    const noDocker = core.replace(/^(\s*endpoint:) unix:\/\/\/var\/run\/docker\.sock$/m, '$1 ""');
    if (noDocker === core) throw new UpError(`could not blank vm.endpoint in ${FABRIC_CONFIG}/core.yaml`);
    writeFileSync(join(paths.config, 'core.yaml'), noDocker);
    writeFileSync(join(paths.config, 'crypto-config.yaml'), cryptoConfig());
    writeFileSync(join(paths.config, 'configtx.yaml'), configtx());
    await run(bin('cryptogen'), [
      'generate',
      `--config=${join(paths.config, 'crypto-config.yaml')}`,
      `--output=${paths.crypto}`,
    ]);
    await run(
      bin('configtxgen'),
      ['-profile', 'PMHE', '-channelID', CHANNEL, '-outputBlock', join(paths.artifacts, `${CHANNEL}.block`)],
      { env: { FABRIC_CFG_PATH: paths.config } },
    );
  });

  const procs = await timed('orderer and peers started, channel joined', async () => {
    const ordererProc = startOrderer();
    started.push(ordererProc);
    const peers = ORGS.map((n) => startPeer(n));
    started.push(...peers);
    if (!(await waitPort(ORDERER_PORTS.admin, 30_000, () => isOurs(ordererProc)))) {
      throw new UpError(`the orderer did not open its admin port:\n${tail(ordererProc.log)}`);
    }
    await run(bin('osnadmin'), [
      'channel',
      'join',
      '--channelID',
      CHANNEL,
      '--config-block',
      join(paths.artifacts, `${CHANNEL}.block`),
      '-o',
      `${HOST}:${ORDERER_PORTS.admin}`,
    ]);
    for (const n of ORGS) {
      const proc = peers[n - 1] as Proc;
      if (!(await waitPort(PEER_PORTS[n].listen, 30_000, () => isOurs(proc)))) {
        throw new UpError(`peer0.org${n} did not open its port:\n${tail(proc.log)}`);
      }
    }
    // The orderer refuses deliveries for about a second while Raft elects it: retry.
    await Promise.all(
      ORGS.map((n) =>
        retry(`peer0.org${n} joining ${CHANNEL}`, 20, 1000, () =>
          peerAsAdmin(n, ['channel', 'join', '-b', join(paths.artifacts, `${CHANNEL}.block`)]),
        ),
      ),
    );
    await Promise.all(
      ORGS.map((n) =>
        retry(`peer0.org${n} getting the channel's blocks`, 60, 500, async () => {
          const info = await peerAsAdmin(n, ['channel', 'getinfo', '-c', CHANNEL]);
          if (!info.includes('"height":')) throw new Error(info);
        }),
      ),
    );
    await retry('the orderer electing a Raft leader', 60, 500, async () => {
      if (!/Raft leader changed: 0 -> 1|became leader at term/.test(readFileSync(ordererProc.log, 'utf8')))
        throw new Error('no leader yet');
    });
    return { ordererProc, peers };
  });

  const orgs: OrgInfo[] = ORGS.map((n) => {
    const o = org(n);
    return {
      org: n,
      mspId: o.mspId,
      peer: {
        ...(procs.peers[n - 1] as Proc),
        endpoint: `${HOST}:${o.ports.listen}`,
        hostAlias: o.peerName,
        tlsCaCert: o.peerTlsCa,
        chaincodeListenPort: o.ports.chaincode,
        operationsPort: o.ports.operations,
      },
      chaincode: {
        address: `${HOST}:${o.chaincodePort}`,
        port: o.chaincodePort,
        packageId: '',
        proc: null,
        log: logFile(`chaincode-org${n}`),
      },
      adminMsp: o.adminMsp,
      userMsp: o.userMsp,
    };
  });
  writeNetwork({
    dir: DIR,
    channel: CHANNEL,
    chaincode: CHAINCODE,
    endorsementPolicy: ENDORSEMENT_POLICY,
    batchTimeout: BATCH_TIMEOUT,
    connectionFile: paths.connection,
    ordererEndpoint: `${HOST}:${ORDERER_PORTS.listen}`,
    ordererTlsCa: orderer.tlsCa,
    orderer: procs.ordererProc,
    orgs,
    createdAt: new Date().toISOString(),
  });
}

/**
 * One ccaas package per organisation (label pmhe_orgN, connection.json → its own server),
 * installed on its peer; the servers started; each organisation approves its own package id;
 * the definition committed with both peers endorsing.
 */
async function deployChaincode(started: Proc[]): Promise<NetworkState> {
  const state = readNetwork();
  const version = '1.0';
  const sequence = '1';
  for (const o of state.orgs) {
    const pkg = await packageChaincode({
      address: o.chaincode.address,
      label: `${CHAINCODE}_org${o.org}`,
      out: join(paths.chaincode, `${CHAINCODE}_org${o.org}.tgz`),
    });
    o.chaincode.packageId = pkg.packageId;
    await peerAsAdmin(o.org, ['lifecycle', 'chaincode', 'install', pkg.path]).catch((error: Error) => {
      if (!/already successfully installed/.test(error.message)) throw error;
    });
    say(`  Org${o.org}: installed ${pkg.packageId.slice(0, 24)}… (peer dials ${o.chaincode.address})`);
  }
  writeNetwork(state);
  for (const o of state.orgs) {
    const proc = await startChaincodeServer(o.org);
    started.push(proc);
    say(`  Org${o.org}: chaincode server pid ${proc.pid} on ${o.chaincode.address}`);
  }
  for (const o of state.orgs) {
    await peerAsAdmin(o.org, [
      'lifecycle',
      'chaincode',
      'approveformyorg',
      ...ordererFlags(),
      '--channelID',
      CHANNEL,
      '--name',
      CHAINCODE,
      '--version',
      version,
      '--package-id',
      o.chaincode.packageId,
      '--sequence',
      sequence,
      '--signature-policy',
      ENDORSEMENT_POLICY,
    ]);
  }
  say(`  approved by ${state.orgs.map((o) => o.mspId).join(' and ')}`);
  await peerAsAdmin(1, [
    'lifecycle',
    'chaincode',
    'commit',
    ...ordererFlags(),
    '--channelID',
    CHANNEL,
    '--name',
    CHAINCODE,
    '--version',
    version,
    '--sequence',
    sequence,
    '--signature-policy',
    ENDORSEMENT_POLICY,
    ...state.orgs.flatMap((o) => [
      '--peerAddresses',
      o.peer.endpoint,
      '--tlsRootCertFiles',
      o.peer.tlsCaCert,
    ]),
  ]);
  say(`  committed ${CHAINCODE} ${version} (sequence ${sequence}), policy ${ENDORSEMENT_POLICY}`);
  return readNetwork();
}

/** Each peer has the definition committed and reaches its own chaincode server (GetMetadata). */
async function waitChaincodeReady(): Promise<void> {
  await Promise.all(
    ORGS.map((n) =>
      retry(`peer0.org${n} answering a query of ${CHAINCODE}`, 60, 500, async () => {
        await peerAsAdmin(n, ['lifecycle', 'chaincode', 'querycommitted', '-C', CHANNEL, '-n', CHAINCODE]);
        await peerAsAdmin(n, [
          'chaincode',
          'query',
          '-C',
          CHANNEL,
          '-n',
          CHAINCODE,
          '-c',
          '{"Args":["org.hyperledger.fabric:GetMetadata"]}',
        ]);
      }),
    ),
  );
}

/** The server's connection file: Org1's peer gateway as User1@org1, both organisations endorsing. */
function writeConnectionFile(): string {
  const o1 = org(1);
  const connection = {
    peer: {
      endpoint: `${HOST}:${o1.ports.listen}`,
      tlsCaCertPath: relative(DIR, o1.peerTlsCa),
      hostnameOverride: o1.peerName,
    },
    identity: {
      mspId: o1.mspId,
      certPath: relative(DIR, join(o1.userMsp, 'signcerts')),
      keyPath: relative(DIR, join(o1.userMsp, 'keystore')),
    },
    channel: CHANNEL,
    chaincode: CHAINCODE,
    endorsingOrganizations: ORGS.map((n) => org(n).mspId),
  };
  writeFileSync(paths.connection, `${JSON.stringify(connection, null, 2)}\n`);
  return paths.connection;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    await up();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
