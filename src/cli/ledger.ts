/** `pmhe ledger …`: commands over an embedded ledger folder. */
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { LedgerError } from '../ledger/errors.ts';
import { verifyLedger } from '../ledger/verify.ts';

/** Exit codes: 0 verified, 1 damage found, 2 could not check (usage, locked, I/O). */
export const EXIT = Object.freeze({ ok: 0, damaged: 1, error: 2 });

export function ledgerCommands(program: Command): void {
  const ledger = program.command('ledger').description('inspect an embedded ledger folder');
  ledger
    .command('verify')
    .description(
      'recompute the hash chain and data hashes of every block, re-derive the state from the blocks and compare it with the state database; names the first bad block',
    )
    .argument('<dir>', 'ledger folder (holds blocks/ and state/)')
    .option('--json', 'print the verdict as JSON')
    .action(async (dir: string, options: { json?: boolean }) => {
      const bar =
        process.stderr.isTTY && !options.json
          ? new SingleBar({ format: 'verifying {bar} {value}/{total} blocks' })
          : null;
      try {
        const verdict = await verifyLedger(dir, (done, total) => {
          if (done === 1) bar?.start(total, 0);
          bar?.update(done);
        });
        bar?.stop();
        if (options.json) {
          process.stdout.write(`${JSON.stringify(verdict, null, 2)}\n`);
        } else if (verdict.ok) {
          process.stdout.write(
            `ledger ${dir}: OK — ${verdict.height} blocks, ${verdict.transactions} transactions, ${verdict.keys} keys; state matches the blocks${
              verdict.pendingBlocks
                ? ` up to block ${verdict.height - 1 - verdict.pendingBlocks} (the last ${verdict.pendingBlocks} committed block(s) were not applied before the ledger stopped; opening it replays them)`
                : ''
            }\n`,
          );
        } else {
          process.stdout.write(`ledger ${dir}: DAMAGED — first bad block ${verdict.firstBadBlock}\n`);
          for (const p of verdict.problems) process.stdout.write(`  ${p}\n`);
        }
        process.exitCode = verdict.ok ? EXIT.ok : EXIT.damaged;
      } catch (error) {
        bar?.stop();
        const message = error instanceof LedgerError ? `${error.code}: ${error.message}` : String(error);
        if (options.json) process.stdout.write(`${JSON.stringify({ ok: false, error: message })}\n`);
        else process.stderr.write(`pmhe ledger verify: ${message}\n`);
        process.exitCode = EXIT.error;
      }
    });
}
