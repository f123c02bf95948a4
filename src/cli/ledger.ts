/** `pmhe ledger …`: commands over an embedded ledger folder, or a Fabric channel. */
import { join } from 'node:path';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { LedgerError } from '../ledger/errors.ts';
import { FabricLedger } from '../ledger/fabric/adapter.ts';
import { type ChannelVerdict, type CommittedClaim, verifyChannel } from '../ledger/fabric/verify.ts';
import { verifyLedger } from '../ledger/verify.ts';
import { openDatabase } from '../server/db/database.ts';

/** Exit codes: 0 verified, 1 damage found, 2 could not check (usage, locked, I/O). */
export const EXIT = Object.freeze({ ok: 0, damaged: 1, error: 2 });

export function ledgerCommands(program: Command): void {
  const ledger = program
    .command('ledger')
    .description('inspect an embedded ledger folder or a Fabric channel');
  ledger
    .command('verify')
    .description(
      'embedded: recompute the hash chain and data hashes of every block, re-derive the state from the blocks and compare it with the state database; names the first bad block. --fabric: read every block of the channel through qscc, check its hash chain and data hashes, and check that every transaction the server database calls committed is on the channel and valid',
    )
    .argument('[dir]', 'ledger folder (holds blocks/ and state/); not with --fabric')
    .option('--fabric <file>', 'a Fabric connection file: verify that channel instead')
    .option('--database-url <url>', 'with --fabric: the server database (PostgreSQL) to check against')
    .option(
      '--data-dir <dir>',
      "with --fabric: the server's data folder (its PGlite database; stop the server first)",
    )
    .option('--json', 'print the verdict as JSON')
    .action(async (dir: string | undefined, options: VerifyOptions) => {
      const bar =
        process.stderr.isTTY && !options.json
          ? new SingleBar({ format: 'verifying {bar} {value}/{total} blocks' })
          : null;
      const progress = (done: number, total: number) => {
        if (done === 1) bar?.start(total, 0);
        bar?.update(done);
      };
      try {
        if (options.fabric) {
          const verdict = await verifyFabric(options, progress);
          bar?.stop();
          printChannel(options.fabric, verdict, options.json);
          process.exitCode = verdict.ok ? EXIT.ok : EXIT.damaged;
          return;
        }
        if (!dir) throw new LedgerError('BAD_ARGUMENT', 'give a ledger folder, or --fabric connection.json');
        const verdict = await verifyLedger(dir, progress);
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

interface VerifyOptions {
  json?: boolean;
  fabric?: string;
  databaseUrl?: string;
  dataDir?: string;
}

/** The channel, and what the server's database says was committed on it. */
async function verifyFabric(
  options: VerifyOptions,
  progress: (done: number, total: number) => void,
): Promise<ChannelVerdict> {
  if (!options.databaseUrl && !options.dataDir) {
    throw new LedgerError('BAD_ARGUMENT', '--fabric needs the server database: --database-url or --data-dir');
  }
  const { db } = await openDatabase(
    options.databaseUrl ? { url: options.databaseUrl } : { dataDir: join(options.dataDir as string, 'db') },
  );
  const claims: CommittedClaim[] = [];
  try {
    for (const s of await db
      .selectFrom('submissions')
      .select(['id', 'receive_tx'])
      .where('receive_tx', 'is not', null)
      .execute()) {
      claims.push({ what: `submission ${s.id} received`, txId: s.receive_tx as string });
    }
    for (const r of await db.selectFrom('results').select(['submission_id', 'tx_id']).execute()) {
      claims.push({ what: `the result of submission ${r.submission_id}`, txId: r.tx_id });
    }
  } finally {
    await db.destroy();
  }
  const ledger = await FabricLedger.connect(options.fabric as string);
  try {
    return await verifyChannel(ledger, claims, progress);
  } finally {
    await ledger.close();
  }
}

function printChannel(source: string, verdict: ChannelVerdict, json?: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify(verdict, null, 2)}\n`);
  else if (verdict.ok)
    process.stdout.write(
      `channel of ${source}: OK — ${verdict.height} blocks chained, ${verdict.transactions} transactions, all ${verdict.claims} committed transactions the database records are valid on the channel\n`,
    );
  else {
    process.stdout.write(
      `channel of ${source}: DAMAGED${verdict.firstBadBlock === null ? '' : ` — first bad block ${verdict.firstBadBlock}`}\n`,
    );
    for (const p of verdict.problems) process.stdout.write(`  ${p}\n`);
  }
}
