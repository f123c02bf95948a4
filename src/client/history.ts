/**
 * The client's local history: every result it decrypted, with the readings that went into it and
 * the diagnosis. Only ever on the user's device (the folder or IndexedDB behind a ClientStore).
 */
import { decode, encode } from 'cborg';
import type { Reading } from '../device/reading.ts';
import type { Diagnosis } from '../models/diagnosis.ts';
import type { Layout } from '../protocol/schema.ts';
import type { ClientStore } from './store.ts';

export interface HistoryEntry {
  /** The contract's result id, its submission (sha256 of the envelope) and where it is on the ledger. */
  resultId: string;
  submissionId: string;
  txId: string;
  blockNumber: number;
  modelId: string;
  layout: Layout;
  /** The readings the submission carried, as filtered (units as in Vitals), oldest first. */
  readings: Reading[];
  /** Q: each output's decrypted values (one per reading for per-reading outputs, else one). */
  q: Record<string, number[]>;
  /** The model's finished values for the last reading (what the criteria read). */
  values: Record<string, number>;
  diagnosis: Diagnosis;
  /** When the client decrypted the result (ms since the epoch). */
  decryptedAt: number;
  /** Milliseconds from the last reading being taken (or handed to the client) to its diagnosis. */
  latencyMs: number;
  /** Bytes uploaded for this submission (envelope and issue request). */
  uploadedBytes: number;
  /**
   * Rebuilt on this device from the server after a restore: the values and the diagnosis, but
   * no readings (they stayed, in the clear, on the device that took them), so no latency or
   * upload size either (both 0).
   */
  restored?: boolean;
  /** The ledger's time of the evaluation (ms): for a rebuilt entry, the only time there is (absent in entries from before sharing). */
  recordedAt?: number;
}

/** When an entry's reading was taken (its last one), or for a rebuilt entry when it was evaluated. */
export const entryTime = (e: HistoryEntry): number =>
  e.readings.at(-1)?.time ?? e.recordedAt ?? e.decryptedAt;

/** The last reading of an entry as a person reads it: whole numbers; how many readings it had. */
export function lastVitals(
  e: HistoryEntry,
):
  | { heartRate: number; systolic: number; diastolic: number; breathing: number; readings: number }
  | undefined {
  const r = e.readings.at(-1);
  if (!r) return undefined;
  return {
    heartRate: Math.round(r.x),
    systolic: Math.round(r.z),
    diastolic: Math.round(r.y),
    breathing: Math.round(r.w),
    readings: e.readings.length,
  };
}

const PREFIX = 'history/';
const keyOf = (e: HistoryEntry) => `${PREFIX}${String(entryTime(e)).padStart(15, '0')}-${e.resultId}`;

export class History {
  readonly #store: ClientStore;
  constructor(store: ClientStore) {
    this.#store = store;
  }

  async add(entry: HistoryEntry): Promise<void> {
    await this.#store.put(keyOf(entry), encode(entry));
  }

  /** Every entry, oldest reading first. */
  async list(): Promise<HistoryEntry[]> {
    const entries: HistoryEntry[] = [];
    for (const key of await this.#store.keys(PREFIX)) {
      const bytes = await this.#store.get(key);
      if (bytes) entries.push(decode(bytes) as HistoryEntry);
    }
    return entries;
  }
}
