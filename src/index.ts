export * from './errors.ts';
export { AdamW, type AdamWConfig } from './optimizers/adamw.ts';
export type { Precision, SharedOptions } from './optimizers/common-config.ts';
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
