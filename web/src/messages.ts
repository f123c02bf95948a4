/**
 * The page ⇄ worker protocol. The page sends a Request (an id, an op and its payload); the worker
 * answers each with exactly one Reply carrying the same id: the op's result, or a structured
 * error {code, message}. Between request and reply, and while a stream runs, the worker posts
 * Events: progress {phase, done, total}, each reading as it is taken, each decrypted result,
 * status lines. Everything here is structured-cloneable data: no keys, no classes.
 */

import type { Inbox } from '../../src/client/clinician.ts';
import type { RawReading } from '../../src/client/filter.ts';
import type { HistoryEntry } from '../../src/client/history.ts';
import type { Reading } from '../../src/device/reading.ts';
import type { Clinician, Closed, Grant } from '../../src/protocol/api.ts';
import type { Layout } from '../../src/protocol/schema.ts';

/** Whose keys a vault holds: a person's (their readings are checked) or a clinician's (people share with them). */
export type Role = 'person' | 'clinician';

export interface VaultSummary {
  role: 'person';
  userId: string;
  /** The models followed, in the order they were added (at least one). */
  models: { modelId: string; layout: Layout; presetId: string }[];
  createdAt: number;
  /** Whether this browser registered every model's keys with the server (setup done). */
  registered: boolean;
  /** The profile sealed in the vault (age, bmi, cholesterol, smoker, spo2Scale): what uploads carry. */
  profile: Record<string, number>;
}

/** An unlocked clinician's vault: who they are and the fingerprint they read out to people. */
export interface ClinicianSummary {
  role: 'clinician';
  clinicianId: string;
  name: string;
  /** Of their X25519 key: a person compares it with the one their own screen shows before granting. */
  fingerprint: string;
  /** Whether this browser registered the clinician with the server. */
  registered: boolean;
}

export type StreamSource =
  /** The seeded simulator: `count` readings of a persona, one every `paceMs` of wall time. */
  | { kind: 'simulator'; persona: string; seed: number; count: number; paceMs: number; start?: number }
  /** A CSV file's text (src/device/csv.ts columns), replayed at `paceMs` per reading. */
  | { kind: 'csv'; text: string; paceMs: number };

export interface Ops {
  /** Whether this browser holds a vault, and whether it is unlocked. */
  status: {
    payload: Record<string, never>;
    result: { vault: boolean; role: Role | null; unlocked: VaultSummary | ClinicianSummary | null };
  };
  /** Keys made here and sealed under the passphrase in IndexedDB. */
  create: {
    payload: {
      userId: string;
      modelId: string;
      layout: Layout;
      passphrase: string;
      profile?: Record<string, number>;
      server: string;
    };
    result: VaultSummary;
  };
  /** A person's vault opens the person's client, a clinician's the clinician's. */
  unlock: { payload: { passphrase: string; server: string }; result: VaultSummary | ClinicianSummary };
  lock: { payload: Record<string, never>; result: null };
  /**
   * Deletes the unlocked vault, only while nothing depends on it: never registered, nothing
   * uploaded or received (a user id the server gave to other keys). Anything else is refused.
   */
  discard: { payload: Record<string, never>; result: null };
  /** setup(m) for each model not registered yet: the public key and its evaluation keys to the server. */
  register: {
    payload: { enrolment?: string };
    result: { registered: { modelId: string; txId: string }[]; ms: number };
  };
  /** Follows another model: its keys made here, sealed into the vault, then registered. */
  addModel: {
    payload: { modelId: string; layout: Layout; passphrase: string; profile?: Record<string, number> };
    result: VaultSummary;
  };
  /** Stops following a model (not the last): the server ends it, its key leaves the vault. */
  removeModel: { payload: { modelId: string; passphrase: string }; result: VaultSummary };
  /**
   * Replaces profile values (fields of the models followed, in their ranges) and re-seals the
   * vault: readings queued from then on carry them; results already made keep theirs.
   */
  setProfile: {
    payload: { values: Record<string, number>; passphrase: string };
    result: { profile: Record<string, number> };
  };
  /** Starts a stream of readings; answers once it started (readings and results follow as events). */
  stream: { payload: StreamSource; result: { readings: number } };
  /** Stops the stream (what was already queued is still sent and collected). */
  stop: { payload: Record<string, never>; result: null };
  /** One reading from a live device (Web Bluetooth), taken now. */
  push: { payload: { reading: RawReading }; result: null };
  /** The local history, oldest first. */
  results: { payload: Record<string, never>; result: HistoryEntry[] };
  /** After a restore on a new device: the person's results on the server, rebuilt into the history. */
  restoreHistory: {
    payload: Record<string, never>;
    result: { entries: HistoryEntry[]; batch: number; refused: string[] };
  };
  exportFhir: { payload: Record<string, never>; result: { text: string; filename: string } };
  exportCsv: { payload: Record<string, never>; result: { text: string; filename: string } };
  /** The vault re-sealed under `backupPassphrase` (or as stored when absent). */
  exportBackup: {
    payload: { passphrase: string; backupPassphrase?: string };
    result: { bytes: Uint8Array; filename: string };
  };
  /** A backup stored as this browser's vault (refused when one exists unless `replace`); unlock next. */
  importBackup: {
    payload: { bytes: Uint8Array; passphrase: string; replace?: boolean };
    result: { userId: string; role: Role };
  };

