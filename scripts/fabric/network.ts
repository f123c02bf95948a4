/**
 * The running dev network as tests see it: $PMHE_FABRIC_DIR/network.json (written by
 * `npm run fabric:up`) and the faults a test can inject.
 *
 *   import * as fabric from '../scripts/fabric/network.ts';
 *   const net = fabric.readNetwork();              // pids, ports, connection file; throws if not up
 *   await fabric.restartChaincodeServer(2);        // Org2's chaincode server: TERM, start again
 *   await fabric.stopChaincodeServers();           // take the chaincode away from both peers …
 *   await fabric.startChaincodeServers();          // … and give it back
 *   await fabric.withoutChaincode(10_000);         // the same two, 10 s apart
 *   fabric.pausePeer(1); fabric.resumePeer(1);     // SIGSTOP / SIGCONT peer0.org1
 *   await fabric.withPeerPaused(2, 2_000);         // peer0.org2 frozen for 2 s
 *
 * Every chaincode server started here is recorded in network.json, so `npm run fabric:down`
 * stops it whichever process started it.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  CHAINCODE_DIR,
  HOST,
  isOurs,
  NODE22,
  type Org,
  type Proc,
  paths,
  portOpen,
  sleep,
  startTicks,
  stopProc,
  waitPort,
} from './config.ts';

export type { Org, Proc } from './config.ts';

export interface PeerInfo extends Proc {
  /** host:port of the peer (gRPC, TLS; Gateway service). */
  endpoint: string;
  hostAlias: string;
  tlsCaCert: string;
  chaincodeListenPort: number;
  operationsPort: number;
}

export interface ChaincodeServerInfo {
  /** What the org's package tells its peer to dial. */
  address: string;
  port: number;
  packageId: string;
  /** null while stopped (stopChaincodeServers). */
  proc: Proc | null;
  log: string;
}

export interface OrgInfo {
  org: Org;
  mspId: string;
  peer: PeerInfo;
  chaincode: ChaincodeServerInfo;
  adminMsp: string;
  userMsp: string;
}

export interface NetworkState {
  dir: string;
  channel: string;
  chaincode: string;
  endorsementPolicy: string;
  batchTimeout: string;
  /** The server's connection file (src/ledger/fabric/connection.ts). */
  connectionFile: string;
  ordererEndpoint: string;
  ordererTlsCa: string;
  orderer: Proc;
  orgs: OrgInfo[];
  createdAt: string;
}

export const NETWORK_FILE = paths.network;

/** network.json; throws when fabric:up has not run (or fabric:down removed it). */
export function readNetwork(): NetworkState {
  if (!existsSync(NETWORK_FILE)) {
    throw new Error(`no Fabric network: ${NETWORK_FILE} is missing (npm run fabric:up)`);
  }
  return JSON.parse(readFileSync(NETWORK_FILE, 'utf8')) as NetworkState;
}

export function writeNetwork(state: NetworkState): void {
  const tmp = `${NETWORK_FILE}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, NETWORK_FILE);
}

/** True when the orderer and both peers recorded in network.json are running. */
export function isUp(state: NetworkState | undefined = existsSync(NETWORK_FILE) ? readNetwork() : undefined) {
  return state !== undefined && isOurs(state.orderer) && state.orgs.every((o) => isOurs(o.peer));
}

const orgOf = (state: NetworkState, n: Org): OrgInfo => {
  const found = state.orgs.find((o) => o.org === n);
  if (!found) throw new Error(`no org ${n} in ${NETWORK_FILE}`);
  return found;
};

/**
 * Starts a program detached from this process (its own session: it outlives the caller and a
 * Ctrl-C in the terminal does not reach it), output appended to `log`.
 */
export function startDetached(
  file: string,
  args: readonly string[],
  options: { log: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Proc {
  const fd = openSync(options.log, 'a');
  try {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    child.on('error', () => undefined); // reported as "did not start" by the caller's wait
    child.unref();
    const pid = child.pid;
    const ticks = pid === undefined ? undefined : startTicks(pid);
    if (pid === undefined || ticks === undefined) throw new Error(`could not start ${file}`);
    return { pid, startTicks: ticks, log: options.log };
  } finally {
    closeSync(fd);
  }
}

/**
 * Starts `fabric-chaincode-node server` (chaincode/, Node 22) for one organisation, on its own
 * port with its own package id, and waits until it listens. Updates network.json.
 */
export async function startChaincodeServer(n: Org, state: NetworkState = readNetwork()): Promise<Proc> {
  const o = orgOf(state, n);
  if (isOurs(o.chaincode.proc ?? undefined)) return o.chaincode.proc as Proc;
  // A server just stopped may hold its port for a moment.
  for (let i = 0; i < 50 && (await portOpen(o.chaincode.port)); i++) await sleep(100);
  if (await portOpen(o.chaincode.port)) {
    throw new Error(`port ${o.chaincode.port} is in use: cannot start Org${n}'s chaincode server`);
  }
  const address = `${HOST}:${o.chaincode.port}`;
  const proc = startDetached(
    NODE22,
    [
      join(CHAINCODE_DIR, 'node_modules', '.bin', 'fabric-chaincode-node'),
      'server',
      '--chaincode-address',
      address,
      '--chaincode-id',
      o.chaincode.packageId,
    ],
    {
      log: o.chaincode.log,
      cwd: CHAINCODE_DIR,
      env: { CHAINCODE_SERVER_ADDRESS: address, CORE_CHAINCODE_ID_NAME: o.chaincode.packageId },
    },
  );
  o.chaincode.proc = proc;
  writeNetwork(state);
  if (!(await waitPort(o.chaincode.port, 60_000, () => isOurs(proc)))) {
    const tail = readFileSync(o.chaincode.log, 'utf8').split('\n').slice(-20).join('\n');
    throw new Error(`Org${n}'s chaincode server did not listen on ${address}; ${o.chaincode.log}:\n${tail}`);
  }
  return proc;
}

