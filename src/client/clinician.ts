/**
 * The clinician's client (docs/sharing.md): their Ed25519 identity and X25519 key, made on their
 * device and kept in their own vault; registration; and the inbox, where each item the server
 * gives is checked against the ledger (its SHA-256 under the person's grant), against the
 * person's signature, and opened with the clinician's key before anything is shown.
 */
import { signedRequest } from '../ledger/contract-client.ts';
import type { Clinician, Closed, GrantList } from '../protocol/api.ts';
import { fromBase64 } from '../protocol/bytes.ts';
import { type Answer, readAnswer } from '../protocol/contract.ts';
import {
  derivePublicKey,
  exportPrivateKey,
  generateIdentity,
  importPrivateKey,
} from '../protocol/identity.ts';
import type { RequestOp } from '../protocol/request.ts';
import { boxKeyPair, fingerprint, itemHash, openItem, type SharedResult } from '../protocol/shared-item.ts';
import { ApiClient } from './api-client.ts';
import { kdfProgress, NO_SERVER, type OpenOptions } from './app.ts';
import { type FhirBundle, type FhirExportOptions, toFhirBundle } from './export.ts';
import type { HistoryEntry } from './history.ts';
import type { ClientStore } from './store.ts';
import { httpAuthorization } from './user.ts';
import { type KdfParams, Vault, type VaultContents } from './vault.ts';

export interface ClinicianInitOptions {
  clinicianId: string;
  /** The name people see when they look the clinician up (not verified by anyone: compare fingerprints). */
  name: string;
  passphrase: string;
  server?: string;
  kdf?: KdfParams;
}

/** One shared diagnosis, checked: what the person sealed, with when and in which transaction it was shared. */
export interface InboxItem extends SharedResult {
  sharedAt: number;
  shareTx: string;
}

/** Why an item the server gave was not shown. */
export type InboxProblem = 'NOT_ON_LEDGER' | 'TAMPERED' | 'NO_GRANT' | 'BAD_ITEM';

export interface Inbox {
  /** Checked items, oldest reading first. */
  items: InboxItem[];
  refused: { userId: string; resultId: string; problem: InboxProblem; reason: string }[];
  /** The grants as the ledger records them (revoked and expired ones too). */
  grants: Answer<'consent'>['grants'];
}

export class ClinicianClient {
  readonly api: ApiClient;
  readonly #contents: VaultContents & { clinician: NonNullable<VaultContents['clinician']> };
  readonly #signer: { userId: string; privateKey: CryptoKey };
  readonly #box: { publicKey: Uint8Array; privateKey: CryptoKey };
  readonly #publicKey: Uint8Array;
  readonly #store: ClientStore;

