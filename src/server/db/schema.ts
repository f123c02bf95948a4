/** The server's tables, as Kysely sees them (the migrations in ./migrations create them). */
import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** accepted → received (receive committed) → issued (Z committed); or rejected by the contract. */
export type SubmissionState = 'accepted' | 'received' | 'issued' | 'rejected';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** bigint columns come back as strings from PostgreSQL drivers. */
type BigInt = ColumnType<string | number, number | bigint, number | bigint>;

/** A user: their identity key, registered by their first setup. */
export interface UsersTable {
  user_id: string;
  public_key: Uint8Array;
  setup_tx: string;
  registered_at: Timestamp;
  role: ColumnType<'person' | 'clinician', 'person' | 'clinician' | undefined, 'person' | 'clinician'>;
  /** A clinician's X25519 key and name (null for a person). */
  box_key: ColumnType<Uint8Array | null, Uint8Array | null | undefined, Uint8Array | null>;
  name: ColumnType<string | null, string | null | undefined, string | null>;
}

/** A person's grant to a clinician, as the ledger recorded it (docs/sharing.md). */
export interface GrantsTable {
  user_id: string;
  clinician_id: string;
  /** JSON array of model ids. */
  models: string;
  from_at: Timestamp;
  until_at: Timestamp;
  grant_tx: string;
  revoked_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  revoke_tx: ColumnType<string | null, string | null | undefined, string | null>;
}

/** A sealed item shared under a grant: the server keeps the bytes, the ledger their hash. */
export interface SharesTable {
  seq: Generated<BigInt>;
  user_id: string;
  clinician_id: string;
  result_id: string;
  model_id: string;
  item: Uint8Array;
  item_hash: string;
  share_tx: string;
  shared_at: Timestamp;
}

/** One model a user registered (its own setup): what their uploads for it must follow. */
export interface SubscriptionsTable {
  user_id: string;
  model_id: string;
  layout: string;
  preset_id: string;
  template_id: string;
  template_version: number;
  setup_tx: string;
  subscribed_at: Timestamp;
}

export interface SubmissionsTable {
  seq: Generated<BigInt>;
  id: string;
  user_id: string;
  nonce: Uint8Array;
  /** Kept until the ledger has committed its receive (then null: the ledger is the record). */
  envelope: Uint8Array | null;
  /** The user's signed issue request for this submission, if they asked for Z. */
  issue_request: Uint8Array | null;
  /** Its nonce (one nonce space per user, as in the contract). */
  issue_nonce: ColumnType<Uint8Array | null, Uint8Array | null | undefined, Uint8Array | null>;
  bytes: number;
  readings: number;
  state: SubmissionState;
  /** Every transaction id a receive (issue) was prepared with, newest last: checked after a crash. */
  receive_txs: ColumnType<string[], string[] | undefined, string[]>;
  /** The receive transaction that committed. */
  receive_tx: ColumnType<string | null, string | null | undefined, string | null>;
  receive_block: BigInt | null;
  issue_txs: ColumnType<string[], string[] | undefined, string[]>;
  result_id: string | null;
  error: string | null;
  attempts: Generated<number>;
  accepted_at: Timestamp;
  updated_at: Timestamp;
  /** The replica whose committer holds this submission's work, until its lease ends. */
  claimed_by: ColumnType<string | null, string | null | undefined, string | null>;
  claimed_until: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface ResultsTable {
  seq: Generated<BigInt>;
  id: string;
  user_id: string;
  submission_id: string;
  tx_id: string;
  block_number: BigInt;
  created_at: Timestamp;
}

export interface HttpNoncesTable {
  user_id: string;
  nonce: Uint8Array;
  seen_at: Timestamp;
}

/** One registration (setup) as counted by the quotas. */
export interface RegistrationsTable {
  seq: Generated<BigInt>;
  user_id: string;
  address: string;
  key_bytes: number;
  setup_nonce: Uint8Array;
  created_at: Generated<Date>;
}

/** An operator-issued, single-use, expiring enrolment token (its SHA-256, hex). */
export interface EnrolmentsTable {
  token_hash: string;
  note: Generated<string>;
  created_at: Generated<Date>;
  expires_at: Timestamp;
  used_by: string | null;
  used_at: Date | null;
}

/** A rate limit's counter in its fixed window (replicas on one PostgreSQL share it). */
export interface RateLimitsTable {
  key: string;
  count: number;
  window_start: Timestamp;
}

export interface Database {
  users: UsersTable;
  subscriptions: SubscriptionsTable;
  submissions: SubmissionsTable;
  results: ResultsTable;
  http_nonces: HttpNoncesTable;
  registrations: RegistrationsTable;
  enrolments: EnrolmentsTable;
  grants: GrantsTable;
  shares: SharesTable;
  rate_limits: RateLimitsTable;
}

export type User = Selectable<UsersTable>;
export type Subscription = Selectable<SubscriptionsTable>;
export type Submission = Selectable<SubmissionsTable>;
export type NewSubmission = Insertable<SubmissionsTable>;
export type Result = Selectable<ResultsTable>;
export type GrantRow = Selectable<GrantsTable>;