/** Stops one organisation's chaincode server (TERM, then KILL after graceMs). Updates network.json. */
export async function stopChaincodeServer(n: Org, graceMs = 5_000): Promise<void> {
  const state = readNetwork();
  const o = orgOf(state, n);
  await stopProc(o.chaincode.proc ?? undefined, graceMs);
  o.chaincode.proc = null;
  writeNetwork(state);
}

/** Org n's chaincode server stopped and started again (a crash and restart, as a deploy would). */
export async function restartChaincodeServer(n: Org): Promise<Proc> {
  await stopChaincodeServer(n);
  return startChaincodeServer(n);
}

/** Both organisations' chaincode servers stopped: every endorsement fails until they return. */
export async function stopChaincodeServers(): Promise<void> {
  for (const o of readNetwork().orgs) await stopChaincodeServer(o.org);
}

export async function startChaincodeServers(): Promise<void> {
  for (const o of readNetwork().orgs) await startChaincodeServer(o.org);
}

/** The chaincode taken away for `ms`, then started again. */
export async function withoutChaincode(ms: number): Promise<void> {
  await stopChaincodeServers();
  await sleep(ms);
  await startChaincodeServers();
}

/** SIGSTOP org n's peer: it stops answering (endorsing, committing, gossiping) until resumed. */
export function pausePeer(n: Org): void {
  signalPeer(n, 'SIGSTOP');
}

export function resumePeer(n: Org): void {
  signalPeer(n, 'SIGCONT');
}

/** Org n's peer frozen for `ms`, then resumed (also when something throws in between). */
export async function withPeerPaused(n: Org, ms: number): Promise<void> {
  pausePeer(n);
  try {
    await sleep(ms);
  } finally {
    resumePeer(n);
  }
}

function signalPeer(n: Org, signal: NodeJS.Signals): void {
  const peer = orgOf(readNetwork(), n).peer;
  if (!isOurs(peer)) throw new Error(`peer0.org${n} (pid ${peer.pid}) is not running`);
  process.kill(peer.pid, signal);
}

/** Prints each recorded process and whether it runs. */
export function status(): string[] {
  if (!existsSync(NETWORK_FILE)) return [`down (no ${NETWORK_FILE})`];
  const state = readNetwork();
  const line = (name: string, proc: Proc | null, where: string) =>
    `${name.padEnd(28)} ${proc ? `pid ${proc.pid}`.padEnd(10) : '-'.padEnd(10)} ${
      !proc ? 'stopped' : !isOurs(proc) ? 'dead' : isPaused(proc.pid) ? 'paused (SIGSTOP)' : 'running'
    }  ${where}`;
  return [
    line('orderer', state.orderer, state.ordererEndpoint),
    ...state.orgs.flatMap((o) => [
      line(`peer0.org${o.org} (${o.mspId})`, o.peer, o.peer.endpoint),
      line(`Org${o.org} chaincode server`, o.chaincode.proc, o.chaincode.address),
    ]),
    `channel ${state.channel}, chaincode ${state.chaincode}, ${state.endorsementPolicy}, BatchTimeout ${state.batchTimeout}`,
    `connection file ${state.connectionFile}`,
  ];
}

function isPaused(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
  } catch {
    return false;
  }
}

// `tsx scripts/fabric/network.ts <command>`: the same operations by hand.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const [command, arg] = process.argv.slice(2);
  const org = (): Org => {
    const n = Number(arg);
    if (n !== 1 && n !== 2) throw new Error(`${command} needs an organisation: 1 or 2`);
    return n;
  };
  const commands: Record<string, () => Promise<unknown> | unknown> = {
    status: () => undefined,
    'restart-chaincode': () => restartChaincodeServer(org()),
    'stop-chaincode': () => (arg ? stopChaincodeServer(org()) : stopChaincodeServers()),
    'start-chaincode': () => (arg ? startChaincodeServer(org()) : startChaincodeServers()),
    'pause-peer': () => pausePeer(org()),
    'resume-peer': () => resumePeer(org()),
  };
  const run = command ? commands[command] : undefined;
  if (!run) {
    process.stderr.write(
      `usage: tsx scripts/fabric/network.ts ${Object.keys(commands).join('|')} [1|2]\n` +
        '  (stop-chaincode / start-chaincode without an organisation: both)\n',
    );
    process.exitCode = 2;
  } else {
    try {
      await run();
      for (const line of status()) process.stdout.write(`${line}\n`);
    } catch (error) {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    }
  }
}
