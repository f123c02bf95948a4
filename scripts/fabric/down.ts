/**
 * `npm run fabric:down`: stops what `fabric:up` started, as recorded in network.json (each pid
 * checked to be still the same process: same start time), TERM then KILL after 10 s, chaincode
 * servers first, then peers and orderer; then removes $PMHE_FABRIC_DIR. `--keep` keeps the folder
 * (logs, ledgers).
 */
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DIR, type Proc, say, stopProc } from './config.ts';
import { NETWORK_FILE, readNetwork } from './network.ts';

export async function down(options: { keep?: boolean } = {}): Promise<void> {
  const t0 = performance.now();
  if (existsSync(NETWORK_FILE)) {
    const state = readNetwork();
    const stop = async (name: string, proc: Proc | null | undefined) => {
      if (!proc) return;
      const outcome = await stopProc(proc, 10_000);
      if (outcome === 'stopped') say(`stopped ${name} (pid ${proc.pid})`);
      else if (outcome === 'not ours') say(`pid ${proc.pid} (${name}) is no longer ours: left alone`);
    };
    await Promise.all(state.orgs.map((o) => stop(`Org${o.org}'s chaincode server`, o.chaincode.proc)));
    await Promise.all([
      ...state.orgs.map((o) => stop(`peer0.org${o.org}`, o.peer)),
      stop('orderer', state.orderer),
    ]);
  } else if (existsSync(DIR)) {
    say(`no ${NETWORK_FILE}: nothing recorded to stop`);
  }
  if (options.keep) say(`kept ${DIR}`);
  else if (existsSync(DIR)) {
    rmSync(DIR, { recursive: true, force: true });
    say(`removed ${DIR}`);
  }
  say(`fabric:down: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await down({ keep: process.argv.includes('--keep') });
}
