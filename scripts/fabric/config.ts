/**
 * Settings and small process helpers shared by the project's Fabric dev network scripts
 * (`npm run fabric:up`, `fabric:down`, `test:fabric`; scripts/fabric/README.md). Adapted from the
 * reference kit in ../shared/fabric-kit (env.sh): same topology and ports, all on 127.0.0.1.
 *
 * Environment:
 *   FABRIC_BIN                 peer, orderer, configtxgen, osnadmin, cryptogen (default /tmp/fabric-kit/bin)
 *   FABRIC_CFG_PATH            Fabric's sample core.yaml and orderer.yaml (default /tmp/fabric-kit/config)
 *   PMHE_FABRIC_DIR            the network's state: crypto, ledgers, logs, network.json (default /tmp/pmhe-fabric)
 *   PMHE_FABRIC_BATCH_TIMEOUT  the orderer's BatchTimeout (default 500ms)
 *   FABRIC_LOGGING_SPEC        log level of the peers and the orderer (default info)
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FABRIC_BIN = resolve(process.env.FABRIC_BIN || '/tmp/fabric-kit/bin');
export const FABRIC_CONFIG = resolve(process.env.FABRIC_CFG_PATH || '/tmp/fabric-kit/config');
export const DIR = resolve(process.env.PMHE_FABRIC_DIR || '/tmp/pmhe-fabric');
export const BATCH_TIMEOUT = process.env.PMHE_FABRIC_BATCH_TIMEOUT || '500ms';
export const LOG_SPEC = process.env.FABRIC_LOGGING_SPEC || 'info';

export const HOST = '127.0.0.1';
export const CHANNEL = 'pmhe';
export const CHAINCODE = 'pmhe';
export const ORGS = [1, 2] as const;
export type Org = (typeof ORGS)[number];
export const ENDORSEMENT_POLICY = "AND('Org1MSP.peer','Org2MSP.peer')";

export const ORDERER_PORTS = { listen: 7050, admin: 7053, operations: 9443 };
export const PEER_PORTS: Record<Org, { listen: number; chaincode: number; operations: number }> = {
  1: { listen: 7051, chaincode: 7052, operations: 9444 },
  2: { listen: 9051, chaincode: 9052, operations: 9445 },
};
/** Each organisation's own chaincode server: peer0.org1 dials 9990, peer0.org2 9991. */
export const CHAINCODE_PORTS: Record<Org, number> = { 1: 9990, 2: 9991 };

/** Peer settings raised as the kit does (Fabric's defaults: 30 s, 30 s, 60 s). */
export const PEER_TUNING = {
  CORE_CHAINCODE_EXECUTETIMEOUT: '300s',
  CORE_PEER_GATEWAY_ENDORSEMENTTIMEOUT: '300s',
  // The gateway pings the other org's peer every 10 s; Fabric's 60 s minimum would cut it off.
  CORE_PEER_KEEPALIVE_MININTERVAL: '5s',
};

export const BINARIES = ['peer', 'orderer', 'configtxgen', 'osnadmin', 'cryptogen'] as const;
export const SAMPLE_CONFIGS = ['core.yaml', 'orderer.yaml'] as const;

/** The pinned Node 22 (node_modules/node): chaincode servers and npm in chaincode/ run on it. */
export const NODE22 = join(ROOT, 'node_modules', 'node', 'bin', 'node');
export const CHAINCODE_DIR = join(ROOT, 'chaincode');
export const BUILDER_DIR = join(ROOT, 'scripts', 'fabric', 'ccaas-builder');

// ---- paths inside the working folder ----------------------------------------------------
export const paths = {
  config: join(DIR, 'config'),
  logs: join(DIR, 'logs'),
  data: join(DIR, 'data'),
  crypto: join(DIR, 'crypto'),
  artifacts: join(DIR, 'artifacts'),
  chaincode: join(DIR, 'cc'),
  network: join(DIR, 'network.json'),
  connection: join(DIR, 'connection.json'),
};
const ordererDir = join(paths.crypto, 'ordererOrganizations/example.com/orderers/orderer.example.com');
export const orderer = {
  dir: ordererDir,
  tlsCa: join(ordererDir, 'tls/ca.crt'),
};
export function org(n: Org) {
  const base = join(paths.crypto, `peerOrganizations/org${n}.example.com`);
  const peerDir = join(base, `peers/peer0.org${n}.example.com`);
  return {
    n,
    mspId: `Org${n}MSP`,
    peerName: `peer0.org${n}.example.com`,
    peerDir,
    peerTlsCa: join(peerDir, 'tls/ca.crt'),
    adminMsp: join(base, `users/Admin@org${n}.example.com/msp`),
    userMsp: join(base, `users/User1@org${n}.example.com/msp`),
    ports: PEER_PORTS[n],
    chaincodePort: CHAINCODE_PORTS[n],
  };
}

