/** The chaincode entry point: fabric-chaincode-node and the embedded peer load `contracts`. */
import { FheContract } from './fhe-contract.ts';

export { ContractError, type ContractErrorCode, contractErrorCode } from './errors.ts';
export { FheContract } from './fhe-contract.ts';
export type { OperationRecord, ResultOutput, ResultRecord, SubmissionRecord, UserRecord } from './state.ts';

export const contracts = [FheContract];
