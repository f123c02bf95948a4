/**
 * The connection file that points the server at a Fabric network: which peer's Gateway service
 * to call, how to trust its TLS certificate, which identity signs, and which channel and
 * chaincode to use. JSON, checked against a TypeBox schema; paths are relative to the file.
 *
 * Example (Fabric's test network, file in the test-network folder):
 *
 *   {
 *     "peer": {
 *       "endpoint": "localhost:7051",
 *       "tlsCaCertPath": "organizations/peerOrganizations/org1.example.com/peers/peer0.org1.example.com/tls/ca.crt",
 *       "hostnameOverride": "peer0.org1.example.com"
 *     },
 *     "identity": {
 *       "mspId": "Org1MSP",
 *       "certPath": "organizations/peerOrganizations/org1.example.com/users/User1@org1.example.com/msp/signcerts",
 *       "keyPath": "organizations/peerOrganizations/org1.example.com/users/User1@org1.example.com/msp/keystore"
 *     },
 *     "channel": "mychannel",
 *     "chaincode": "pmhe"
 *   }
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { LedgerError } from '../errors.ts';

/** Fabric peers accept 100 MiB messages by default; gRPC clients only 4 MiB, too little for results. */
export const DEFAULT_MAX_MESSAGE_BYTES = 100 * 1024 * 1024;

/**
 * Call deadlines. Endorsement allows for two organisations endorsing one after the other within
 * Fabric's 30 s chaincode execute timeout; the commit wait covers BatchTimeout with a wide margin.
 */
export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = Object.freeze({
  evaluateMs: 30_000,
  endorseMs: 65_000,
  submitMs: 10_000,
  commitStatusMs: 60_000,
});

const Endpoint = Type.String({
  pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):[0-9]{1,5}$',
  description: 'host:port of a peer running the Gateway service',
});
const Path = Type.String({ minLength: 1, description: 'relative to the connection file' });
const Millis = Type.Integer({ minimum: 1, maximum: 3_600_000 });

export const TimeoutsSchema = Type.Object(
  {
    evaluateMs: Type.Optional(Millis),
    endorseMs: Type.Optional(Millis),
    submitMs: Type.Optional(Millis),
    commitStatusMs: Type.Optional(Millis),
  },
  { additionalProperties: false },
);

export const ConnectionFileSchema = Type.Object(
  {
    peer: Type.Object(
      {
        endpoint: Endpoint,
        /** PEM of the CA that signed the peer's TLS certificate (TLS is always on). */
        tlsCaCertPath: Path,
        /** Name to check the peer's certificate against when the endpoint differs (ssl target name). */
        hostnameOverride: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
      },
      { additionalProperties: false },
    ),
    identity: Type.Object(
      {
        mspId: Type.String({ minLength: 1, maxLength: 128 }),
        /** PEM X.509 certificate, or a folder holding exactly one (an MSP's signcerts). */
        certPath: Path,
        /** PEM private key, or a folder holding exactly one (an MSP's keystore). */
        keyPath: Path,
      },
      { additionalProperties: false },
    ),
    channel: Type.String({ pattern: '^[a-z][a-z0-9.-]*$', maxLength: 249 }),
    chaincode: Type.String({ pattern: '^[A-Za-z0-9]+([A-Za-z0-9_-]*[A-Za-z0-9])?$', maxLength: 255 }),
    timeouts: Type.Optional(TimeoutsSchema),
    /** gRPC send and receive limit; keep at or below the peer's own (100 MiB by default). */
    maxMessageBytes: Type.Optional(Type.Integer({ minimum: 4 * 1024 * 1024, maximum: 2 ** 31 - 1 })),
    /** Organisations to endorse with, in parallel, instead of the gateway's sequential choice. */
    endorsingOrganizations: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, uniqueItems: true }),
    ),
  },
  { additionalProperties: false },
);

export type ConnectionFile = Static<typeof ConnectionFileSchema>;
export type Timeouts = Required<Static<typeof TimeoutsSchema>>;

/** A connection file with its files read and checked: what FabricLedger.connect needs. */
export interface FabricConnectionConfig {
  peerEndpoint: string;
  /** PEM bytes of the TLS CA certificate. */
  tlsCaCert: Uint8Array;
  hostnameOverride?: string;
  mspId: string;
  /** PEM bytes of the identity's X.509 certificate. */
  certificate: Uint8Array;
  privateKey: KeyObject;
  channel: string;
  chaincode: string;
  timeouts: Timeouts;
  maxMessageBytes: number;
  endorsingOrganizations?: string[];
  /** Where it came from, for messages. */
  source: string;
}

const validator = TypeCompiler.Compile(ConnectionFileSchema);

