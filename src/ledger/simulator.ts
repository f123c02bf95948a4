/**
 * Endorsement: runs one transaction of the contract through fabric-contract-api's own routing
 * (fabric-shim's ChaincodeFromContract: metadata, argument conversion, before/after hooks,
 * unknown-transaction handling) against a SimulationStub, and returns the transaction record.
 */
import '../contract/logging.ts';
import { createRequire } from 'node:module';
import { JSONSerializer } from 'fabric-contract-api';
import { removeFabricProcessHandlers } from '../contract/logging.ts';
import { type SimulationReader, SimulationStub, type StubInput } from './stub.ts';
import type { Response, TxRecord } from './transaction.ts';

const require = createRequire(import.meta.url);

interface ChaincodeResponse {
  status: number;
  message?: string;
  payload?: Uint8Array;
}

interface Chaincode {
  Invoke(stub: unknown): Promise<ChaincodeResponse>;
}

const ChaincodeFromContract = require('fabric-shim/lib/contract-spi/chaincodefromcontract.js') as new (
  contracts: unknown[],
  serializers: unknown,
  metadata: object,
  title: string,
  version: string,
) => Chaincode;
removeFabricProcessHandlers();
// The routing logs every refused transaction at "error"; the embedded peer returns the refusal to
// its caller instead, so only critical messages are printed unless the operator asks for more.
for (const logger of ['fabric-shim/lib/logger.js', 'fabric-contract-api/lib/logger.js']) {
  (require(logger) as { setLevel(level: string): void }).setLevel(
    process.env.PMHE_CONTRACT_LOG_LEVEL ?? 'CRITICAL',
  );
}

export type ContractClass = new () => object;

export class Simulator {
  readonly #chaincode: Chaincode;
  readonly chaincodeName: string;

  constructor(contracts: readonly ContractClass[], chaincodeName: string, version = '1') {
    this.chaincodeName = chaincodeName;
    // The serializers fabric-chaincode-node's bootstrap uses by default.
    const serializers = { transaction: 'jsonSerializer', serializers: { jsonSerializer: JSONSerializer } };
    this.#chaincode = new ChaincodeFromContract([...contracts], serializers, {}, chaincodeName, version);
    removeFabricProcessHandlers();
  }

  async simulate(input: StubInput, reader: SimulationReader): Promise<TxRecord> {
    const stub = new SimulationStub(input, reader);
    let response: Response;
    try {
      const r = await this.#chaincode.Invoke(stub.asChaincodeStub());
      response = {
        status: r.status,
        message: r.message ?? '',
        payload: r.payload ? new Uint8Array(r.payload) : new Uint8Array(0),
      };
    } catch (error) {
      // The routing catches the contract's errors; this is a failure of the routing itself.
      response = { status: 500, message: (error as Error).message, payload: new Uint8Array(0) };
    }
    return {
      txId: input.txId,
      channel: input.channel,
      chaincode: this.chaincodeName,
      creator: input.creator,
      timestamp: input.timestamp,
      function: input.fn,
      args: [...input.args],
      rwset: stub.readWriteSet(),
      event: stub.event,
      response,
    };
  }
}
