/**
 * A shared item (docs/sharing.md): one finished diagnosis a person shares with a clinician,
 * sealed to the clinician's X25519 key with HPKE (RFC 9180, mode base: DHKEM(X25519,
 * HKDF-SHA256), HKDF-SHA256, AES-256-GCM) and signed with the person's Ed25519 key. The server
 * stores it and cannot open it; the ledger records its SHA-256 under the grant.
 *
 * Item (the signed bytes), a canonical CBOR map:
 *   "v" 1, "userId", "clinicianId", "resultId", "modelId" text, "sharedAt" uint (ms),
 *   "enc" bytes (32: the HPKE encapsulated key), "ct" bytes (the sealed SharedResult, JSON)
 * Signed item: a canonical CBOR map { "v": 1, "signature": bytes (64), "item": bytes }.
 *
 * The header (every field but enc and ct) is the AEAD's associated data: an item moved to another
 * clinician, result or person fails to open, as well as failing the signature and the ledger's hash.
 */
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { sha256Hex } from './bytes.ts';
import { decodeStrict, encodeCanonical, equalBytes } from './canonical-cbor.ts';
import type { PublicKeyInput } from './envelope.ts';
import { ProtocolError } from './errors.ts';
import {
  asBytes,
  asMap,
  asText,
  asUint,
  checkId,
  checkKeys,
  checkVersion,
  FORMAT_VERSION,
} from './fields.ts';
import { sign, verify } from './identity.ts';
import { openSignedMap } from './request.ts';

export const SHARE_INFO = new TextEncoder().encode('pmhe share v1');
export const BOX_KEY_BYTES = 32;
/** A diagnosis is a few kilobytes: anything larger is not an item. */
export const MAX_ITEM_BYTES = 64 * 1024;

/** The one HPKE suite: X25519, HKDF-SHA256, AES-256-GCM (WebCrypto in Node 22 and browsers). */
export const hpke = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm(),
});

const DiagnosisSchema = Type.Object({
  model: Type.String(),
  label: Type.String(),
  level: Type.Union([
    Type.Literal('normal'),
    Type.Literal('low'),
    Type.Literal('low-medium'),
    Type.Literal('medium'),
    Type.Literal('high'),
    Type.Literal('critical'),
  ]),
  borderline: Type.Boolean(),
  candidates: Type.Optional(Type.Array(Type.String())),
  interpretation: Type.Optional(
    Type.Union([
      Type.Literal('normal'),
      Type.Literal('abnormal'),
      Type.Literal('high'),
      Type.Literal('low'),
      Type.Literal('critical'),
    ]),
  ),
  findings: Type.Array(Type.String()),
});

/** What the clinician reads: the finished diagnosis, never the readings or a key. */
export const SharedResultSchema = Type.Object(
  {
    v: Type.Literal(1),
    userId: Type.String(),
    clinicianId: Type.String(),
    resultId: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    /** The ledger transaction and block of the evaluation (the result id is its transaction id). */
    txId: Type.String(),
    blockNumber: Type.Integer({ minimum: 0 }),
    submissionId: Type.String(),
    modelId: Type.String(),
    layout: Type.Union([Type.Literal('paper'), Type.Literal('packed'), Type.Literal('batch')]),
    /** When the (last) reading was taken, ms; for a result rebuilt after a restore, its evaluation. */
    readAt: Type.Number(),
    /** The evaluation's ledger time, ms. */
    recordedAt: Type.Number(),
    /** The model's finished values, as the criteria read them. */
    values: Type.Record(Type.String(), Type.Number()),
    diagnosis: DiagnosisSchema,
    /** What the guideline calls for, and which guideline. */
    guidance: Type.Optional(Type.Object({ text: Type.String(), source: Type.String() })),
  },
  { additionalProperties: false },
);
export type SharedResult = Static<typeof SharedResultSchema>;

export interface ItemHeader {
  userId: string;
  clinicianId: string;
  resultId: string;
  modelId: string;
  sharedAt: number;
}

const ITEM_KEYS = ['v', 'userId', 'clinicianId', 'resultId', 'modelId', 'sharedAt', 'enc', 'ct'] as const;

const aad = (h: ItemHeader): Uint8Array =>
  encodeCanonical({
    v: FORMAT_VERSION,
    userId: h.userId,
    clinicianId: h.clinicianId,
    resultId: h.resultId,
    modelId: h.modelId,
    sharedAt: h.sharedAt,
  });

/** The signed item, sealed to `boxKey` (the clinician's raw X25519 key the person granted). */
export async function sealItem(
  result: SharedResult,
  boxKey: Uint8Array,
  personKey: CryptoKey,
  sharedAt = Date.now(),
): Promise<Uint8Array> {
  if (!Value.Check(SharedResultSchema, result)) {
    const first = Value.Errors(SharedResultSchema, result).First();
    throw new ProtocolError('BAD_FIELD', `shared result${first?.path ?? ''}: ${first?.message}`);
  }
  if (!(boxKey instanceof Uint8Array) || boxKey.length !== BOX_KEY_BYTES) {
    throw new ProtocolError('BAD_FIELD', `boxKey: expected ${BOX_KEY_BYTES} bytes`);
  }
  const header: ItemHeader = {
    userId: result.userId,
    clinicianId: result.clinicianId,
    resultId: result.resultId,
    modelId: result.modelId,
    sharedAt,
  };
  for (const id of ['userId', 'clinicianId'] as const) checkId(header[id], id);
  const recipientPublicKey = await hpke.kem.deserializePublicKey(copy(boxKey));
  const plaintext = new TextEncoder().encode(JSON.stringify(result));
  const sealed = await hpke.seal(
    { recipientPublicKey, info: copy(SHARE_INFO) },
    copy(plaintext),
    copy(aad(header)),
  );
  const item = encodeCanonical({
    v: FORMAT_VERSION,
    ...header,
    enc: new Uint8Array(sealed.enc),
    ct: new Uint8Array(sealed.ct),
  });
  return encodeCanonical({ v: FORMAT_VERSION, signature: await sign(personKey, item), item });
}

