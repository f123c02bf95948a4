/**
 * Child process for the ledger crash test: opens the embedded ledger, registers a fresh user, and
 * submits receive transactions (8 in flight) until killed, printing "ack <txId>" once each
 * commit has resolved (a printed line means the submitter was told "committed").
 */
import { LocalUser } from '../../src/client/user.ts';
import { EmbeddedLedger } from '../../src/ledger/embedded.ts';
import { cohortUploads } from '../../src/models/cohort.ts';

const [dir, run] = process.argv.slice(2);
if (dir === undefined || run === undefined) throw new Error('usage: ledger-crash-child.ts <dir> <run>');
const ledger = await EmbeddedLedger.open(dir, { batch: { maxTransactions: 8, timeoutMs: 5 } });
const user = await LocalUser.create({ userId: `user-${run}`, modelId: 'early-warning', layout: 'packed' });
await ledger.submit('setup', await user.setup());
const uploads = cohortUploads(user.plan, { readings: 64, seed: Number(run) });
process.stdout.write(
  `ready ${await ledger.height()} ${ledger.opened.replayed} ${ledger.opened.truncated ? 1 : 0}\n`,
);
const worker = async (w: number) => {
  for (let i = w; ; i += 8) {
    const upload = uploads[i % uploads.length] as (typeof uploads)[number];
    const envelope = await user.envelope(upload.readings, upload.profile);
    const { txId } = await ledger.submit('receive', user.receive([envelope]));
    process.stdout.write(`ack ${txId}\n`);
  }
};
await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