  // Sharing with a clinician, the person's side (src/client/sharing.ts)
  /** A registered clinician, with the fingerprint the person compares with the one the clinician reads out. */
  lookupClinician: { payload: { clinicianId: string }; result: Clinician };
  /**
   * Grants the clinician last looked up (the fingerprint shown must still be theirs) the results
   * of `models` until `until` (ms); results already here that it covers are shared at once.
   */
  grant: {
    payload: { clinicianId: string; fingerprint: string; models: string[]; until: number };
    result: { grant: Grant; shared: number; failed: string[] };
  };
  revoke: { payload: { clinicianId: string }; result: Grant };
  /** The grants this person gave (revoked and expired ones too), with what was shared under each. */
  grants: { payload: Record<string, never>; result: Grant[] };
  /**
   * Closes the account for good (the passphrase checked first): the server and the ledger's
   * state forget the person, then the vault, outbox and history leave this browser.
   */
  closeAccount: { payload: { passphrase: string }; result: Closed };

  // The clinician's side (src/client/clinician.ts)
  /** A clinician's keys made here and sealed under the passphrase (registered next). */
  createClinician: {
    payload: { clinicianId: string; name: string; passphrase: string; server: string };
    result: ClinicianSummary;
  };
  registerClinician: { payload: { enrolment?: string }; result: { txId: string; ms: number } };
  /** The items shared with this clinician, each checked against the ledger, with the grants it records. */
  inbox: { payload: Record<string, never>; result: Inbox };
  /** One person's items of the last inbox fetched, as a FHIR R4 Bundle. */
  clinicianFhir: { payload: { userId: string }; result: { text: string; filename: string } };
}

export type Op = keyof Ops;

export type Request = { [K in Op]: { id: number; op: K; payload: Ops[K]['payload'] } }[Op];

export interface WorkerError {
  /** VaultError codes (WRONG_PASSPHRASE, …), ApiError codes (NETWORK, …), or LOCKED, BUSY, BAD_INPUT, FAILED. */
  code: string;
  message: string;
}

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: WorkerError };

export type ProgressPhase =
  | 'keys'
  | 'seal'
  | 'unlock'
  | 'register'
  | 'encrypt'
  | 'upload'
  | 'backup'
  | 'inbox'
  | 'share'
  | 'close';

/** A decrypted, checked result, as the page shows it. */
export interface ResultEvent {
  type: 'result';
  entry: HistoryEntry;
}

export type Event =
  | { type: 'progress'; phase: ProgressPhase; done: number; total: number }
  /** A reading handed to the client, and what the filter made of it. */
  /** A reading kept; `alert` when the filter replaced a red-band value the person must hear about. */
  | { type: 'reading'; reading: Reading; fate: string; index: number; total: number; alert?: string }
  /** A reading the filter refused; `alert` when the person must see it (no breathing detected). */
  | { type: 'rejected'; time: number; message: string; alert?: boolean }
  | ResultEvent
  /** Results shared with clinicians by themselves after they arrived (and any that failed, tried again later). */
  | {
      type: 'shared';
      shared: { clinicianId: string; resultId: string }[];
      failed: { clinicianId: string; reason: string }[];
    }
  /** The stream finished (or was stopped); every sent reading's result has arrived or timed out. */
  | { type: 'stream-end'; readings: number; results: number; stopped: boolean }
  | { type: 'status'; message: string; level: 'info' | 'warning' | 'error' };

/** Anything the worker posts. */
export type FromWorker = ({ kind: 'reply' } & Reply) | ({ kind: 'event' } & Event);

export const isReply = (m: FromWorker): m is { kind: 'reply' } & Reply => m.kind === 'reply';