function bad(file: string, field: string, message: string, cause?: unknown): LedgerError {
  return new LedgerError('BAD_ARGUMENT', `connection file ${file}: ${field}: ${message}`, { cause });
}

/** Checks parsed JSON against the schema; throws BAD_ARGUMENT naming the file and the first bad field. */
export function parseConnectionFile(input: unknown, file: string): ConnectionFile {
  if (validator.Check(input)) {
    const port = Number(input.peer.endpoint.slice(input.peer.endpoint.lastIndexOf(':') + 1));
    if (port < 1 || port > 65535) throw bad(file, 'peer.endpoint', `port ${port} is out of range`);
    return input;
  }
  const first = validator.Errors(input).First();
  // "/peer/tlsCaCertPath" reads better as "peer.tlsCaCertPath".
  const field = (first?.path ?? '').replace(/^\//, '').replaceAll('/', '.') || '(top level)';
  let message = first?.message ?? 'invalid';
  if (field === 'peer.endpoint' && first?.value !== undefined) {
    message = 'must be host:port, e.g. "localhost:7051"';
  } else if (message.startsWith('Expected required property')) message = 'is required';
  else if (message.startsWith('Unexpected property')) message = 'is not a known field';
  throw bad(file, field, message);
}

/**
 * Resolves a path that names a file or a folder holding exactly one file: Fabric's MSP folders
 * (signcerts, keystore) hold one file whose name is a hash.
 */
async function readOneFile(file: string, base: string, field: string, path: string): Promise<Uint8Array> {
  const full = resolve(base, path);
  try {
    const info = await stat(full);
    if (!info.isDirectory()) return await readFile(full);
    const entries = (await readdir(full, { withFileTypes: true })).filter((e) => e.isFile());
    const [only] = entries;
    if (entries.length !== 1 || only === undefined) {
      throw bad(file, field, `folder ${full} must hold exactly one file, it holds ${entries.length}`);
    }
    return await readFile(resolve(full, only.name));
  } catch (error) {
    if (error instanceof LedgerError) throw error;
    const detail = error instanceof Error ? error.message : String(error);
    throw bad(file, field, `cannot read ${full}: ${detail}`, error);
  }
}

function parseCertificate(file: string, field: string, pem: Uint8Array): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw bad(file, field, 'is not a PEM X.509 certificate', error);
  }
}

/** Reads, checks and resolves a connection file, including the certificates and key it names. */
export async function loadConnectionFile(path: string): Promise<FabricConnectionConfig> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new LedgerError('BAD_ARGUMENT', `connection file ${file}: cannot read: ${detail}`, {
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new LedgerError('BAD_ARGUMENT', `connection file ${file}: not valid JSON: ${detail}`, {
      cause: error,
    });
  }
  return resolveConnectionFile(parseConnectionFile(json, file), file);
}

/** Reads the files a checked connection file names, relative to `file`'s folder. */
export async function resolveConnectionFile(
  connection: ConnectionFile,
  file: string,
): Promise<FabricConnectionConfig> {
  const base = dirname(resolve(file));
  const [tlsCaCert, certificate, keyPem] = await Promise.all([
    readOneFile(file, base, 'peer.tlsCaCertPath', connection.peer.tlsCaCertPath),
    readOneFile(file, base, 'identity.certPath', connection.identity.certPath),
    readOneFile(file, base, 'identity.keyPath', connection.identity.keyPath),
  ]);
  parseCertificate(file, 'peer.tlsCaCertPath', tlsCaCert);
  const x509 = parseCertificate(file, 'identity.certPath', certificate);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: Buffer.from(keyPem), format: 'pem' });
  } catch (error) {
    throw bad(file, 'identity.keyPath', 'is not a PEM private key', error);
  }
  // The gateway signs with whatever key it is given; a mismatch only shows up as the peer's
  // "creator signature invalid", so catch it here with the field names.
  if (!x509.checkPrivateKey(privateKey)) {
    throw bad(file, 'identity.keyPath', 'does not match the public key in identity.certPath');
  }
  const config: FabricConnectionConfig = {
    peerEndpoint: connection.peer.endpoint,
    tlsCaCert,
    mspId: connection.identity.mspId,
    certificate,
    privateKey,
    channel: connection.channel,
    chaincode: connection.chaincode,
    timeouts: { ...DEFAULT_TIMEOUTS, ...connection.timeouts },
    maxMessageBytes: connection.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    source: resolve(file),
  };
  if (connection.peer.hostnameOverride !== undefined) {
    config.hostnameOverride = connection.peer.hostnameOverride;
  }
  if (connection.endorsingOrganizations !== undefined) {
    config.endorsingOrganizations = [...connection.endorsingOrganizations];
  }
  return config;
}
