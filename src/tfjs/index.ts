/**
 * shampoo-ts for TensorFlow.js: every method as a registered `tf.Optimizer`. A separate entry point
 * (`shampoo-ts/tfjs`) so the core never loads tfjs; `@tensorflow/tfjs-core` is a peer dependency.
 */
export { decodeTfjsConfig, encodeTfjsConfig } from './config-codec.ts';
export {
  adamw,
  klShampoo,
  klSoap,
  ShampooTsAdamW,
  ShampooTsKLShampoo,
  ShampooTsKLSOAP,
  type ShampooTsOptimizerClass,
  ShampooTsShampoo,
  ShampooTsSOAP,
  shampoo,
  soap,
  TFJS_OPTIMIZER_CLASSES,
} from './methods.ts';
export { CHECKPOINT_WEIGHT_NAME, type NamedTensor, ShampooTsOptimizer } from './shampoo-ts-optimizer.ts';
export { packBytes, unpackBytes } from './weight-codec.ts';
