/** `pmhe bench <name>`: runs one of the benchmarks (the same as `npm run bench:<name>`). */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Argument, type Command } from 'commander';

const BENCHMARKS = ['client', 'server', 'ledger', 'paper', 'presets'] as const;

export function benchCommand(program: Command): void {
  program
    .command('bench')
    .description('run a benchmark and print its table (results belong in docs/benchmarks.md)')
    .addArgument(new Argument('<name>', 'which benchmark').choices(BENCHMARKS))
    .argument('[args...]', 'passed to the benchmark')
    .action(async (name: string, args: string[]) => {
      const script = fileURLToPath(new URL(`../../bench/${name}.ts`, import.meta.url));
      const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: 'inherit' });
      process.exitCode = await new Promise<number>((resolve) =>
        child.on('exit', (code) => resolve(code ?? 1)),
      );
    });
}