/** What is missing for fabric:up (binaries, sample configs, Node 22), as sentences; [] when nothing. */
export function missingPrerequisites(): string[] {
  const missing: string[] = [];
  const bins = BINARIES.filter((b) => !existsSync(join(FABRIC_BIN, b)));
  if (bins.length > 0) missing.push(`Fabric binaries ${bins.join(', ')} in $FABRIC_BIN (${FABRIC_BIN})`);
  const configs = SAMPLE_CONFIGS.filter((c) => !existsSync(join(FABRIC_CONFIG, c)));
  if (configs.length > 0)
    missing.push(`Fabric sample configs ${configs.join(', ')} in $FABRIC_CFG_PATH (${FABRIC_CONFIG})`);
  if (!existsSync(NODE22)) missing.push(`Node 22 at ${NODE22} (npm ci in ${ROOT})`);
  return missing;
}

// ---- logging --------------------------------------------------------------------------------
const t0 = performance.now();
export function say(text: string): void {
  const clock = new Date().toTimeString().slice(0, 8);
  const since = ((performance.now() - t0) / 1000).toFixed(1).padStart(5);
  process.stderr.write(`[${clock} +${since}s] ${text}\n`);
}

/** Runs one named step, printing its start and its duration (or failure). */
export async function step<T>(name: string, run: () => Promise<T>): Promise<T> {
  const start = performance.now();
  say(`${name} …`);
  try {
    const result = await run();
    say(`${name}: done in ${((performance.now() - start) / 1000).toFixed(1)} s`);
    return result;
  } catch (error) {
    say(`${name}: FAILED after ${((performance.now() - start) / 1000).toFixed(1)} s`);
    throw error;
  }
}

// ---- commands --------------------------------------------------------------------------------
export class CommandError extends Error {}

/** Runs a command to completion; throws CommandError with its output when it fails. */
export function run(
  file: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        env: { ...process.env, ...options.env },
        cwd: options.cwd,
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error) {
          const shown = [file.replace(`${FABRIC_BIN}/`, ''), ...args].join(' ');
          reject(new CommandError(`${shown} failed (${error.code ?? error.signal}):\n${stderr}${stdout}`));
        } else resolve(`${stdout}${stderr ? `\n${stderr}` : ''}`);
      },
    );
  });
}

export const bin = (name: (typeof BINARIES)[number]) => join(FABRIC_BIN, name);

/** The peer CLI as organisation n's admin, against its own peer. */
export function peerAsAdmin(n: Org, args: readonly string[], timeoutMs?: number): Promise<string> {
  const o = org(n);
  return run(bin('peer'), args, {
    env: {
      FABRIC_CFG_PATH: paths.config,
      FABRIC_LOGGING_SPEC: 'warning',
      CORE_PEER_TLS_ENABLED: 'true',
      CORE_PEER_TLS_ROOTCERT_FILE: o.peerTlsCa,
      CORE_PEER_ADDRESS: `${HOST}:${o.ports.listen}`,
      CORE_PEER_LOCALMSPID: o.mspId,
      CORE_PEER_MSPCONFIGPATH: o.adminMsp,
    },
    ...(timeoutMs ? { timeoutMs } : {}),
  });
}

export const ordererFlags = () => [
  '-o',
  `${HOST}:${ORDERER_PORTS.listen}`,
  '--tls',
  '--cafile',
  orderer.tlsCa,
];

// ---- processes ------------------------------------------------------------------------------
/** A process fabric:up started: its pid and its start time (to tell it from a later pid reuse). */
export interface Proc {
  pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22). */
  startTicks: number;
  log: string;
}

export function startTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

/** True when the pid is alive and is still the process we recorded (same start time). */
export function isOurs(proc: Proc | undefined): boolean {
  return proc !== undefined && startTicks(proc.pid) === proc.startTicks && !hasExited(proc.pid);
}

/**
 * True when every thread of the process has exited. A multi-threaded process (node, peer) whose
 * main thread has exited shows as a zombie while its other threads still hold its sockets.
 */
function hasExited(pid: number): boolean {
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
      if (!/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2))) return false;
    }
  } catch {
    // The process (or the thread being read) is gone.
  }
  return true;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once something accepts TCP connections on 127.0.0.1:port; false after timeoutMs. */
export async function waitPort(port: number, timeoutMs: number, alive?: () => boolean): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await portOpen(port)) return true;
    if (alive && !alive()) return false;
    await sleep(150);
  }
  return false;
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** TERM, then KILL after graceMs; a stopped (SIGSTOP) process is continued first. Only if ours. */
export async function stopProc(
  proc: Proc | undefined,
  graceMs = 10_000,
): Promise<'stopped' | 'gone' | 'not ours'> {
  if (!proc) return 'gone';
  if (startTicks(proc.pid) === undefined || hasExited(proc.pid)) return 'gone';
  if (!isOurs(proc)) return 'not ours';
  try {
    process.kill(proc.pid, 'SIGCONT');
    process.kill(proc.pid, 'SIGTERM');
  } catch {
    return 'gone';
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isOurs(proc)) return 'stopped';
    await sleep(100);
  }
  try {
    process.kill(proc.pid, 'SIGKILL');
  } catch {}
  while (isOurs(proc)) await sleep(50);
  return 'stopped';
}