  private constructor(
    store: ClientStore,
    contents: VaultContents,
    keys: {
      privateKey: CryptoKey;
      publicKey: Uint8Array;
      box: { publicKey: Uint8Array; privateKey: CryptoKey };
    },
    options: OpenOptions,
  ) {
    if (!contents.clinician) throw new RangeError('this vault is a person’s, not a clinician’s');
    this.#contents = contents as VaultContents & { clinician: NonNullable<VaultContents['clinician']> };
    this.#signer = { userId: contents.userId, privateKey: keys.privateKey };
    this.#publicKey = keys.publicKey;
    this.#box = keys.box;
    this.#store = store;
    const signer = {
      authorization: (m: string, p: string, b?: Uint8Array) => httpAuthorization(this.#signer, m, p, b),
    };
    this.api = new ApiClient(options.server ?? contents.server ?? NO_SERVER, signer, {
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  /** New keys, sealed into a new clinician's vault in `store`. */
  static async init(
    store: ClientStore,
    options: ClinicianInitOptions & OpenOptions,
  ): Promise<ClinicianClient> {
    const name = options.name.trim();
    if (name.length === 0 || name.length > 200) throw new RangeError('name: 1 to 200 characters');
    const { privateKey } = await generateIdentity();
    const contents: VaultContents = {
      userId: options.clinicianId,
      createdAt: Date.now(),
      identitySeed: await exportPrivateKey(privateKey),
      subscriptions: [],
      clinician: { name, boxSeed: crypto.getRandomValues(new Uint8Array(32)) },
      ...(options.server ? { server: options.server } : {}),
    };
    await Vault.create(store, contents, options.passphrase, {
      ...(options.kdf ? { kdf: options.kdf } : {}),
      ...kdfProgress('seal', options),
    });
    return ClinicianClient.#from(store, contents, options);
  }

  /** Unlocks a clinician's vault (a person's vault is refused). */
  static async open(
    store: ClientStore,
    passphrase: string,
    options: OpenOptions = {},
  ): Promise<ClinicianClient> {
    return ClinicianClient.#from(
      store,
      await Vault.open(store, passphrase, kdfProgress('unlock', options)),
      options,
    );
  }

  static async #from(
    store: ClientStore,
    contents: VaultContents,
    options: OpenOptions,
  ): Promise<ClinicianClient> {
    if (!contents.clinician)
      throw new RangeError(`${contents.userId}'s vault is a person’s, not a clinician’s`);
    const privateKey = await importPrivateKey(contents.identitySeed, true);
    const keys = {
      privateKey,
      publicKey: await derivePublicKey(privateKey),
      box: await boxKeyPair(contents.clinician.boxSeed),
    };
    return new ClinicianClient(store, contents, keys, options);
  }

  get clinicianId(): string {
    return this.#contents.userId;
  }

  get name(): string {
    return this.#contents.clinician.name;
  }

  /** The X25519 key people seal to, and its fingerprint: read it to a person who is about to grant. */
  get boxKey(): Uint8Array {
    return new Uint8Array(this.#box.publicKey);
  }

  get fingerprint(): string {
    return fingerprint(this.#box.publicKey);
  }

  async #request(op: RequestOp, params: Parameters<typeof signedRequest>[2] = {}): Promise<Uint8Array> {
    return fromBase64(await signedRequest(this.#signer, op, params));
  }

  /** Registers the clinician with the server and the ledger (op "clinician"). */
  async register(enrolment?: string): Promise<Clinician> {
    const request = await this.#request('clinician', {
      publicKey: this.#publicKey,
      boxKey: this.#box.publicKey,
      name: this.name,
    });
    return this.api.registerClinician(request, enrolment);
  }

  /** The grants received, as the server knows them. */
  grants(): Promise<GrantList> {
    return this.api.grants();
  }

  /**
   * The items shared with this clinician (of one person, or all), each checked before it is
   * shown: its SHA-256 is the one the ledger recorded under the person's grant, the grant is in
   * force on the ledger, the person's signature verifies, and it opens with this clinician's key.
   */
  async inbox(userId?: string): Promise<Inbox> {
    const served = await this.api.sharedItems(userId);
    const consent = readAnswer(
      'consent',
      new TextEncoder().encode(JSON.stringify(await this.api.consent(await this.#request('consent')))),
    );
    const inbox: Inbox = { items: [], refused: [], grants: consent.grants };
    const now = Date.now();
    for (const s of served) {
      const refuse = (problem: InboxProblem, reason: string) =>
        inbox.refused.push({ userId: s.userId, resultId: s.resultId, problem, reason });
      const bytes = fromBase64(s.item);
      const record = consent.shares.find(
        (r) => r.userId === s.userId && r.resultId === s.resultId && r.clinicianId === this.clinicianId,
      );
      if (!record) {
        refuse('NOT_ON_LEDGER', `the ledger records no share of result ${s.resultId} by "${s.userId}"`);
        continue;
      }
      if (record.item !== itemHash(bytes)) {
        refuse(
          'TAMPERED',
          `the item's SHA-256 is not the one the ledger recorded (transaction ${record.txId})`,
        );
        continue;
      }
      const grant = consent.grants.find((g) => g.userId === s.userId);
      if (!grant || grant.revokedAt !== null || grant.until <= now) {
        refuse('NO_GRANT', `"${s.userId}" has no grant to you in force on the ledger`);
        continue;
      }
      const person = consent.people.find((p) => p.userId === s.userId);
      try {
        if (!person) throw new Error(`the ledger has no key for "${s.userId}"`);
        const result = await openItem(bytes, {
          personKey: fromBase64(person.publicKey),
          clinicianId: this.clinicianId,
          boxPrivateKey: this.#box.privateKey,
        });
        inbox.items.push({ ...result, sharedAt: record.timestamp, shareTx: record.txId });
      } catch (error) {
        refuse('BAD_ITEM', (error as Error).message);
      }
    }
    inbox.items.sort((a, b) => a.readAt - b.readAt || a.resultId.localeCompare(b.resultId));
    return inbox;
  }

  /**
   * Closes the clinician's account (as a person's: docs/sharing.md): the ledger's entries and the
   * server's rows go, grants to them end, and this device's vault is destroyed.
   */
  async closeAccount(passphrase: string): Promise<Closed> {
    await Vault.open(this.#store, passphrase);
    const closed = await this.api.close(await this.#request('close'));
    await Vault.destroy(this.#store, passphrase);
    return closed;
  }

  /** One person's shared items as a FHIR R4 Bundle (Patient by PMHE id, an Observation per diagnosis). */
  fhirBundle(
    items: readonly InboxItem[],
    userId: string,
    options: Omit<FhirExportOptions, 'userId'> = {},
  ): FhirBundle {
    const entries = items.filter((i) => i.userId === userId).map(historyEntryOf);
    if (entries.length === 0) throw new RangeError(`nothing shared by "${userId}" to export`);
    return toFhirBundle(entries, { ...options, userId });
  }
}

/** A shared item as the export reads it: a result without readings, timed at its reading. */
function historyEntryOf(i: InboxItem): HistoryEntry {
  return {
    resultId: i.resultId,
    submissionId: i.submissionId,
    txId: i.txId,
    blockNumber: i.blockNumber,
    modelId: i.modelId,
    layout: i.layout,
    readings: [],
    q: {},
    values: i.values,
    diagnosis: i.diagnosis,
    decryptedAt: i.sharedAt,
    latencyMs: 0,
    uploadedBytes: 0,
    restored: true,
    recordedAt: i.readAt,
  };
}
