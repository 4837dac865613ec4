export {
  CHECKPOINT_FORMAT_VERSION,
  type CheckpointBytes,
  type CheckpointInfo,
  configDifferences,
  decodeCheckpoint,
  type EncodeOptions,
  encodeCheckpoint,
  inspectCheckpoint,
  type LoadOptions,
  type LoadReport,
  loadCheckpointInto,
} from './checkpoint/index.ts';
export * from './errors.ts';
export {
  availableEngines,
  type ComputeOptions,
  type EngineChoice,
  type EngineName,
  type EngineSupport,
  enableRelaxedSimd,
  engineSupport,
  preloadKernels,
  selectEngine,
} from './kernels/index.ts';
export { AdamW, type AdamWConfig } from './optimizers/adamw.ts';
export type { Precision, SharedOptions } from './optimizers/common-config.ts';
export type { EigenbasisOptions, InitialBasis } from './optimizers/eigenbasis-optimizer.ts';
export type { KLConfig } from './optimizers/kl-optimizer.ts';
export { KLShampoo, type KLShampooConfig } from './optimizers/kl-shampoo.ts';
export { KLSOAP, type KLSOAPConfig } from './optimizers/kl-soap.ts';
export {
  type CommonOptions,
  type NonFinitePolicy,
  Optimizer,
  type Param,
  type StateBytes,
  type StateDict,
  type StateDictTensor,
  type StateKind,
} from './optimizers/optimizer.ts';
export { Shampoo } from './optimizers/shampoo.ts';
export type {
  AmortizedComputationConfig,
  ClassicMomentumConfig,
  DistributedShampooConfig,
  GraftingConfig,
  InverseExponentOverride,
  LowbitShampooConfig,
  ShampooConfig,
  ShampooPreconditionerConfig,
} from './optimizers/shampoo-config.ts';
export { SOAP, type SOAPConfig } from './optimizers/soap.ts';
export type { StorageOptions } from './optimizers/storage-config.ts';
export type { MomentPrecision, SubspaceSelection } from './storage/precision.ts';
