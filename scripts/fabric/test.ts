/**
 * `npm run test:fabric`: brings the Fabric dev network up (scripts/fabric/up.ts), runs
 * `node --import tsx --test test-fabric/*.test.ts` against it, and tears it down again, also when
 * the tests fail or the run is interrupted. Without Fabric binaries it prints one line and exits 0.
 *
 * A network already up (npm run fabric:up) is used as it is and left running. On failure the
 * processes are stopped but $PMHE_FABRIC_DIR is kept (logs, flow-report-fabric.json) until the
 * next fabric:up or fabric:down. Extra arguments go to node's test runner
 * (e.g. `npm run test:fabric -- --test-name-pattern=…`); PMHE_FLOW_* settings: test-fabric/flow.test.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BINARIES, DIR, FABRIC_BIN, NODE22, ROOT, say } from './config.ts';
import { down } from './down.ts';
import { isUp } from './network.ts';
import { up } from './up.ts';

async function main(): Promise<number> {
  if (BINARIES.some((b) => !existsSync(join(FABRIC_BIN, b)))) {
    process.stdout.write(
      `test:fabric: skipped: no Fabric binaries in $FABRIC_BIN (${FABRIC_BIN}) (see docs/deploy-fabric.md)\n`,
    );
    return 0;
  }
  const reuse = isUp();
  if (reuse) say(`test:fabric: using the network already up in ${DIR} (left running afterwards)`);
  let code = 1;
  let interrupted = false;
  let child: ReturnType<typeof spawn> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = true;
    say(`test:fabric: ${signal}: stopping the tests, then the network`);
    child?.kill(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const t0 = performance.now();
  try {
    if (!reuse) await up();
    if (interrupted) return 130;
    const tests = performance.now();
    child = spawn(
      NODE22,
      [
        '--import',
        'tsx',
        '--test',
        '--test-concurrency=1',
        ...process.argv.slice(2),
        'test-fabric/*.test.ts',
      ],
      { cwd: ROOT, stdio: 'inherit', env: { ...process.env, PMHE_FABRIC_DIR: DIR } },
    );
    code = await new Promise<number>((resolve) => {
      child?.once('exit', (status, signal) => resolve(status ?? (signal ? 128 : 1)));
    });
    say(
      `test:fabric: tests ${code === 0 ? 'passed' : 'FAILED'} in ${((performance.now() - tests) / 1000).toFixed(1)} s`,
    );
    return interrupted ? 130 : code;
  } catch (error) {
    say(`test:fabric: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    if (!reuse) {
      const keep = code !== 0;
      await down({ keep });
      if (keep) say(`test:fabric: logs kept in ${DIR}/logs (npm run fabric:down removes them)`);
    }
    say(`test:fabric: total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
}

process.exitCode = await main();
