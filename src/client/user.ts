/**
 * A user's keys in memory and what they do with them: set up a model, encrypt and sign tuples,
 * sign requests, decrypt Z. The keys never leave this object except as the public and
 * evaluation keys setup sends. (Keeping them in an encrypted vault is the client's job.)
 */
import { encode } from 'cborg';
import {
  CkksContext,
  Decryptor,
  Encryptor,
  loadCiphertext,
  loadKey,
  type PresetId,
  SecretKey,
} from '../ckks/index.ts';
import {
  type IssuedResult,
  outputBytes,
  receiveProposal,
  requestProposal,
  type Signer,
  setupProposal,
  submissionId,
} from '../ledger/contract-client.ts';
import type { Proposal } from '../ledger/ledger.ts';
import { getModel } from '../models/catalogue/index.ts';
import { compile, type Plan } from '../models/compiler.ts';
import { decryptOutputs, encryptTuple, type Outputs, tupleVectors } from '../models/runtime.ts';
import { AUTH_SCHEME, type SubmitBody } from '../protocol/api.ts';
import { fromBase64, sha256Hex, toBase64 } from '../protocol/bytes.ts';
import { NONCE_BYTES, readSubmission, type Submission, signSubmission } from '../protocol/envelope.ts';
import {
  derivePublicKey,
  exportPrivateKey,
  generateIdentity,
  importPrivateKey,
} from '../protocol/identity.ts';
import type { Profile } from '../protocol/meta-functions.ts';
import { type Params, type RequestOp, signRequest } from '../protocol/request.ts';
import type { Layout } from '../protocol/schema.ts';
import { type SharedResult, sealItem } from '../protocol/shared-item.ts';
import type { VitalReading } from '../protocol/vitals.ts';

const freshNonce = () => crypto.getRandomValues(new Uint8Array(NONCE_BYTES));

/** The Authorization header for one HTTP request, signed by `signer` (a person's or a clinician's key). */
export async function httpAuthorization(
  signer: Signer,
  method: string,
  path: string,
  body: Uint8Array = new Uint8Array(0),
): Promise<string> {
  const bytes = await signRequest(
    {
      op: 'http',
      userId: signer.userId,
      nonce: freshNonce(),
      timestamp: Date.now(),
      params: { method: method.toUpperCase(), path, body: sha256Hex(body) },
    },
    signer.privateKey,
  );
  return `${AUTH_SCHEME} ${toBase64(bytes)}`;
}

export interface UserOptions {
  userId: string;
  modelId: string;
  layout: Layout;
  /** Pin a preset; by default the compiler's choice for the model and layout. */
  presetId?: PresetId;
}

export type SubmitItem = SubmitBody[number];

const planOf = (options: UserOptions): Plan =>
  compile(getModel(options.modelId), {
    layout: options.layout,
    ...(options.presetId ? { preset: options.presetId } : {}),
  });

export class LocalUser implements Disposable {
  readonly userId: string;
  readonly plan: Plan;
  readonly context: CkksContext;
  readonly #signer: Signer;
  readonly #publicKey: Uint8Array;
  readonly #secret: SecretKey;
  readonly #encryptor: Encryptor;
  readonly #decryptor: Decryptor;

  private constructor(
    userId: string,
    plan: Plan,
    context: CkksContext,
    identity: { signer: Signer; publicKey: Uint8Array },
    secret: SecretKey,
  ) {
    this.userId = userId;
    this.plan = plan;
    this.context = context;
    this.#signer = identity.signer;
    this.#publicKey = identity.publicKey;
    this.#secret = secret;
    this.#encryptor = Encryptor.withSecretKey(secret);
    this.#decryptor = new Decryptor(secret);
  }

  /** New keys: a fresh CKKS secret key, and a fresh identity unless `identitySeed` is the person's own. */
  static async create(options: UserOptions & { identitySeed?: Uint8Array }): Promise<LocalUser> {
    const plan = planOf(options);
    const context = await CkksContext.create(plan.preset.id);
    const privateKey = options.identitySeed
      ? await importPrivateKey(options.identitySeed, true)
      : (await generateIdentity()).privateKey;
    const publicKey = await derivePublicKey(privateKey);
    const signer = { userId: options.userId, privateKey };
    return new LocalUser(options.userId, plan, context, { signer, publicKey }, SecretKey.generate(context));
  }

  /** The user whose keys a vault kept: the Ed25519 seed and the serialized CKKS secret key. */
  static async restore(
    options: UserOptions & { identitySeed: Uint8Array; ckksSecretKey: Uint8Array },
  ): Promise<LocalUser> {
    const plan = planOf(options);
    const context = await CkksContext.create(plan.preset.id);
    const privateKey = await importPrivateKey(options.identitySeed, true);
    const publicKey = await derivePublicKey(privateKey);
    const secret = loadKey(context, 'secretKey', options.ckksSecretKey);
    return new LocalUser(
      options.userId,
      plan,
      context,
      { signer: { userId: options.userId, privateKey }, publicKey },
      secret,
    );
  }

