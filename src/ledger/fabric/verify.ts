/**
 * `pmhe ledger verify --fabric`: what an operator can check of a Fabric channel from outside.
 * Every block is read through qscc; its data hash is recomputed from its envelopes and its
 * previous-hash must be the hash of the block before (Fabric's header hash), so a peer that
 * altered or dropped a block is caught. Then every transaction the server's database calls
 * committed (a receive, an issue that made a result) must be on the channel and VALID.
 */
import { TX_VALID, VALIDATION_CODE_NAMES } from '../ledger.ts';
import type { FabricLedger } from './adapter.ts';

export interface CommittedClaim {
  /** What the database holds: "submission <id> received" or "result <id>". */
  what: string;
  txId: string;
}

export interface ChannelVerdict {
  ok: boolean;
  height: number;
  transactions: number;
  claims: number;
  /** The first block whose chain or data hash is wrong, if any. */
  firstBadBlock: number | null;
  problems: string[];
}

export async function verifyChannel(
  ledger: FabricLedger,
  claims: readonly CommittedClaim[],
  progress?: (done: number, total: number) => void,
): Promise<ChannelVerdict> {
  const height = await ledger.height();
  const problems: string[] = [];
  let firstBadBlock: number | null = null;
  const bad = (n: number, problem: string) => {
    firstBadBlock ??= n;
    problems.push(`block ${n}: ${problem}`);
  };
  const codes = new Map<string, number>();
  let previous: string | null = null;
  let transactions = 0;
  for (let n = 0; n < height; n++) {
    const { block, computedDataHash } = await ledger.checkedBlock(n);
    if (block.number !== n) bad(n, `the peer returned block ${block.number}`);
    if (block.dataHash !== computedDataHash)
      bad(n, `data hash ${block.dataHash} in the header, ${computedDataHash} from its transactions`);
    if (previous !== null && block.previousHash !== previous)
      bad(n, `previous hash ${block.previousHash}, but block ${n - 1} hashes to ${previous}`);
    previous = block.hash;
    for (const tx of block.transactions) {
      transactions++;
      // A transaction id seen twice: the first (valid) one counts, as on Fabric.
      if (!codes.has(tx.txId) || tx.validationCode === TX_VALID) codes.set(tx.txId, tx.validationCode);
    }
    progress?.(n + 1, height);
  }
  for (const claim of claims) {
    const code = codes.get(claim.txId);
    if (code === undefined) problems.push(`${claim.what}: transaction ${claim.txId} is not on the channel`);
    else if (code !== TX_VALID)
      problems.push(
        `${claim.what}: transaction ${claim.txId} is on the channel but ${VALIDATION_CODE_NAMES[code] ?? `invalid (code ${code})`}`,
      );
  }
  return { ok: problems.length === 0, height, transactions, claims: claims.length, firstBadBlock, problems };
}
