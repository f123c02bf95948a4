/**
 * `pmhe ledger verify`: checks a ledger folder end to end without changing it. Recomputes every
 * block's hash chain and data hash, re-derives the state from the valid transactions of every
 * block, compares it with the state database key by key (value hash and version), and names the
 * first bad block.
 */
import { join } from 'node:path';
import { BlockStore, verify as verifyBlocks } from './block-store.ts';
import { LedgerError } from './errors.ts';
import { TX_VALID } from './ledger.ts';
import { sha256 } from './record.ts';
import { decodeTx } from './transaction.ts';
import { type Version, WorldState } from './world-state.ts';

export interface LedgerVerdict {
  ok: boolean;
  height: number;
  transactions: number;
  keys: number;
  /** The first block that is damaged or whose writes disagree with the state database. */
  firstBadBlock: number | null;
  /**
   * Committed blocks the state database has not applied yet: a process stopped between appending a
   * block and applying it. Not damage: the next open replays them.
   */
  pendingBlocks: number;
  problems: string[];
}

export type VerifyProgress = (done: number, total: number) => void;

const MAX_PROBLEMS = 20;

/** The hash chain and data hashes of a block folder: a verdict when damaged, null when sound. */
export async function verifyChain(blocksDir: string): Promise<LedgerVerdict | null> {
  const chain = await verifyBlocks(blocksDir);
  if (chain.ok) return null;
  return {
    ok: false,
    height: chain.block,
    transactions: 0,
    keys: 0,
    firstBadBlock: chain.block,
    pendingBlocks: 0,
    problems: [`${chain.reason} (${chain.file} at offset ${chain.offset})`],
  };
}

export async function verifyLedger(dir: string, progress?: VerifyProgress): Promise<LedgerVerdict> {
  const blocksDir = join(dir, 'blocks');
  const damaged = await verifyChain(blocksDir);
  if (damaged) return damaged;
  let state: WorldState;
  try {
    state = await WorldState.open(join(dir, 'state'));
  } catch (error) {
    if (error instanceof LedgerError && error.code === 'LOCKED') {
      throw new LedgerError(
        'LOCKED',
        `${dir} is in use by a running ledger: stop it first, or call ledger.verify()`,
      );
    }
    throw error;
  }
  try {
    // The chain verified, so opening cannot truncate anything.
    const store = await BlockStore.open(blocksDir);
    try {
      return await compareState(store, state, progress);
    } finally {
      await store.close();
    }
  } finally {
    await state.close();
  }
}

/** Re-derives state from `store` and compares it with `state` (both open, no commits running). */
export async function compareState(
  store: BlockStore,
  state: WorldState,
  progress?: VerifyProgress,
): Promise<LedgerVerdict> {
  const derived = new Map<string, { hash: string; version: Version }>();
  let transactions = 0;
  const problems: string[] = [];
  let firstBadBlock: number | null = null;
  const bad = (block: number, problem: string) => {
    firstBadBlock = firstBadBlock === null ? block : Math.min(firstBadBlock, block);
    if (problems.length < MAX_PROBLEMS) problems.push(problem);
  };
  // Blocks after the savepoint are checked (hashes, decoding) but their writes are not expected in
  // the state yet; a state ahead of the chain is damage (committed blocks lost).
  const savepoint = await state.savepoint();
  if (savepoint > store.height - 1) {
    bad(store.height, `state savepoint is block ${savepoint}, the chain ends at block ${store.height - 1}`);
  }
  for await (const block of store.blocks()) {
    for (const [i, bytes] of block.transactions.entries()) {
      transactions++;
      let tx: ReturnType<typeof decodeTx>;
      try {
        tx = decodeTx(bytes);
      } catch (error) {
        bad(block.number, `block ${block.number} transaction ${i}: ${(error as Error).message}`);
        continue;
      }
      if (block.metadata.validation[i] !== TX_VALID || block.number > savepoint) continue;
      for (const w of tx.rwset.writes) {
        if (w.value === null) derived.delete(w.key);
        else derived.set(w.key, { hash: hex(sha256(w.value)), version: [block.number, i] });
      }
    }
    progress?.(block.number + 1, store.height);
  }
  let keys = 0;
  for await (const [key, { value, version }] of state.entries()) {
    keys++;
    const want = derived.get(key);
    derived.delete(key);
    if (!want) {
      bad(
        version[0],
        `state has key ${JSON.stringify(key)} (version ${version.join(':')}) that no valid transaction wrote`,
      );
    } else if (want.version[0] !== version[0] || want.version[1] !== version[1]) {
      bad(
        Math.min(want.version[0], version[0]),
        `key ${JSON.stringify(key)}: version ${version.join(':')} in state, ${want.version.join(':')} in blocks`,
      );
    } else if (want.hash !== hex(sha256(value))) {
      bad(
        version[0],
        `key ${JSON.stringify(key)}: value in state differs from block ${version[0]} transaction ${version[1]}`,
      );
    }
  }
  for (const [key, want] of derived) {
    bad(
      want.version[0],
      `key ${JSON.stringify(key)} written by block ${want.version[0]} is missing from the state`,
    );
  }
  return {
    ok: problems.length === 0,
    height: store.height,
    transactions,
    keys,
    firstBadBlock,
    pendingBlocks: Math.max(0, store.height - 1 - savepoint),
    problems,
  };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