  /** The raw Ed25519 public key that signs this user's requests. */
  get publicKey(): Uint8Array {
    return new Uint8Array(this.#publicKey);
  }

  /** The Ed25519 seed: only for the client's encrypted vault. */
  exportIdentitySeed(): Promise<Uint8Array> {
    return exportPrivateKey(this.#signer.privateKey);
  }

  /** setup(m): the public Ed25519 key and the evaluation keys this plan needs. */
  setup(now = Date.now()): Promise<Proposal> {
    const { plan } = this;
    return setupProposal(
      this.#signer,
      {
        modelId: plan.model.id,
        layout: plan.layout,
        presetId: plan.preset.id,
        publicKey: this.#publicKey,
        ...(plan.multiplications.ciphertext > 0 ? { relinKeys: this.#secret.saveRelinKeys() } : {}),
        ...(plan.galoisSteps.length > 0 ? { galoisKeys: this.#secret.saveGaloisKeys(plan.galoisSteps) } : {}),
      },
      now,
    );
  }

  /** One signed envelope holding the tuple of these readings. */
  async envelope(
    readings: readonly VitalReading[],
    profile: Profile = {},
    now = Date.now(),
  ): Promise<Uint8Array> {
    return this.sign(this.encrypt(readings, profile), { timestamp: now });
  }

  /** The tuple of these readings, encrypted (the ciphertexts of one upload). */
  encrypt(readings: readonly VitalReading[], profile: Profile = {}): Uint8Array[] {
    return encryptTuple(this.plan, this.#encryptor, tupleVectors(this.plan, readings, profile));
  }

  /** Signs ciphertexts into an envelope; `fields` overrides what the plan says (tests send wrong ones). */
  sign(
    ciphertexts: Uint8Array[],
    fields: Partial<Omit<Submission, 'ciphertexts'>> = {},
  ): Promise<Uint8Array> {
    const { plan } = this;
    return signSubmission(
      {
        userId: this.userId,
        modelId: plan.model.id,
        presetId: plan.preset.id,
        template: { id: plan.template.id, version: plan.template.version },
        nonce: freshNonce(),
        timestamp: Date.now(),
        ...fields,
        ciphertexts,
      },
      this.#signer.privateKey,
    );
  }

  /** POST /v1/users body: the setup request and the evaluation keys, CBOR. */
  async registration(now = Date.now(), enrolment?: string): Promise<Uint8Array> {
    const { args = [], transient = {} } = await this.setup(now);
    return encode({ setup: fromBase64(args[0] ?? ''), ...transient, ...(enrolment ? { enrolment } : {}) });
  }

  /** One item of a POST /v1/submissions body: the envelope and the request to issue Z for it. */
  async upload(
    readings: readonly VitalReading[],
    profile: Profile = {},
    now = Date.now(),
  ): Promise<SubmitItem> {
    return this.uploadOf(this.encrypt(readings, profile), now);
  }

  /** Signs encrypted readings into an envelope with its issue request (a fresh nonce for each). */
  async uploadOf(ciphertexts: Uint8Array[], now = Date.now()): Promise<SubmitItem> {
    const envelope = await this.sign(ciphertexts, { timestamp: now });
    const issue = await signRequest(
      {
        op: 'issue',
        userId: this.userId,
        nonce: freshNonce(),
        timestamp: now,
        params: { submissions: [submissionId(envelope)] },
      },
      this.#signer.privateKey,
    );
    return { envelope, issue };
  }

  /** The same ciphertexts signed again now: for an envelope the server never accepted and now never will. */
  resign(envelope: Uint8Array, now = Date.now()): Promise<SubmitItem> {
    return this.uploadOf(readSubmission(envelope).ciphertexts, now);
  }

  /** The Authorization header for one HTTP request (method, path with query, body). */
  authorization(method: string, path: string, body: Uint8Array = new Uint8Array(0)): Promise<string> {
    return httpAuthorization(this.#signer, method, path, body);
  }

  /** A diagnosis sealed to a clinician's X25519 key and signed: a shared item (docs/sharing.md). */
  sealForClinician(result: SharedResult, boxKey: Uint8Array): Promise<Uint8Array> {
    return sealItem(result, boxKey, this.#signer.privateKey);
  }

  receive(envelopes: readonly Uint8Array[]): Proposal {
    return receiveProposal(envelopes);
  }

  request(op: Exclude<RequestOp, 'setup'>, params: Params = {}, now = Date.now()): Promise<Proposal> {
    return requestProposal(this.#signer, op, params, now);
  }

  /** Q for one submission of an issued result (outputs of that submission, in plan order). */
  decrypt(issued: IssuedResult, submission = 0, readings = this.plan.readingsPerUpload): Outputs {
    const indices = issued.result.outputs.flatMap((o, i) => (o.submission === submission ? [i] : []));
    // A shared-Z plan's outputs all name one ciphertext: load it once.
    const z = (this.plan.sharedZ ? indices.slice(0, 1) : indices).map((i) =>
      loadCiphertext(this.context, outputBytes(issued, i)),
    );
    try {
      return decryptOutputs(this.plan, this.#decryptor, z, readings);
    } finally {
      for (const c of z) c.dispose();
    }
  }

  /** Decrypts one ciphertext (e.g. the output of add or mult): its first `slots` values. */
  decryptBytes(bytes: Uint8Array, slots = 1): number[] {
    const c = loadCiphertext(this.context, bytes);
    try {
      return Array.from(this.#decryptor.decrypt(c, slots));
    } finally {
      c.dispose();
    }
  }

  /** The CKKS secret key, serialized: only for the client's encrypted vault (and secrecy tests). */
  exportSecretKey(): Uint8Array {
    return this.#secret.save();
  }

  [Symbol.dispose](): void {
    for (const o of [this.#encryptor, this.#decryptor, this.#secret]) o.dispose();
  }
}
