/**
 * Decoding what Fabric's query system chaincode (qscc) returns into the Ledger interface's
 * BlockInfo and TransactionInfo: blocks (GetBlockByNumber, GetBlockByTxID) and chain information
 * (GetChainInfo), all protobuf bytes.
 */
import { createHash } from 'node:crypto';
import { common, peer } from '@hyperledger/fabric-protos';
import type { BlockInfo, TransactionInfo } from '../ledger.ts';

/** qscc's transaction function names. */
export const QSCC = 'qscc';
export const GET_BLOCK_BY_NUMBER = 'GetBlockByNumber';
export const GET_BLOCK_BY_TX_ID = 'GetBlockByTxID';
export const GET_CHAIN_INFO = 'GetChainInfo';

/** google.protobuf.Timestamp as fabric-protos returns it (its typings leave it untyped). */
interface Timestamp {
  getSeconds(): number;
  getNanos(): number;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** DER length octets: short form below 128, else 0x80|n followed by n big-endian bytes. */
function derLength(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return [0x80 | bytes.length, ...bytes];
}

function derInteger(value: bigint): number[] {
  // Minimal big-endian two's complement of a non-negative value: a leading 0x00 when the top bit is set.
  const bytes: number[] = [];
  for (let n = value; n > 0n; n >>= 8n) bytes.unshift(Number(n & 0xffn));
  if (bytes.length === 0 || (bytes[0] as number) & 0x80) bytes.unshift(0);
  return [0x02, ...derLength(bytes.length), ...bytes];
}

function derOctetString(bytes: Uint8Array): number[] {
  return [0x04, ...derLength(bytes.length), ...bytes];
}

/**
 * Fabric's block hash (protoutil.BlockHeaderHash): SHA-256 of the ASN.1 DER encoding of
 * SEQUENCE { INTEGER number, OCTET STRING previousHash, OCTET STRING dataHash }.
 */
export function blockHeaderBytes(number: bigint, previousHash: Uint8Array, dataHash: Uint8Array): Uint8Array {
  const body = [...derInteger(number), ...derOctetString(previousHash), ...derOctetString(dataHash)];
  return Uint8Array.from([0x30, ...derLength(body.length), ...body]);
}

export function blockHeaderHash(number: bigint, previousHash: Uint8Array, dataHash: Uint8Array): string {
  return createHash('sha256')
    .update(blockHeaderBytes(number, previousHash, dataHash))
    .digest('hex');
}

/** An endorser transaction's function name (its first chaincode argument) and returned payload. */
function chaincodeCall(payload: common.Payload): { function: string; payload: Uint8Array } {
  const transaction = peer.Transaction.deserializeBinary(payload.getData_asU8());
  const [action] = transaction.getActionsList();
  if (action === undefined) return { function: '', payload: new Uint8Array(0) };
  const actionPayload = peer.ChaincodeActionPayload.deserializeBinary(action.getPayload_asU8());
  const proposalPayload = peer.ChaincodeProposalPayload.deserializeBinary(
    actionPayload.getChaincodeProposalPayload_asU8(),
  );
  const spec = peer.ChaincodeInvocationSpec.deserializeBinary(proposalPayload.getInput_asU8());
  const [name] = spec.getChaincodeSpec()?.getInput()?.getArgsList_asU8() ?? [];
  const responsePayload = actionPayload.getAction()?.getProposalResponsePayload_asU8();
  const extension = responsePayload
    ? peer.ProposalResponsePayload.deserializeBinary(responsePayload).getExtension_asU8()
    : new Uint8Array(0);
  const returned = peer.ChaincodeAction.deserializeBinary(extension).getResponse()?.getPayload_asU8();
  return {
    function: name === undefined ? '' : new TextDecoder().decode(name),
    payload: returned ?? new Uint8Array(0),
  };
}

function decodeTransaction(
  envelopeBytes: Uint8Array,
  blockNumber: number,
  validationCode: number,
): TransactionInfo {
  const envelope = common.Envelope.deserializeBinary(envelopeBytes);
  const payload = common.Payload.deserializeBinary(envelope.getPayload_asU8());
  const header = payload.getHeader();
  if (header === undefined) throw new Error(`a transaction in block ${blockNumber} has no header`);
  const channelHeader = common.ChannelHeader.deserializeBinary(header.getChannelHeader_asU8());
  const time = channelHeader.getTimestamp() as Timestamp | undefined;
  const timestamp = time === undefined ? 0 : time.getSeconds() * 1000 + Math.floor(time.getNanos() / 1e6);
  // Configuration transactions carry no chaincode call: their function is empty.
  const isEndorser = channelHeader.getType() === common.HeaderType.ENDORSER_TRANSACTION;
  return {
    txId: channelHeader.getTxId(),
    blockNumber,
    validationCode,
    ...(isEndorser ? chaincodeCall(payload) : { function: '', payload: new Uint8Array(0) }),
    timestamp,
  };
}

/** Decodes a common.Block into BlockInfo; transaction validation codes come from the block metadata. */
export function decodeBlock(bytes: Uint8Array): BlockInfo {
  const block = common.Block.deserializeBinary(bytes);
  const header = block.getHeader();
  if (header === undefined) throw new Error('the block has no header');
  const number = header.getNumber();
  const previousHash = header.getPreviousHash_asU8();
  const dataHash = header.getDataHash_asU8();
  const filter =
    block.getMetadata()?.getMetadataList_asU8()[common.BlockMetadataIndex.TRANSACTIONS_FILTER] ??
    new Uint8Array(0);
  const envelopes = block.getData()?.getDataList_asU8() ?? [];
  return {
    number,
    hash: blockHeaderHash(BigInt(number), previousHash, dataHash),
    previousHash: hex(previousHash),
    dataHash: hex(dataHash),
    // A block the peer has not validated has no filter: Fabric's NOT_VALIDATED is 254.
    transactions: envelopes.map((envelope, i) => decodeTransaction(envelope, number, filter[i] ?? 254)),
  };
}

/**
 * What a block's header should say its data hash is (protoutil.ComputeBlockDataHash in Fabric
 * 2.5: SHA-256 of its envelopes, concatenated).
 */
export function computeDataHash(bytes: Uint8Array): string {
  const hash = createHash('sha256');
  for (const envelope of common.Block.deserializeBinary(bytes).getData()?.getDataList_asU8() ?? []) {
    hash.update(envelope);
  }
  return hash.digest('hex');
}

/** Height (number of blocks) from qscc GetChainInfo's common.BlockchainInfo. */
export function decodeChainHeight(bytes: Uint8Array): number {
  return common.BlockchainInfo.deserializeBinary(bytes).getHeight();
}
