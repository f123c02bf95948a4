/**
 * The Ledger interface over a Hyperledger Fabric 2.5 network, through a peer's Gateway service
 * (@hyperledger/fabric-gateway on @grpc/grpc-js). Transactions are endorsed, ordered and
 * awaited until committed; blocks and transactions are read with the query system chaincode
 * (qscc); events come from the gateway's chaincode event stream.
 *
 * Nothing here is specific to the contract: FabricLedger calls whatever chaincode the
 * connection file names, with string arguments and a transient map, as ledger.ts prescribes.
 */
import * as grpc from '@grpc/grpc-js';
import {
  type CloseableAsyncIterable,
  type Contract,
  connect,
  type Gateway,
  GatewayError,
  type ChaincodeEvent as GatewayEvent,
  hash,
  type Network,
  type ProposalOptions,
  StatusCode,
  signers,
} from '@hyperledger/fabric-gateway';
import { LedgerError } from '../errors.ts';
import type {
  BlockInfo,
  ChaincodeEvent,
  Committed,
  EventOptions,
  Ledger,
  Prepared,
  Proposal,
  TransactionInfo,
} from '../ledger.ts';
import { type FabricConnectionConfig, loadConnectionFile } from './connection.ts';
import {
  computeDataHash,
  decodeBlock,
  decodeChainHeight,
  GET_BLOCK_BY_NUMBER,
  GET_BLOCK_BY_TX_ID,
  GET_CHAIN_INFO,
  QSCC,
} from './qscc.ts';

/** Fabric TxValidationCode number → name, for messages. */
const CODE_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(StatusCode).map(([name, code]) => [code, name]),
);

/** Where a call failed: decides what an unrecognised gateway error means. */
export type FabricPhase = 'endorse' | 'submit' | 'commit' | 'evaluate' | 'events' | 'query';

/**
 * The gateway reports a contract's refusal as an error detail per endorser, worded
 * "chaincode response <status>, <message>" (fabric internal/pkg/gateway/apiutils.go
 * responseStatus), with the endorser's MSP id.
 */
const CHAINCODE_RESPONSE = /chaincode response \d+, ([\s\S]*)$/;

interface Refusal {
  message: string;
  /** The organisation whose peer's chaincode refused, when the gateway named it. */
  mspId: string | undefined;
}

function chaincodeRefusals(error: GatewayError): Refusal[] {
  const found: Refusal[] = [];
  for (const detail of error.details) {
    const match = CHAINCODE_RESPONSE.exec(detail.message);
    if (match) found.push({ message: match[1] as string, mspId: detail.mspId || undefined });
  }
  const top = CHAINCODE_RESPONSE.exec(error.message)?.[1];
  if (found.length === 0 && top !== undefined) found.push({ message: top, mspId: undefined });
  return found;
}

function describe(error: GatewayError): string {
  const details = error.details.map((d) => `${d.mspId || '?'} ${d.address || '?'}: ${d.message}`);
  return details.length === 0 ? error.message : `${error.message} (${details.join('; ')})`;
}

/**
 * Maps a failure of the gateway client to a LedgerError. Only the contract's refusal on the
 * gateway's own organisation (`ownMspId`) is ENDORSEMENT, with the contract's own message: that
 * peer has committed what the gateway reported committed, so the refusal is the contract's
 * answer. A refusal by another organisation alone, or endorsements that do not match (gRPC
 * ABORTED with no chaincode message: ProposalResponsePayloads differ, or a chaincode server
 * could not be reached), is MISMATCH. An unreachable peer, or discovery not settled yet, is
 * UNAVAILABLE; a message over the gRPC size limit is BAD_ARGUMENT. MISMATCH and UNAVAILABLE are
 * worth retrying.
 */
