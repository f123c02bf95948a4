/** The `pmhe` command (run it with `npm run pmhe -- <command>`). */
import { Command } from 'commander';
import { benchCommand } from './bench.ts';
import { clientCommands } from './client.ts';
import { ledgerCommands } from './ledger.ts';
import { serverCommands } from './server.ts';

const program = new Command('pmhe').description(
  'PMHE: privacy-preserving health monitoring on CKKS and a ledger',
);
clientCommands(program);
ledgerCommands(program);
serverCommands(program);
benchCommand(program);
await program.parseAsync(process.argv);
