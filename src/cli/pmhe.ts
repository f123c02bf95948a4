/** The `pmhe` command (run it with `npm run pmhe -- <command>`). */
import { createRequire } from 'node:module';
import { Command } from 'commander';
import { benchCommand } from './bench.ts';
import { clientCommands } from './client.ts';
import { ledgerCommands } from './ledger.ts';
import { serverCommands } from './server.ts';
import { sharingCommands } from './sharing.ts';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };
const program = new Command('pmhe')
  .description('PMHE: privacy-preserving health monitoring on CKKS and a ledger')
  .version(version, '-V, --version', 'the version of pmhe')
  .showHelpAfterError('(run with --help for usage)');
clientCommands(program);
sharingCommands(program);
ledgerCommands(program);
serverCommands(program);
benchCommand(program);
await program.parseAsync(process.argv);
