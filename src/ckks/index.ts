/**
 * PMHE's CKKS layer: the only code that imports node-seal. Everything else (protocol, models,
 * contract, client, benchmarks) stands on this surface.
 */
export { CkksContext } from './context.ts';
export { Decryptor, type EncryptOptions, Encryptor } from './encryption.ts';
export { CkksError, type CkksErrorCode } from './errors.ts';
export { Evaluator, type Operand, type PolyvalOptions, polynomialDepth } from './evaluator.ts';
export { describe as describeFile, HEADER_BYTES, type Kind, maxPayloadBytes } from './format.ts';
export { GaloisKeys, galoisElement, loadKey, PublicKey, RelinKeys, SecretKey } from './keys.ts';
export { getPreset, MAX_BITS_128, PRESET_IDS, PRESETS, type Preset, type PresetId } from './presets.ts';
export { wasmHeapBytes } from './seal.ts';
export { CipherVector, type LoadCiphertextOptions, loadCiphertext, type ValueBound } from './vector.ts';
