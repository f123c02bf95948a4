/**
 * The test vectors of docs/protocol.md, built from fixed inputs with the project's own functions
 * (Ed25519 is deterministic, and so is canonical CBOR): a signed setup request, a fake ciphertext
 * file (PMHC header), an envelope and its submission id, an issue request, the bodies of
 * POST /v1/users and POST /v1/submissions, and Authorization headers for fixed HTTP requests.
 *
 *   node_modules/.bin/node --import tsx scripts/protocol-vectors.ts   # prints the Markdown blocks
 *
 * test/conformance/vectors.test.ts recomputes them and compares them with the document.
 */
import { fileURLToPath } from 'node:url';
import { encode } from 'cborg';
import { FLAG_SEEDED, wrap } from '../src/ckks/format.ts';
import { getPreset } from '../src/ckks/presets.ts';
import { submissionId } from '../src/ledger/contract-client.ts';
import { AUTH_SCHEME } from '../src/protocol/api.ts';
import { fromHex, sha256Hex, toBase64, toHex } from '../src/protocol/bytes.ts';
import { encodeSubmission, type Submission, signSubmission } from '../src/protocol/envelope.ts';
import { derivePublicKey, importPrivateKey } from '../src/protocol/identity.ts';
import { encodeRequest, type Request, signRequest } from '../src/protocol/request.ts';

/** The fixed inputs, as docs/protocol.md lists them. */
export const VECTOR_INPUTS = Object.freeze({
  /** RFC 8032 §7.1 TEST 1 secret key: anyone can check their Ed25519 against the RFC first. */
  seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
  userId: 'alice',
  /** 2026-01-01T00:00:00.000Z */
  timestamp: 1767225600000,
  setupNonce: '000102030405060708090a0b0c0d0e0f',
  envelopeNonce: '101112131415161718191a1b1c1d1e1f',
  issueNonce: '202122232425262728292a2b2c2d2e2f',
  httpPostNonce: '303132333435363738393a3b3c3d3e3f',
  httpGetNonce: '404142434445464748494a4b4c4d4e4f',
  /** A stand-in for a Galois key file: the ASCII bytes "galois". */
  galoisKeys: '67616c6f6973',
  /** A stand-in for SEAL's payload inside the fake ciphertext file: bytes 0x00 … 0x0f. */
  fakePayload: '000102030405060708090a0b0c0d0e0f',
  getPath: '/v1/results?limit=10',
});

export interface Vector {
  name: string;
  /** hex for bytes, text for the Authorization headers and ids. */
  kind: 'hex' | 'text';
  value: string;
  what: string;
}

export async function computeVectors(): Promise<Vector[]> {
  const I = VECTOR_INPUTS;
  const privateKey = await importPrivateKey(fromHex(I.seed), true);
  const publicKey = await derivePublicKey(privateKey);
  const galoisKeys = fromHex(I.galoisKeys);

  const setup: Request = {
    op: 'setup',
    userId: I.userId,
    nonce: fromHex(I.setupNonce),
    timestamp: I.timestamp,
    params: {
      modelId: 'early-warning',
      layout: 'packed',
      presetId: 'secure-4096',
      publicKey,
      galoisKeys: sha256Hex(galoisKeys),
    },
  };
  const signedSetup = await signRequest(setup, privateKey);

  const ciphertext = wrap('ciphertext', getPreset('secure-4096'), fromHex(I.fakePayload), FLAG_SEEDED);
  const submission: Submission = {
    userId: I.userId,
    template: { id: 'early-warning-packed', version: 1 },
    modelId: 'early-warning',
    presetId: 'secure-4096',
    nonce: fromHex(I.envelopeNonce),
    timestamp: I.timestamp,
    ciphertexts: [ciphertext],
  };
  const envelope = await signSubmission(submission, privateKey);
  const id = submissionId(envelope);

  const issue = await signRequest(
    {
      op: 'issue',
      userId: I.userId,
      nonce: fromHex(I.issueNonce),
      timestamp: I.timestamp,
      params: { submissions: [id] },
    },
    privateKey,
  );

  // The bodies as the project's client sends them (LocalUser.registration, ApiClient.submit).
  const registerBody = encode({ setup: signedSetup, galoisKeys });
  const submitBody = encode([{ envelope, issue }]);

  const authorization = async (method: string, path: string, body: Uint8Array, nonce: string) =>
    `${AUTH_SCHEME} ${toBase64(
      await signRequest(
        {
          op: 'http',
          userId: I.userId,
          nonce: fromHex(nonce),
          timestamp: I.timestamp,
          params: { method, path, body: sha256Hex(body) },
        },
        privateKey,
      ),
    )}`;

  return [
    { name: 'public-key', kind: 'hex', value: toHex(publicKey), what: 'Ed25519 public key of the seed' },
    {
      name: 'setup-request',
      kind: 'hex',
      value: toHex(encodeRequest(setup)),
      what: 'the request map of the setup (the bytes signed)',
    },
    { name: 'setup-signed', kind: 'hex', value: toHex(signedSetup), what: 'the signed setup request' },
    {
      name: 'ciphertext-file',
      kind: 'hex',
      value: toHex(ciphertext),
      what: 'a PMHC ciphertext file around the fake payload (seeded flag set)',
    },
    {
      name: 'submission',
      kind: 'hex',
      value: toHex(encodeSubmission(submission)),
      what: 'the submission map (the bytes signed)',
    },
    { name: 'envelope', kind: 'hex', value: toHex(envelope), what: 'the envelope' },
    { name: 'submission-id', kind: 'text', value: id, what: 'SHA-256 of the envelope, lowercase hex' },
    { name: 'issue-signed', kind: 'hex', value: toHex(issue), what: 'the signed issue request for it' },
    {
      name: 'register-body',
      kind: 'hex',
      value: toHex(registerBody),
      what: 'a POST /v1/users body carrying the setup and the stand-in Galois keys',
    },
    {
      name: 'submit-body',
      kind: 'hex',
      value: toHex(submitBody),
      what: 'a POST /v1/submissions body carrying the envelope and its issue request',
    },
    {
      name: 'authorization-post',
      kind: 'text',
      value: await authorization('POST', '/v1/submissions', submitBody, I.httpPostNonce),
      what: 'Authorization for POST /v1/submissions with the body above',
    },
    {
      name: 'authorization-get',
      kind: 'text',
      value: await authorization('GET', I.getPath, new Uint8Array(0), I.httpGetNonce),
      what: `Authorization for GET ${I.getPath} (empty body)`,
    },
  ];
}

/** A vector as the document shows it: a fenced block named after it, hex wrapped at 64 digits. */
export function markdownBlock(vector: Vector): string {
  const body = vector.kind === 'hex' ? (vector.value.match(/.{1,64}/g) ?? ['']).join('\n') : vector.value;
  return `\`\`\`${vector.kind} ${vector.name}\n${body}\n\`\`\``;
}

/** The vectors named in a Markdown document (blocks opened with "```hex <name>" or "```text <name>"). */
export function parseVectorBlocks(markdown: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const m of markdown.matchAll(/^```(hex|text) ([a-z0-9-]+)\n([\s\S]*?)\n```$/gm)) {
    const [, kind, name, body] = m as unknown as [string, string, string, string];
    found.set(name, kind === 'hex' ? body.replace(/\s+/g, '') : body);
  }
  return found;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const vector of await computeVectors()) {
    console.log(`${vector.what} (${vector.kind === 'hex' ? `${vector.value.length / 2} bytes` : 'text'}):\n`);
    console.log(`${markdownBlock(vector)}\n`);
  }
}
