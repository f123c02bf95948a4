/**
 * A readiness probe through an organisation's peer Gateway, as the server will call it: a
 * proposal endorsed by both organisations (never submitted). Right after start-up the gateway
 * cannot yet find the other organisation's peer ("failed to find any endorsing peers for org(s)")
 * until gossip has connected the peers; fabric:up waits for this probe to pass.
 */
import { createPrivateKey } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { connect, signers } from '@hyperledger/fabric-gateway';
import { CHAINCODE, CHANNEL, HOST, ORGS, type Org, org } from './config.ts';

const oneFile = (dir: string) => {
  const [name] = readdirSync(dir);
  if (!name) throw new Error(`${dir} is empty`);
  return readFileSync(join(dir, name));
};

/** Endorses org.hyperledger.fabric:GetMetadata on every organisation through `n`'s gateway. */
export async function probeGateway(n: Org): Promise<void> {
  const o = org(n);
  const client = new grpc.Client(
    `${HOST}:${o.ports.listen}`,
    grpc.credentials.createSsl(readFileSync(o.peerTlsCa)),
    { 'grpc.ssl_target_name_override': o.peerName },
  );
  const gateway = connect({
    client,
    identity: { mspId: o.mspId, credentials: oneFile(join(o.userMsp, 'signcerts')) },
    signer: signers.newPrivateKeySigner(createPrivateKey(oneFile(join(o.userMsp, 'keystore')))),
    endorseOptions: () => ({ deadline: Date.now() + 10_000 }),
  });
  try {
    const contract = gateway.getNetwork(CHANNEL).getContract(CHAINCODE);
    const proposal = contract.newProposal('org.hyperledger.fabric:GetMetadata', {
      endorsingOrganizations: ORGS.map((m) => org(m).mspId),
    });
    await proposal.endorse();
  } finally {
    gateway.close();
    client.close();
  }
}

/** The deepest message of a gateway error (its details name the organisation and peer). */
export function gatewayErrorMessage(error: unknown): string {
  const e = error as { message?: string; details?: { message?: string }[] };
  const details = (e.details ?? []).map((d) => d.message).filter(Boolean);
  return [e.message ?? String(error), ...details].join('; ');
}