export function toLedgerError(
  error: unknown,
  phase: FabricPhase,
  txId?: string,
  ownMspId?: string,
): LedgerError {
  if (error instanceof LedgerError) return error;
  const options = txId === undefined ? { cause: error } : { cause: error, txId };
  const tx = txId === undefined ? '' : ` of transaction ${txId}`;
  if (!(error instanceof GatewayError)) {
    // Not a gRPC status: the peer's answer could not be parsed (or a bug); the call may be retried.
    const detail = error instanceof Error ? error.message : String(error);
    return new LedgerError('UNAVAILABLE', `Fabric ${phase}${tx} failed: ${detail}`, options);
  }
  const what = describe(error);
  const refusals = phase === 'submit' || phase === 'commit' ? [] : chaincodeRefusals(error);
  const own = refusals.find((r) => r.mspId === undefined || ownMspId === undefined || r.mspId === ownMspId);
  if (own) return new LedgerError('ENDORSEMENT', own.message, options);
  if (refusals.length > 0) {
    return new LedgerError(
      'MISMATCH',
      `another organisation refused what ${ownMspId} endorsed (its peer may not have committed the latest blocks yet)${tx}: ${what}`,
      options,
    );
  }
  if (/failed to find any endorsing peers/.test(what)) {
    return new LedgerError(
      'UNAVAILABLE',
      `Fabric service discovery has not found every organisation's peer yet${tx} (it settles within seconds of a network start): ${what}`,
      options,
    );
  }
  if (error.code === grpc.status.ABORTED && (phase === 'endorse' || phase === 'evaluate')) {
    return new LedgerError(
      'MISMATCH',
      `the endorsements${tx} failed or did not match (a chaincode server unreachable, or the organisations' responses differ): ${what}`,
      options,
    );
  }
  switch (error.code) {
    case grpc.status.UNAVAILABLE:
    case grpc.status.DEADLINE_EXCEEDED:
    case grpc.status.CANCELLED:
      if (phase === 'commit') {
        // Ordered but not yet seen committed: the transaction may still commit.
        return new LedgerError(
          'UNAVAILABLE',
          `commit status${tx} unknown (it may still commit): ${what}`,
          options,
        );
      }
      return new LedgerError('UNAVAILABLE', `Fabric peer unavailable during ${phase}${tx}: ${what}`, options);
    case grpc.status.RESOURCE_EXHAUSTED:
      return new LedgerError(
        'BAD_ARGUMENT',
        `message too large for gRPC during ${phase}${tx} (raise maxMessageBytes in the connection file, ` +
          `or the peer's limit): ${what}`,
        options,
      );
    case grpc.status.INVALID_ARGUMENT:
      return new LedgerError('BAD_ARGUMENT', `Fabric refused the ${phase} request${tx}: ${what}`, options);
    case grpc.status.NOT_FOUND:
      return new LedgerError('NOT_FOUND', `Fabric ${phase}${tx}: ${what}`, options);
  }
  switch (phase) {
    case 'endorse':
    case 'evaluate':
      // Peer-side refusals without a chaincode message (access denied, chaincode not installed):
      // the network's configuration, not the contract, so the transaction is kept and retried.
      return new LedgerError(
        'UNAVAILABLE',
        `Fabric refused to ${phase}${tx} (not the contract): ${what}`,
        options,
      );
    case 'query':
      return new LedgerError('ENDORSEMENT', `Fabric refused to ${phase}${tx}: ${what}`, options);
    case 'submit':
      return new LedgerError('BAD_ARGUMENT', `the orderer refused transaction${tx}: ${what}`, options);
    case 'commit':
      return new LedgerError(
        'UNAVAILABLE',
        `commit status${tx} unknown (it may still commit): ${what}`,
        options,
      );
    case 'events':
      return new LedgerError('UNAVAILABLE', `Fabric event stream failed: ${what}`, options);
  }
}

/** In a `u` regex a paired surrogate is one code point, so this matches only lone halves. */
const LONE_SURROGATE = /\p{Cs}/u;

function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new LedgerError('BAD_ARGUMENT', 'a transaction name must be a non-empty string');
  }
  return name;
}

/** Builds gateway proposal options, refusing what Fabric would deliver altered (non-UTF-8 strings). */
function proposalOptions(
  name: string,
  proposal: Proposal,
  endorsingOrganizations?: string[],
): ProposalOptions {
  const args = proposal.args ?? [];
  args.forEach((arg, i) => {
    if (typeof arg !== 'string') {
      throw new LedgerError('BAD_ARGUMENT', `${name}: argument ${i} must be a string, not ${typeof arg}`);
    }
    if (LONE_SURROGATE.test(arg)) {
      throw new LedgerError('BAD_ARGUMENT', `${name}: argument ${i} is not valid UTF-16 (lone surrogate)`);
    }
  });
  const transientData: Record<string, Uint8Array> = {};
  for (const [key, value] of Object.entries(proposal.transient ?? {})) {
    if (!(value instanceof Uint8Array)) {
      throw new LedgerError('BAD_ARGUMENT', `${name}: transient "${key}" must be a Uint8Array`);
    }
    transientData[key] = value;
  }
  const options: ProposalOptions = { arguments: [...args], transientData };
  if (endorsingOrganizations !== undefined) options.endorsingOrganizations = [...endorsingOrganizations];
  return options;
}

