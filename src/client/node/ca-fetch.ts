/**
 * fetch that trusts a given certificate authority (PEM), for a server whose certificate is not
 * signed by one of Node's built-in roots: a hospital's own CA, or a test's. Browsers use the
 * system's trust store instead; this is the Node client's (the CLI's `--ca-file`).
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Agent, fetch as undiciFetch } from 'undici';

export function fetchTrusting(caFile: string): typeof fetch {
  let ca: string;
  try {
    ca = readFileSync(caFile, 'utf8');
  } catch (error) {
    throw new Error(`CA file ${caFile}: ${(error as Error).message}`);
  }
  if (!ca.includes('-----BEGIN CERTIFICATE-----'))
    throw new Error(`CA file ${caFile}: no PEM certificate in it`);
  // Node's built-in roots stay trusted: the CA is added to them, not put in their place.
  const dispatcher = new Agent({ connect: { ca: [...rootCertificates, ca] } });
  return ((input: Parameters<typeof fetch>[0], init?: RequestInit) =>
    undiciFetch(input as never, { ...(init as object), dispatcher } as never)) as unknown as typeof fetch;
}
