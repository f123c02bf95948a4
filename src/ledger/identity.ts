/**
 * The embedded peer's submitting identity: on Fabric the server submits with its organisation's
 * X.509 identity, and the contract API parses it (ClientIdentity) for every transaction. The
 * embedded peer makes a self-signed ECDSA P-256 certificate once per ledger and keeps only the
 * certificate: it signs nothing, so the private key is dropped at once.
 */
import { webcrypto } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { ioError } from './errors.ts';
import type { Creator } from './transaction.ts';

export const DEFAULT_MSP_ID = 'PmheEmbeddedMSP';
const CERT_FILE = 'identity.pem';

export async function loadOrCreateCreator(dir: string, mspid = DEFAULT_MSP_ID): Promise<Creator> {
  const path = join(dir, CERT_FILE);
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot read ${path}`, error);
    pem = await selfSigned();
    try {
      await writeFile(path, pem, { flag: 'wx' });
    } catch (cause) {
      throw ioError(`cannot write ${path}`, cause);
    }
  }
  return { mspid, idBytes: new TextEncoder().encode(pem) };
}

async function selfSigned(): Promise<string> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, false, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString('hex'),
      name: 'CN=pmhe-embedded-peer, O=PMHE',
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 100 * 365 * 24 * 3600 * 1000),
      keys,
      signingAlgorithm: algorithm,
    },
    webcrypto as unknown as Crypto,
  );
  return cert.toString('pem');
}