/** The SHA-256 the ledger records for an item, hex. */
export const itemHash = (signed: Uint8Array): string => sha256Hex(signed);

interface Parsed {
  header: ItemHeader;
  enc: Uint8Array;
  ct: Uint8Array;
  signature: Uint8Array;
  item: Uint8Array;
}

/** What an item claims, unverified: for the server (which checks it against the share request). */
export function peekItem(signed: Uint8Array): ItemHeader {
  return parse(signed).header;
}

/** Checks the person's signature; BAD_SIGNATURE names the person when it does not verify. */
export async function verifyItem(signed: Uint8Array, personKey: PublicKeyInput): Promise<ItemHeader> {
  const p = parse(signed);
  if (!(await verify(personKey, p.signature, p.item))) {
    throw new ProtocolError(
      'BAD_SIGNATURE',
      `item: the signature does not verify for person "${p.header.userId}"`,
    );
  }
  return p.header;
}

/**
 * Opens an item for clinician `clinicianId`: the signature must be the person's, the item must be
 * addressed to this clinician, HPKE must open it under the header, and the result inside must
 * say what the header says. Any failure is a ProtocolError naming it; nothing is returned unchecked.
 */
export async function openItem(
  signed: Uint8Array,
  options: { personKey: PublicKeyInput; clinicianId: string; boxPrivateKey: CryptoKey },
): Promise<SharedResult> {
  const header = await verifyItem(signed, options.personKey);
  if (header.clinicianId !== options.clinicianId) {
    throw new ProtocolError(
      'BAD_FIELD',
      `item: sealed for clinician "${header.clinicianId}", not for "${options.clinicianId}"`,
    );
  }
  const { enc, ct } = parse(signed);
  let plaintext: ArrayBuffer;
  try {
    plaintext = await hpke.open(
      { recipientKey: options.boxPrivateKey, enc: copy(enc), info: copy(SHARE_INFO) },
      copy(ct),
      copy(aad(header)),
    );
  } catch (error) {
    throw new ProtocolError(
      'BAD_SIGNATURE',
      `item: does not open with this clinician's key (${(error as Error).message})`,
    );
  }
  let result: unknown;
  try {
    result = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plaintext));
  } catch {
    throw new ProtocolError('MALFORMED', 'item: the sealed result is not JSON');
  }
  if (!Value.Check(SharedResultSchema, result)) {
    const first = Value.Errors(SharedResultSchema, result).First();
    throw new ProtocolError('BAD_FIELD', `item: the shared result${first?.path ?? ''}: ${first?.message}`);
  }
  for (const k of ['userId', 'clinicianId', 'resultId', 'modelId'] as const) {
    if (result[k] !== header[k]) {
      throw new ProtocolError(
        'BAD_FIELD',
        `item: the sealed ${k} "${result[k]}" differs from the header's "${header[k]}"`,
      );
    }
  }
  return result;
}

function parse(signed: Uint8Array): Parsed {
  const { signature, payload: item } = openSignedMap(signed, 'item', MAX_ITEM_BYTES);
  // One encoding per item: its hash is what the ledger records.
  if (!equalBytes(encodeCanonical({ v: FORMAT_VERSION, signature, item }), signed)) {
    throw new ProtocolError('NOT_CANONICAL', 'signed item: bytes differ from the canonical encoding');
  }
  const map = asMap(decodeStrict(item, 'item'), 'item');
  checkVersion(map, 'item', 'v');
  checkKeys(map, ITEM_KEYS, 'item', '');
  const header: ItemHeader = {
    userId: asText(map.get('userId'), 'userId'),
    clinicianId: asText(map.get('clinicianId'), 'clinicianId'),
    resultId: asText(map.get('resultId'), 'resultId'),
    modelId: asText(map.get('modelId'), 'modelId'),
    sharedAt: asUint(map.get('sharedAt'), 'sharedAt'),
  };
  const enc = asBytes(map.get('enc'), 'enc');
  const ct = asBytes(map.get('ct'), 'ct');
  const again = encodeCanonical({ v: FORMAT_VERSION, ...header, enc, ct });
  if (!equalBytes(again, item))
    throw new ProtocolError('NOT_CANONICAL', 'item: bytes differ from the canonical encoding');
  return { header, enc, ct, signature, item };
}

/** HPKE takes ArrayBuffers: a copy, so a view into a larger buffer is never read past its end. */
function copy(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer;
}

/** A clinician's X25519 key pair from its 32-byte seed (kept in their vault). */
export async function boxKeyPair(
  seed: Uint8Array,
): Promise<{ publicKey: Uint8Array; privateKey: CryptoKey }> {
  if (seed.length !== BOX_KEY_BYTES)
    throw new ProtocolError('BAD_FIELD', `box seed: expected ${BOX_KEY_BYTES} bytes`);
  const pair = await hpke.kem.deriveKeyPair(copy(seed));
  return {
    publicKey: new Uint8Array(await hpke.kem.serializePublicKey(pair.publicKey)),
    privateKey: pair.privateKey,
  };
}

/** A short, readable fingerprint of a clinician's keys, for checking out of band ("ab12 cd34 …"). */
export function fingerprint(boxKey: Uint8Array): string {
  return (sha256Hex(boxKey).slice(0, 20).match(/..../g) ?? []).join(' ');
}