function deadline(ms: number): () => grpc.CallOptions {
  return () => ({ deadline: Date.now() + ms });
}

export class FabricLedger implements Ledger {
  readonly #client: grpc.Client;
  readonly #gateway: Gateway;
  readonly #network: Network;
  readonly #contract: Contract;
  readonly #qscc: Contract;
  readonly #config: FabricConnectionConfig;
  /** Open event streams, closed with the ledger. */
  readonly #streams = new Set<CloseableAsyncIterable<GatewayEvent>>();
  #closed = false;

  private constructor(config: FabricConnectionConfig) {
    this.#config = config;
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_send_message_length': config.maxMessageBytes,
      'grpc.max_receive_message_length': config.maxMessageBytes,
    };
    if (config.hostnameOverride !== undefined) {
      channelOptions['grpc.ssl_target_name_override'] = config.hostnameOverride;
    }
    this.#client = new grpc.Client(
      config.peerEndpoint,
      grpc.credentials.createSsl(Buffer.from(config.tlsCaCert)),
      channelOptions,
    );
    const t = config.timeouts;
    this.#gateway = connect({
      client: this.#client,
      identity: { mspId: config.mspId, credentials: config.certificate },
      signer: signers.newPrivateKeySigner(config.privateKey),
      hash: hash.sha256,
      evaluateOptions: deadline(t.evaluateMs),
      endorseOptions: deadline(t.endorseMs),
      submitOptions: deadline(t.submitMs),
      commitStatusOptions: deadline(t.commitStatusMs),
    });
    this.#network = this.#gateway.getNetwork(config.channel);
    this.#contract = this.#network.getContract(config.chaincode);
    this.#qscc = this.#network.getContract(QSCC);
  }

  /**
   * Opens a ledger from a connection file path or an already loaded configuration. The gRPC
   * connection is made lazily: an unreachable peer shows up as UNAVAILABLE on the first call.
   */
  static async connect(source: string | FabricConnectionConfig): Promise<FabricLedger> {
    const config = typeof source === 'string' ? await loadConnectionFile(source) : source;
    return new FabricLedger(config);
  }

  /** The channel and chaincode this ledger talks to, and the connection file it came from. */
  get target(): { channel: string; chaincode: string; source: string } {
    return { channel: this.#config.channel, chaincode: this.#config.chaincode, source: this.#config.source };
  }

  #assertOpen(): void {
    if (this.#closed) throw new LedgerError('UNAVAILABLE', 'the Fabric ledger is closed');
  }

  async submit(name: string, proposal: Proposal = {}): Promise<Committed> {
    return (await this.prepare(name, proposal)).submit();
  }

  async prepare(name: string, proposal: Proposal = {}): Promise<Prepared> {
    this.#assertOpen();
    const options = proposalOptions(checkName(name), proposal, this.#config.endorsingOrganizations);
    const prepared = this.#contract.newProposal(name, options);
    const txId = prepared.getTransactionId();
    return { txId, submit: () => this.#send(name, prepared, txId) };
  }

  async #send(name: string, prepared: ReturnType<Contract['newProposal']>, txId: string): Promise<Committed> {
    this.#assertOpen();
    const step = async <T>(phase: FabricPhase, run: () => Promise<T>): Promise<T> => {
      try {
        return await run();
      } catch (error) {
        throw toLedgerError(error, phase, txId, this.#config.mspId);
      }
    };
    const transaction = await step('endorse', () => prepared.endorse());
    const submitted = await step('submit', () => transaction.submit());
    const status = await step('commit', () => submitted.getStatus());
    if (!status.successful) {
      const code = Number(status.code);
      throw new LedgerError(
        'INVALID',
        `transaction ${txId} (${name}) was invalidated at commit in block ${status.blockNumber}: ` +
          `${CODE_NAMES.get(code) ?? 'code'} (${code})`,
        { validationCode: code, txId },
      );
    }
    return { txId, blockNumber: Number(status.blockNumber), payload: submitted.getResult() };
  }

  async evaluate(name: string, proposal: Proposal = {}): Promise<Uint8Array> {
    this.#assertOpen();
    const options = proposalOptions(checkName(name), proposal);
    try {
      return await this.#contract.evaluate(name, options);
    } catch (error) {
      throw toLedgerError(error, 'evaluate', undefined, this.#config.mspId);
    }
  }

  async *events(options: EventOptions = {}): AsyncGenerator<ChaincodeEvent> {
    this.#assertOpen();
    const { startBlock, signal } = options;
    if (startBlock !== undefined && !(Number.isSafeInteger(startBlock) && startBlock >= 0)) {
      throw new LedgerError('BAD_ARGUMENT', `startBlock must be a non-negative integer, not ${startBlock}`);
    }
    if (signal?.aborted) return;
    let stream: CloseableAsyncIterable<GatewayEvent>;
    try {
      stream = await this.#network.getChaincodeEvents(
        this.#config.chaincode,
        startBlock === undefined ? {} : { startBlock: BigInt(startBlock) },
      );
    } catch (error) {
      throw toLedgerError(error, 'events');
    }
    // Aborted or closed while the request was being signed: the listeners below would never fire.
    if (signal?.aborted || this.#closed) {
      stream.close();
      return;
    }
    this.#streams.add(stream);
    // Closing the stream cancels the gRPC call: the pending next() rejects and the loop ends.
    const stop = (): void => stream.close();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      for await (const event of stream) {
        yield {
          txId: event.transactionId,
          blockNumber: Number(event.blockNumber),
          name: event.eventName,
          payload: event.payload,
        };
      }
    } catch (error) {
      if (signal?.aborted || this.#closed) return;
      throw toLedgerError(error, 'events');
    } finally {
      signal?.removeEventListener('abort', stop);
      this.#streams.delete(stream);
      stream.close();
    }
  }

  /** Evaluates a qscc function on this channel; "no such block" and "not found" become NOT_FOUND. */
  async #query(fn: string, ...args: string[]): Promise<Uint8Array> {
    this.#assertOpen();
    try {
      return await this.#qscc.evaluateTransaction(fn, this.#config.channel, ...args);
    } catch (error) {
      const mapped = toLedgerError(error, 'query');
      if (mapped.code === 'ENDORSEMENT' && /no such block|not found/i.test(mapped.message)) {
        throw new LedgerError('NOT_FOUND', mapped.message, { cause: error });
      }
      throw mapped;
    }
  }

  #decode<T>(what: string, decode: () => T): T {
    try {
      return decode();
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new LedgerError('CORRUPT', `the peer returned an undecodable ${what}: ${detail}`, {
        cause: error,
      });
    }
  }

  async getBlock(number: number): Promise<BlockInfo> {
    if (!(Number.isSafeInteger(number) && number >= 0)) {
      throw new LedgerError('BAD_ARGUMENT', `a block number must be a non-negative integer, not ${number}`);
    }
    const bytes = await this.#query(GET_BLOCK_BY_NUMBER, String(number));
    return this.#decode(`block ${number}`, () => decodeBlock(bytes));
  }

  /** A block with the data hash recomputed from its envelopes, for verification. */
  async checkedBlock(number: number): Promise<{ block: BlockInfo; computedDataHash: string }> {
    const bytes = await this.#query(GET_BLOCK_BY_NUMBER, String(number));
    return this.#decode(`block ${number}`, () => ({
      block: decodeBlock(bytes),
      computedDataHash: computeDataHash(bytes),
    }));
  }

  /** qscc's GetTransactionByID has no block number, so the transaction is read from its block. */
  async getTransaction(txId: string): Promise<TransactionInfo> {
    if (typeof txId !== 'string' || txId.length === 0) {
      throw new LedgerError('BAD_ARGUMENT', 'a transaction id must be a non-empty string');
    }
    const bytes = await this.#query(GET_BLOCK_BY_TX_ID, txId);
    const block = this.#decode(`block of transaction ${txId}`, () => decodeBlock(bytes));
    const found = block.transactions.find((tx) => tx.txId === txId);
    if (found === undefined) {
      throw new LedgerError('NOT_FOUND', `transaction ${txId} is not in block ${block.number}`, { txId });
    }
    return found;
  }

  async height(): Promise<number> {
    const bytes = await this.#query(GET_CHAIN_INFO);
    return this.#decode('chain info', () => decodeChainHeight(bytes));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const stream of this.#streams) stream.close();
    this.#streams.clear();
    this.#gateway.close();
    this.#client.close();
  }
}
